using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfCorpusStore(IDbContextFactory<NexusDbContext> factory, SqliteHotReads hot, TimeProvider clock) : ICorpusStore
{
    // Compiled once per store (one provider's model each): the hottest read (every corpus GET, search and run resolves
    // its corpus) skips LINQ translation.
    private readonly Func<NexusDbContext, string, string, CancellationToken, Task<CorpusRow?>> _byId =
        EF.CompileAsyncQuery((NexusDbContext db, string tenantId, string corpusId, CancellationToken ct) =>
            db.Corpora.AsNoTracking().FirstOrDefault(c => c.TenantId == tenantId && c.Id == corpusId));

    public async Task<IReadOnlyList<CorpusInfo>> ListAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.Corpora.AsNoTracking().Where(c => c.TenantId == tenantId).OrderBy(c => c.Id).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(r => r.ToInfo()).ToList();
    }

    public async Task<CorpusInfo?> GetAsync(string tenantId, string corpusId, CancellationToken ct)
    {
        if (hot.Enabled) return hot.Corpus(tenantId, corpusId)?.ToInfo();
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await _byId(db, tenantId, corpusId, ct).ConfigureAwait(false);
        return row?.ToInfo();
    }

    public async Task<CorpusInfo?> CreateAsync(string tenantId, string corpusId, string name, string providerConfigJson, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        if (await db.Corpora.AnyAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false)) return null;
        var now = clock.GetUtcNow().UtcDateTime;
        var row = new CorpusRow { TenantId = tenantId, Id = corpusId, Name = name, ProviderConfigJson = providerConfigJson, CreatedAt = now, UpdatedAt = now };
        db.Corpora.Add(row);
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            return null; // created concurrently
        }
        return row.ToInfo();
    }

    public async Task<CorpusInfo?> UpdateAsync(string tenantId, string corpusId, string? name, string? providerConfigJson, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.Corpora.FirstOrDefaultAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false);
        if (row is null) return null;
        if (name is not null) row.Name = name;
        if (providerConfigJson is not null) row.ProviderConfigJson = providerConfigJson;
        row.UpdatedAt = clock.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return row.ToInfo();
    }

    public async Task<CorpusDeleteResult> DeleteAsync(string tenantId, string corpusId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        if (!await db.Corpora.AnyAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false))
            return CorpusDeleteResult.NotFound;
        var inFlight = await db.Documents.AnyAsync(d => d.TenantId == tenantId && d.CorpusId == corpusId
            && (d.Status == DocumentStatus.Queued || d.Status == DocumentStatus.Processing), ct).ConfigureAwait(false);
        if (inFlight) return CorpusDeleteResult.InFlight;
        await db.DeleteChunksLoggedAsync(db.Chunks.Where(c => c.TenantId == tenantId && c.CorpusId == corpusId), clock.GetUtcNow().UtcDateTime, ct).ConfigureAwait(false);
        await db.Jobs.Where(j => j.TenantId == tenantId && j.CorpusId == corpusId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.DocumentPermissions.Where(g => g.TenantId == tenantId && db.Documents.Any(d => d.TenantId == tenantId && d.CorpusId == corpusId && d.Id == g.DocumentId))
            .ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.Documents.Where(d => d.TenantId == tenantId && d.CorpusId == corpusId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.IndexVersions.Where(v => v.TenantId == tenantId && v.CorpusId == corpusId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.IndexVersionEvents.Where(v => v.TenantId == tenantId && v.CorpusId == corpusId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.EvalSets.Where(v => v.TenantId == tenantId && v.CorpusId == corpusId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.Corpora.Where(c => c.TenantId == tenantId && c.Id == corpusId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return CorpusDeleteResult.Deleted;
    }
}
