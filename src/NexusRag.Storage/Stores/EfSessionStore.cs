using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Chat;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfSessionStore(IDbContextFactory<NexusDbContext> factory, Core.Crypto.DataKeyService dataKeys, TimeProvider clock, SqliteHotReads hot,
    SessionWriter writer) : ISessionStore
{
    public async Task<string?> OwnerAsync(string sessionId, CancellationToken ct)
    {
        if (hot.Enabled) return hot.SessionOwner(sessionId);
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Sessions.AsNoTracking().Where(s => s.Id == sessionId).Select(s => s.TenantId).FirstOrDefaultAsync(ct).ConfigureAwait(false);
    }

    public async Task<SessionOpenResult> OpenAsync(string tenantId, string sessionId, string corpusId, CancellationToken ct)
    {
        if (writer.Enabled) return await writer.OpenAsync(tenantId, sessionId, corpusId, clock.GetUtcNow().UtcDateTime).WaitAsync(ct).ConfigureAwait(false);
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        for (var attempt = 0; attempt < 2; attempt++)
        {
            // Session ids are unique across tenants (unique index on id): whoever created one owns it.
            var owner = await db.Sessions.AsNoTracking().Where(s => s.Id == sessionId).Select(s => s.TenantId).FirstOrDefaultAsync(ct).ConfigureAwait(false);
            if (owner is not null)
            {
                if (owner != tenantId) return SessionOpenResult.OtherTenant;
                var now = clock.GetUtcNow().UtcDateTime;
                await db.Sessions.Where(s => s.TenantId == tenantId && s.Id == sessionId)
                    .ExecuteUpdateAsync(s => s.SetProperty(x => x.UpdatedAt, now), ct).ConfigureAwait(false);
                return SessionOpenResult.Existing;
            }
            try
            {
                var now = clock.GetUtcNow().UtcDateTime;
                db.Sessions.Add(new SessionRow { TenantId = tenantId, Id = sessionId, CorpusId = corpusId, CreatedAt = now, UpdatedAt = now });
                await db.SaveChangesAsync(ct).ConfigureAwait(false);
                return SessionOpenResult.Created;
            }
            catch (DbUpdateException)
            {
                db.ChangeTracker.Clear(); // a concurrent first run created it: read again
            }
        }
        throw new InvalidOperationException($"session {sessionId} could not be opened");
    }

    public async Task<bool> ExistsAsync(string tenantId, string sessionId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Sessions.AnyAsync(s => s.TenantId == tenantId && s.Id == sessionId, ct).ConfigureAwait(false);
    }

    public async Task AppendMessageAsync(MessageInfo m, CancellationToken ct)
    {
        var cipher = await dataKeys.ForWriteAsync(m.TenantId, ct).ConfigureAwait(false);
        var row = new MessageRow
        {
            Id = m.Id, TenantId = m.TenantId, SessionId = m.SessionId, Role = m.Role, KeyVersion = cipher.WriteVersion,
            CreatedAt = m.CreatedAt.Kind == DateTimeKind.Utc ? m.CreatedAt : m.CreatedAt.ToUniversalTime(),
            Content = cipher.Seal(Core.Crypto.CryptoFields.Messages, Core.Crypto.CryptoFields.Content, m.Id, m.Content),
            MetadataJson = cipher.SealNullable(Core.Crypto.CryptoFields.Messages, Core.Crypto.CryptoFields.Metadata, m.Id, m.MetadataJson),
        };
        if (writer.Enabled)
        {
            await writer.AppendAsync(row).WaitAsync(ct).ConfigureAwait(false);
            return;
        }
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.Messages.Add(row);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<MessageInfo>> LastMessagesAsync(string tenantId, string sessionId, int limit, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.Messages.AsNoTracking().Where(m => m.TenantId == tenantId && m.SessionId == sessionId)
            .OrderByDescending(m => m.CreatedAt).ThenByDescending(m => m.Id).Take(limit).ToListAsync(ct).ConfigureAwait(false);
        rows.Reverse();
        await dataKeys.OpenAsync(rows, ct).ConfigureAwait(false);
        return rows.Select(r => new MessageInfo(r.Id, r.TenantId, r.SessionId, r.Role, r.Content, r.MetadataJson, r.CreatedAt)).ToList();
    }
}
