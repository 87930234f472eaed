using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace NexusRag.Storage.Stores;

internal static class DbExtensions
{
    /// <summary>Reserves <paramref name="count"/> consecutive values of a named counter; returns the first. Must run inside the caller's transaction.</summary>
    public static async Task<long> ReserveSeqAsync(this NexusDbContext db, string name, int count, CancellationToken ct)
    {
        var conn = db.Database.GetDbConnection();
        await using var cmd = conn.CreateCommand();
        cmd.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
        cmd.CommandText = "UPDATE seq_counters SET value = value + @n WHERE name = @name RETURNING value";
        AddParam(cmd, "@n", (long)count);
        AddParam(cmd, "@name", name);
        var last = Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return last - count + 1;
    }

    /// <summary>
    /// Deletes the chunks selected by <paramref name="query"/> and records each deletion in the change log
    /// (<c>chunk_deletions</c>) with a fresh seq, so followers of the log can drop them. Call inside a transaction.
    /// </summary>
    public static async Task<int> DeleteChunksLoggedAsync(this NexusDbContext db, IQueryable<Entities.ChunkRow> query, DateTime now, CancellationToken ct)
    {
        var doomed = await query.OrderBy(c => c.Seq)
            .Select(c => new { c.Id, c.TenantId, c.CorpusId, c.DocumentId, c.IndexVersion }).ToListAsync(ct).ConfigureAwait(false);
        if (doomed.Count == 0) return 0;
        var seq = await db.ReserveSeqAsync(StoreConstants.ChunkSeq, doomed.Count, ct).ConfigureAwait(false);
        foreach (var c in doomed)
        {
            db.ChunkDeletions.Add(new Entities.ChunkDeletionRow
            {
                Seq = seq++, ChunkId = c.Id, TenantId = c.TenantId, CorpusId = c.CorpusId, DocumentId = c.DocumentId, IndexVersion = c.IndexVersion, DeletedAt = now,
            });
        }
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        await db.NotifyChunksChangedAsync(ct).ConfigureAwait(false);
        return await query.ExecuteDeleteAsync(ct).ConfigureAwait(false);
    }

    /// <summary>PostgreSQL: NOTIFY the change-log channel; delivered when the caller's transaction commits. No-op on SQLite.</summary>
    public static async Task NotifyChunksChangedAsync(this NexusDbContext db, CancellationToken ct)
    {
        if (!db.Database.IsNpgsql()) return;
        await db.Database.ExecuteSqlRawAsync($"NOTIFY {PgChangeNotifier.Channel}", ct).ConfigureAwait(false);
    }

    private static void AddParam(DbCommand cmd, string name, object value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        cmd.Parameters.Add(p);
    }
}
