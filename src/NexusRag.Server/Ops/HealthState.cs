using NexusRag.Core.Documents;
using NexusRag.Core.Ports;
using NexusRag.Server.Hosting;

namespace NexusRag.Server.Ops;

/// <summary>What the public health endpoints report: database, Redis, and this replica's index lag.</summary>
public sealed record HealthFacts(bool DatabaseOk, string Redis, long? IndexLag, DateTimeOffset CheckedAt);

/// <summary>
/// The dependency checks behind <c>/v1/health</c> and <c>/health</c>, computed at most once per
/// <see cref="MaxAge"/> on this replica and shared by every caller (single flight): a probe storm costs one database
/// round trip per second, so health never costs more than a trivial endpoint.
/// </summary>
public sealed class HealthState(IDatabaseHealth db, ISharedStateHealth redis, IChunkChangeFeed feed, Core.Search.ISearchIndex index, RoleInfo role, TimeProvider clock)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);
    private Task<HealthFacts>? _current;

    public Task<HealthFacts> GetAsync()
    {
        while (true)
        {
            var current = Volatile.Read(ref _current);
            if (current is not null && (!current.IsCompleted || (current.IsCompletedSuccessfully && clock.GetUtcNow() - current.Result.CheckedAt < MaxAge)))
                return current;
            var mine = new TaskCompletionSource<HealthFacts>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (Interlocked.CompareExchange(ref _current, mine.Task, current) != current) continue; // another caller started the refresh
            _ = FillAsync(mine);
            return mine.Task;
        }
    }

    private async Task FillAsync(TaskCompletionSource<HealthFacts> target)
    {
        try { target.SetResult(await ComputeAsync().ConfigureAwait(false)); }
        catch (Exception ex) { target.SetException(ex); }
    }

    /// <summary>Not tied to any one request: a caller that leaves does not cancel the check the others wait for.</summary>
    private async Task<HealthFacts> ComputeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        bool dbOk;
        try { dbOk = await db.IsHealthyAsync(timeout.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { dbOk = false; } // no answer within 5 s is down
        string redisState;
        try { redisState = await redis.CheckAsync(timeout.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { redisState = "down"; } // the 5 s ran out (a loaded machine, a slow connect): no answer is down
        long? lag = null;
        if (role.Role.ServesApi() && dbOk)
        {
            try { lag = await IndexHealthCheck.LagAsync(feed, index, timeout.Token).ConfigureAwait(false); }
            catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex) || ex is OperationCanceledException) { dbOk = false; }
        }
        return new HealthFacts(dbOk, redisState, lag, clock.GetUtcNow());
    }
}
