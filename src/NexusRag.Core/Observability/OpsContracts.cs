namespace NexusRag.Core.Observability;

/// <summary>A job worker's liveness row, refreshed by every worker process while its job loops run.</summary>
public sealed record WorkerHeartbeat(string WorkerId, string Role, string Host, int ProcessId, int Loops, DateTime StartedAt, DateTime LastSeenAt);

/// <summary>Ingestion outcomes in a window: jobs by state, failures by reason, and queue-to-finish durations of the succeeded ones.</summary>
public sealed record IngestionStats(long Total, IReadOnlyDictionary<string, long> ByState, IReadOnlyList<FailureCount> Failures, double? P50Ms, double? P95Ms);

public sealed record FailureCount(string Reason, long Count);

/// <summary>What the ops endpoints and the queue gauges read from the store.</summary>
public interface IOpsStore
{
    Task BeatAsync(WorkerHeartbeat beat, CancellationToken ct);
    Task<IReadOnlyList<WorkerHeartbeat>> HeartbeatsAsync(CancellationToken ct);
    /// <summary>Jobs waiting to run (queued), of one tenant or of all (<paramref name="tenantId"/> null).</summary>
    Task<long> QueueDepthAsync(string? tenantId, CancellationToken ct);
    /// <summary>All jobs by status (for the job-state gauges).</summary>
    Task<IReadOnlyDictionary<string, long>> JobsByStatusAsync(CancellationToken ct);
    /// <summary>Ingestion and reindex jobs created since <paramref name="since"/>, of one tenant or of all.</summary>
    Task<IngestionStats> IngestionStatsAsync(string? tenantId, DateTime since, CancellationToken ct);
}
