using Microsoft.Extensions.Options;
using NexusRag.Core.Governance;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Jobs;
using NexusRag.Core.Observability;
using NexusRag.Core.Ports;

namespace NexusRag.Server.Workers;

/// <summary>
/// Hosted job runner: <see cref="IngestionOptions.WorkerConcurrency"/> loops, each claiming one job at a time (of the
/// kinds whose kill switch is off — held jobs stay queued) with a lease — and, when that job's handler runs batches,
/// up to its batch size of that handler's kinds with it — running it through <see cref="JobExecutor"/>
/// (one handler per kind), and sleeping on the enqueue signal (or the poll interval) when the queue is empty. A database
/// outage is waited out with a growing pause and one line per attempt.
/// </summary>
public sealed class JobWorker(IJobQueue queue, JobExecutor executor, IJobSignal signal, RolloutGate rollouts,
    IOptions<IngestionOptions> options, IOpsStore ops, IOptions<Hosting.ReliabilityOptions> reliability, Hosting.RoleInfo role,
    TimeProvider clock, ILogger<JobWorker> logger) : BackgroundService
{
    private readonly string _workerId = $"w{Environment.ProcessId}-{Guid.NewGuid():N}"[..20];

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var n = options.Value.WorkerConcurrency;
        if (n == 0)
        {
            logger.LogInformation("Job worker disabled (WorkerConcurrency=0)");
            return Task.CompletedTask;
        }
        logger.LogInformation("Job worker {WorkerId} starting {Count} loop(s) for {Kinds}", _workerId, n,
            string.Join(", ", executor.Handlers.SelectMany(h => h.Kinds)));
        return Task.WhenAll(Enumerable.Range(0, n).Select(i => Task.Run(() => LoopAsync($"{_workerId}#{i}", stoppingToken), stoppingToken))
            .Append(Task.Run(() => HeartbeatAsync(n, stoppingToken), stoppingToken)));
    }

    /// <summary>Refreshes this worker's heartbeat row while its loops run (<c>/v1/ops/health</c>: <c>worker_heartbeat_age_s</c>).</summary>
    private async Task HeartbeatAsync(int loops, CancellationToken ct)
    {
        var started = clock.GetUtcNow().UtcDateTime;
        var every = reliability.Value.HeartbeatInterval;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await ops.BeatAsync(new WorkerHeartbeat(_workerId, Hosting.ServerRoles.Wire(role.Role), Environment.MachineName, Environment.ProcessId, loops, started,
                    clock.GetUtcNow().UtcDateTime), ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception ex)
            {
                logger.LogWarning("Worker {WorkerId}: heartbeat failed ({Error})", _workerId, ex.GetBaseException().Message);
            }
            try { await Task.Delay(every, clock, ct); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>The kinds this worker may claim now: those of handlers whose kill switch (if any) is off.</summary>
    private async Task<List<string>> ClaimableKindsAsync(CancellationToken ct)
    {
        var kinds = new List<string>();
        foreach (var h in executor.Handlers)
            if (h.HeldBy is not { } sw || !await rollouts.IsKilledAsync(sw, ct)) kinds.AddRange(h.Kinds);
        return kinds;
    }

    private async Task LoopAsync(string loopId, CancellationToken ct)
    {
        var opts = options.Value;
        var lease = TimeSpan.FromMilliseconds(opts.LeaseMs);
        var outage = TimeSpan.Zero;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var kinds = await ClaimableKindsAsync(ct);
                var job = kinds.Count == 0 ? null : await queue.TryClaimAsync(loopId, kinds, lease, ct);
                outage = TimeSpan.Zero;
                if (job is null)
                {
                    await signal.WaitAsync(TimeSpan.FromMilliseconds(opts.PollIntervalMs), ct);
                    continue;
                }
                if (executor.BatchHandlerFor(job.Kind) is { } batch)
                {
                    // Its handler runs jobs together: take more of its kinds now, up to its batch size, and run them at once.
                    var more = await queue.TryClaimManyAsync(loopId, batch.Kinds.Where(kinds.Contains).ToList(), lease, batch.MaxBatch - 1, ct);
                    await executor.ExecuteManyAsync([job, .. more], loopId, lease, ct);
                }
                else await executor.ExecuteAsync(job, loopId, lease, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex))
            {
                // Database down: one line per attempt and a growing pause, not a stack trace every poll.
                outage = outage == TimeSpan.Zero ? TimeSpan.FromMilliseconds(opts.PollIntervalMs) : TimeSpan.FromMilliseconds(Math.Min(outage.TotalMilliseconds * 2, 5_000));
                logger.LogWarning("Job loop {LoopId}: database unavailable ({Error}); retrying in {Delay} ms", loopId, ex.GetBaseException().Message, outage.TotalMilliseconds);
                try { await Task.Delay(outage, ct); }
                catch (OperationCanceledException) { return; }
            }
            catch (Exception ex)
            {
                // Anything else unexpected: back off and keep the loop alive.
                logger.LogError(ex, "Job loop {LoopId} failed; retrying", loopId);
                try { await Task.Delay(TimeSpan.FromMilliseconds(opts.PollIntervalMs), ct); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
