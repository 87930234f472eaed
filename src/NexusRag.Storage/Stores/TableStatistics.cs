using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;

namespace NexusRag.Storage.Stores;

/// <summary>
/// Keeps the PostgreSQL planner's statistics for the ingestion tables current during a bulk load. A fresh database has
/// never analysed <c>chunks</c>, so the planner believes it is nearly empty and answers "this batch's documents' chunks"
/// with a scan of the whole corpus — each batch slower than the last — until autovacuum's next round (a minute or more
/// away, and behind other databases). PostgreSQL's own advice for bulk loads is to run <c>ANALYZE</c> afterwards; this runs
/// it after commits once the rows written since the statistics were taken reach what they describe (at least
/// <see cref="MinRows"/>): the table doubled, so a load of N rows analyses log2(N / MinRows) times. Between two, the planner
/// scales the row counts with the table's pages itself. ANALYZE samples a bounded number of rows, whatever the table's
/// size, and on <c>chunks</c> only the columns its reads filter on (not the text or the vectors). SQLite needs nothing
/// here: without statistics its planner already prefers the index with the most equality terms, the right one for these reads.
/// </summary>
public sealed class TableStatistics(IDbContextFactory<NexusDbContext> factory, ILogger<TableStatistics> logger)
{
    /// <summary>Rows written before a first ANALYZE of a never-analysed table.</summary>
    public const int MinRows = 1000;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _written;
    private double _described = -1; // rows the current statistics describe; -1 until read

    /// <summary>Notes <paramref name="rows"/> chunk rows committed; analyses when enough have been written since the last time.</summary>
    public async Task AfterChunksWrittenAsync(NexusDbContext committed, int rows, CancellationToken ct)
    {
        if (rows <= 0 || !committed.Database.IsNpgsql()) return;
        var written = Interlocked.Add(ref _written, rows);
        var described = Volatile.Read(ref _described);
        if (described >= 0 && written < Threshold(described)) return;
        if (!await _gate.WaitAsync(0, ct).ConfigureAwait(false)) return; // another commit is analysing now
        try
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            if (_described < 0)
            {
                _described = Math.Max(0, await ReltuplesAsync(db, ct).ConfigureAwait(false)); // -1: never analysed
                if (Interlocked.Read(ref _written) < Threshold(_described)) return;
            }
            Interlocked.Exchange(ref _written, 0);
            await db.Database.ExecuteSqlRawAsync("ANALYZE chunks (tenant_id, corpus_id, document_id, index_version, seq, key_version), documents, jobs", ct).ConfigureAwait(false);
            Volatile.Write(ref _described, Math.Max(0, await ReltuplesAsync(db, ct).ConfigureAwait(false)));
            logger.LogDebug("Analysed chunks, documents and jobs after a bulk write: chunks now ~{Rows} rows", _described);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The write this follows has committed; stale statistics only cost speed, and autovacuum will catch up.
            logger.LogWarning(ex, "ANALYZE after a bulk chunk write failed; the planner keeps its older statistics");
        }
        finally
        {
            _gate.Release();
        }
    }

    private static double Threshold(double described) => Math.Max(MinRows, described);

    private static async Task<double> ReltuplesAsync(NexusDbContext db, CancellationToken ct) =>
        await db.Database.SqlQueryRaw<float>("SELECT reltuples AS \"Value\" FROM pg_class WHERE oid = to_regclass('chunks')")
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
}
