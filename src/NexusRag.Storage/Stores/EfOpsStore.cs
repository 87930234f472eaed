using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Jobs;
using NexusRag.Core.Observability;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfOpsStore(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IOpsStore
{
    /// <summary>Heartbeats older than this are removed when another worker beats (a replaced worker's row does not linger).</summary>
    private static readonly TimeSpan Forget = TimeSpan.FromDays(1);

    /// <summary>At most this many succeeded jobs are read to compute the duration percentiles of a window.</summary>
    private const int DurationSample = 20_000;

    public async Task BeatAsync(WorkerHeartbeat beat, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var updated = await db.WorkerHeartbeats.Where(h => h.WorkerId == beat.WorkerId)
            .ExecuteUpdateAsync(s => s.SetProperty(h => h.LastSeenAt, beat.LastSeenAt).SetProperty(h => h.Loops, beat.Loops), ct).ConfigureAwait(false);
        if (updated == 0)
        {
            db.WorkerHeartbeats.Add(new WorkerHeartbeatRow
            {
                WorkerId = beat.WorkerId, Role = beat.Role, Host = beat.Host, ProcessId = beat.ProcessId, Loops = beat.Loops,
                StartedAt = beat.StartedAt, LastSeenAt = beat.LastSeenAt,
            });
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            var cutoff = clock.GetUtcNow().UtcDateTime - Forget;
            await db.WorkerHeartbeats.Where(h => h.LastSeenAt < cutoff).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        }
    }

    public async Task<IReadOnlyList<WorkerHeartbeat>> HeartbeatsAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.WorkerHeartbeats.AsNoTracking().OrderByDescending(h => h.LastSeenAt).Take(100)
            .Select(h => new WorkerHeartbeat(h.WorkerId, h.Role, h.Host, h.ProcessId, h.Loops, h.StartedAt, h.LastSeenAt))
            .ToListAsync(ct).ConfigureAwait(false);
    }

    public async Task<long> QueueDepthAsync(string? tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.Jobs.AsNoTracking().Where(j => j.Status == JobStatus.Queued);
        if (tenantId is not null) q = q.Where(j => j.TenantId == tenantId);
        return await q.LongCountAsync(ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyDictionary<string, long>> JobsByStatusAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Jobs.AsNoTracking().GroupBy(j => j.Status).Select(g => new { g.Key, Count = g.LongCount() })
            .ToDictionaryAsync(x => x.Key, x => x.Count, ct).ConfigureAwait(false);
    }

    public async Task<IngestionStats> IngestionStatsAsync(string? tenantId, DateTime since, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.Jobs.AsNoTracking().Where(j => (j.Kind == JobKind.Ingest || j.Kind == JobKind.Reindex) && j.CreatedAt >= since);
        if (tenantId is not null) q = q.Where(j => j.TenantId == tenantId);
        var byState = await q.GroupBy(j => j.Status).Select(g => new { g.Key, Count = g.LongCount() })
            .ToDictionaryAsync(x => x.Key, x => x.Count, ct).ConfigureAwait(false);
        foreach (var s in new[] { JobStatus.Queued, JobStatus.Processing, JobStatus.Succeeded, JobStatus.Failed }) byState.TryAdd(s, 0);

        var errors = await q.Where(j => j.Status == JobStatus.Failed).OrderByDescending(j => j.CreatedAt).Select(j => j.LastError).Take(DurationSample).ToListAsync(ct).ConfigureAwait(false);
        var failures = errors.GroupBy(Reason).Select(g => new FailureCount(g.Key, g.LongCount()))
            .OrderByDescending(f => f.Count).ThenBy(f => f.Reason, StringComparer.Ordinal).Take(20).ToList();

        var spans = await q.Where(j => j.Status == JobStatus.Succeeded && j.CompletedAt != null)
            .OrderByDescending(j => j.CreatedAt).Take(DurationSample)
            .Select(j => new { j.CreatedAt, j.CompletedAt }).ToListAsync(ct).ConfigureAwait(false);
        var ms = spans.Select(s => Math.Max(0, (s.CompletedAt!.Value - s.CreatedAt).TotalMilliseconds)).Order().ToList();
        return new IngestionStats(byState.Values.Sum(), byState, failures, Percentile(ms, 0.50), Percentile(ms, 0.95));
    }

    /// <summary>The stable part of a failure: its error code (<c>EXTRACTION_TIMEOUT: …</c>) or its first words, never document text.</summary>
    private static string Reason(string? error)
    {
        if (string.IsNullOrWhiteSpace(error)) return "unknown";
        var colon = error.IndexOf(':', StringComparison.Ordinal);
        var head = colon is > 0 and <= 64 ? error[..colon] : error;
        return head.Length <= 64 ? head.Trim() : head[..64].Trim() + "…";
    }

    private static double? Percentile(List<double> sorted, double q) =>
        sorted.Count == 0 ? null : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Count) - 1, 0, sorted.Count - 1)], 1);
}
