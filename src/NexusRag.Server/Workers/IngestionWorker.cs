using Microsoft.Extensions.Options;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Model;
using NexusRag.Core.Ports;

namespace NexusRag.Server.Workers;

/// <summary>
/// Hosted ingestion worker: <see cref="IngestionOptions.WorkerConcurrency"/> loops, each claiming one job at a
/// time with a lease, renewing the lease while it works, and sleeping on the enqueue signal (or the poll
/// interval) when the queue is empty.
/// </summary>
public sealed class IngestionWorker(IJobQueue queue, IngestionProcessor processor, IJobSignal signal, Core.Governance.RolloutGate rollouts,
    IOptions<IngestionOptions> options, ILogger<IngestionWorker> logger) : BackgroundService
{
    private readonly string _workerId = $"w{Environment.ProcessId}-{Guid.NewGuid():N}"[..20];

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var n = options.Value.WorkerConcurrency;
        if (n == 0)
        {
            logger.LogInformation("Ingestion worker disabled (WorkerConcurrency=0)");
            return Task.CompletedTask;
        }
        logger.LogInformation("Ingestion worker {WorkerId} starting {Count} loop(s)", _workerId, n);
        return Task.WhenAll(Enumerable.Range(0, n).Select(i => Task.Run(() => LoopAsync($"{_workerId}#{i}", stoppingToken), stoppingToken)));
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
                if (await rollouts.IsKilledAsync(Core.Governance.KillSwitches.Ingest, ct))
                {
                    // kill.ingest: jobs stay queued until the switch is off again.
                    await Task.Delay(TimeSpan.FromMilliseconds(opts.PollIntervalMs), ct);
                    continue;
                }
                var job = await queue.TryClaimAsync(loopId, lease, ct);
                outage = TimeSpan.Zero;
                if (job is null)
                {
                    await signal.WaitAsync(TimeSpan.FromMilliseconds(opts.PollIntervalMs), ct);
                    continue;
                }
                await RunWithLeaseAsync(job, loopId, lease, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex))
            {
                // Database down: one line per attempt and a growing pause, not a stack trace every poll.
                outage = outage == TimeSpan.Zero ? TimeSpan.FromMilliseconds(opts.PollIntervalMs) : TimeSpan.FromMilliseconds(Math.Min(outage.TotalMilliseconds * 2, 5_000));
                logger.LogWarning("Ingestion loop {LoopId}: database unavailable ({Error}); retrying in {Delay} ms", loopId, ex.GetBaseException().Message, outage.TotalMilliseconds);
                try { await Task.Delay(outage, ct); }
                catch (OperationCanceledException) { return; }
                continue;
            }
            catch (Exception ex)
            {
                // Anything else unexpected: back off and keep the loop alive.
                logger.LogError(ex, "Ingestion loop {LoopId} failed; retrying", loopId);
                try { await Task.Delay(TimeSpan.FromMilliseconds(opts.PollIntervalMs), ct); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    private async Task RunWithLeaseAsync(IngestionJob job, string loopId, TimeSpan lease, CancellationToken ct)
    {
        if (job.Attempts > job.MaxAttempts)
        {
            // The job's lease expired more often than it may be attempted (a worker keeps dying on it).
            await queue.FailAttemptAsync(job, loopId, $"gave up after {job.Attempts - 1} attempts whose worker lease expired", null, ct);
            return;
        }
        using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renew = Task.Run(async () =>
        {
            try
            {
                while (!jobCts.IsCancellationRequested)
                {
                    await Task.Delay(lease / 3, jobCts.Token);
                    if (!await queue.RenewLeaseAsync(job.Id, loopId, lease, jobCts.Token))
                    {
                        logger.LogWarning("Job {JobId}: lease lost; abandoning", job.Id);
                        await jobCts.CancelAsync();
                    }
                }
            }
            catch (OperationCanceledException) { }
        }, CancellationToken.None);
        try
        {
            await processor.ProcessAsync(job, loopId, jobCts.Token);
        }
        catch (OperationCanceledException) when (jobCts.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // lease lost: the job belongs to another worker now
        }
        finally
        {
            await jobCts.CancelAsync();
            await renew;
        }
    }
}
