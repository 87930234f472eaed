using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Documents;

namespace NexusRag.Storage.Stores;

public sealed class EfChunkChangeFeed(IDbContextFactory<NexusDbContext> factory, SqliteHotReads hot, Core.Crypto.DataKeyService dataKeys) : IChunkChangeFeed
{
    public async Task<IReadOnlyList<ChunkChange>> ReadAsync(long afterSeq, int limit, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        // The first `limit` entries overall are among the first `limit` of each source: merge and cut.
        var upserts = await db.Chunks.AsNoTracking().Where(c => c.Seq > afterSeq).OrderBy(c => c.Seq).Take(limit)
            .ToListAsync(ct).ConfigureAwait(false);
        await dataKeys.OpenAsync(upserts, ct).ConfigureAwait(false);
        var deletions = await db.ChunkDeletions.AsNoTracking().Where(d => d.Seq > afterSeq).OrderBy(d => d.Seq).Take(limit)
            .ToListAsync(ct).ConfigureAwait(false);
        return upserts.Select(c => new ChunkChange(c.Seq, ChunkChangeKind.Upsert, c.Id, c.TenantId, c.CorpusId, c.DocumentId, c.ToInfo(), Mapping.FromBlob(c.Embedding), c.IndexVersion))
            .Concat(deletions.Select(d => new ChunkChange(d.Seq, ChunkChangeKind.Delete, d.ChunkId, d.TenantId, d.CorpusId, d.DocumentId, null, null, d.IndexVersion)))
            .OrderBy(c => c.Seq).Take(limit).ToList();
    }

    public async Task<long> MaxSeqAsync(CancellationToken ct)
    {
        if (hot.Enabled) return hot.SeqValue(StoreConstants.ChunkSeq);
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.SeqCounters.AsNoTracking().Where(s => s.Name == StoreConstants.ChunkSeq).Select(s => s.Value)
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
    }
}
