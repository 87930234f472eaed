using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using NexusRag.Core.Observability;
using NexusRag.Core.Documents;
using NexusRag.Core.Ports;
using NexusRag.Server.Hosting;

namespace NexusRag.Server.Ops;

/// <summary>The store answers.</summary>
public sealed class DatabaseHealthCheck(IDatabaseHealth db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        await db.IsHealthyAsync(ct).ConfigureAwait(false) ? HealthCheckResult.Healthy() : HealthCheckResult.Unhealthy("the database is unreachable");
}

/// <summary>Redis answers a ping (healthy when not configured: a single node needs none).</summary>
public sealed class RedisHealthCheck(ISharedStateHealth redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var state = await redis.CheckAsync(ct).ConfigureAwait(false);
        var data = new Dictionary<string, object> { ["state"] = state };
        return state == "down" ? HealthCheckResult.Degraded("Redis is unreachable", data: data) : HealthCheckResult.Healthy(state, data);
    }
}

/// <summary>The freshest worker heartbeat is younger than <c>WORKER_HEARTBEAT_STALE_S</c>.</summary>
public sealed class WorkerHeartbeatHealthCheck(IOpsStore ops, IOptions<ReliabilityOptions> options, TimeProvider clock) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var beats = await ops.HeartbeatsAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var stale = options.Value.WorkerHeartbeatStaleSeconds;
        if (beats.Count == 0) return HealthCheckResult.Degraded("no worker has ever sent a heartbeat", data: new Dictionary<string, object> { ["workers_alive"] = 0 });
        var age = Math.Max(0, (now - beats.Max(b => b.LastSeenAt)).TotalSeconds);
        var alive = beats.Count(b => (now - b.LastSeenAt).TotalSeconds <= stale);
        var data = new Dictionary<string, object> { ["age_s"] = Math.Round(age, 1), ["workers_alive"] = alive };
        return age > stale
            ? HealthCheckResult.Degraded($"the last worker heartbeat is {age:F0} s old (stale after {stale} s)", data: data)
            : HealthCheckResult.Healthy(data: data);
    }
}

/// <summary>No integration's circuit breaker is open.</summary>
public sealed class CircuitBreakerHealthCheck(CircuitBreakerBoard board) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        var states = board.States();
        var open = states.Where(kv => kv.Value != BreakerStates.Closed).Select(kv => kv.Key).ToList();
        var data = states.ToDictionary(kv => kv.Key, kv => (object)kv.Value);
        return Task.FromResult(open.Count == 0 ? HealthCheckResult.Healthy(data: data)
            : HealthCheckResult.Degraded($"circuit open: {string.Join(", ", open)}", data: data));
    }
}

/// <summary>This replica's search index has applied the change log (API roles).</summary>
public sealed class IndexHealthCheck(IChunkChangeFeed feed, Core.Search.ISearchIndex index, RoleInfo role) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        if (!role.Role.ServesApi()) return HealthCheckResult.Healthy("not served by this role");
        var lag = await LagAsync(feed, index, ct).ConfigureAwait(false);
        var data = new Dictionary<string, object> { ["lag"] = lag };
        return HealthCheckResult.Healthy(lag == 0 ? "ok" : "catching_up", data);
    }

    /// <summary>Change-log entries committed but not yet applied to this replica's index.</summary>
    public static async Task<long> LagAsync(IChunkChangeFeed feed, Core.Search.ISearchIndex index, CancellationToken ct) =>
        Math.Max(0, await feed.MaxSeqAsync(ct).ConfigureAwait(false) - index.AppliedSeq);
}
