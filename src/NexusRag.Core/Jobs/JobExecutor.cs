using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Ingestion;

namespace NexusRag.Core.Jobs;

/// <summary>
/// Runs one claimed job with its kind's handler while renewing the lease, then records the outcome: success, a retry
/// with exponential backoff (<see cref="IngestionOptions.RetryBackoffBaseMs"/> · 2^(attempt−1)), or a final failure
/// after the job's max attempts, on a <see cref="PermanentJobFailure"/>, or for a poison job whose lease kept
/// expiring (its workers died on it more often than it may be attempted).
/// </summary>
public sealed class JobExecutor(IJobQueue queue, IEnumerable<IJobHandler> handlers, Governance.RolloutGate rollouts, IOptions<IngestionOptions> options,
    TimeProvider clock, Observability.NexusInstrumentation telemetry, ILogger<JobExecutor> logger)
{
    private readonly Dictionary<string, IJobHandler> _byKind = handlers.SelectMany(h => h.Kinds.Select(k => (k, h)))
        .ToDictionary(x => x.k, x => x.h, StringComparer.Ordinal);

    public IReadOnlyCollection<IJobHandler> Handlers => _byKind.Values.Distinct().ToList();

    public async Task<JobResult?> ExecuteAsync(Job job, string workerId, TimeSpan lease, CancellationToken ct)
    {
        if (!_byKind.TryGetValue(job.Kind, out var handler))
        {
            await queue.FailAttemptAsync(job, workerId, $"no handler for job kind '{job.Kind}'", null, ct).ConfigureAwait(false);
            return null;
        }
        if (handler.HeldBy is { } killSwitch && await rollouts.IsKilledForAsync(killSwitch, job.TenantId, ct).ConfigureAwait(false))
        {
            // Held (the job's tenant paused it, or the platform switch flipped after the claim): back to the queue, not an attempt.
            await queue.ReleaseAsync(job, workerId, clock.GetUtcNow().UtcDateTime.Add(Governance.RolloutGate.MaxAge), ct).ConfigureAwait(false);
            return null;
        }
        if (job.Attempts > job.MaxAttempts)
        {
            await queue.FailAttemptAsync(job, workerId, $"gave up after {job.Attempts - 1} attempts whose worker lease expired", null, ct).ConfigureAwait(false);
            return null;
        }

        using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renew = RenewAsync(job, workerId, lease, jobCts);
        using var span = telemetry.Start("job " + job.Kind);
        span?.SetTag("nexusrag.job.kind", job.Kind);
        span?.SetTag("nexusrag.job.attempt", job.Attempts);
        try
        {
            var result = await handler.HandleAsync(job, workerId, jobCts.Token).ConfigureAwait(false);
            if (result == JobResult.Done && !await queue.CompleteAsync(job, workerId, ct).ConfigureAwait(false)) result = JobResult.LeaseLost;
            if (result == JobResult.LeaseLost) logger.LogWarning("Job {JobId}: lease lost before commit; another worker owns it", job.Id);
            Finished(job, result == JobResult.LeaseLost ? "lease_lost" : "succeeded");
            return result;
        }
        catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or Embeddings.EmbeddingProviderException or HttpRequestException or TimeoutException)
        {
            // Shutting down (whatever the interrupted call turned the cancellation into): hand the job back now, so another
            // worker takes it at once instead of after the lease expires.
            if (await queue.ReleaseAsync(job, workerId, clock.GetUtcNow().UtcDateTime, CancellationToken.None).ConfigureAwait(false))
                logger.LogInformation("Job {JobId} ({Kind}): released on shutdown", job.Id, job.Kind);
            Finished(job, "released");
            throw new OperationCanceledException("shutting down", ex, ct);
        }
        catch (OperationCanceledException) when (jobCts.IsCancellationRequested)
        {
            // The lease was lost: the job already went to another worker.
            Finished(job, "lease_lost");
            return JobResult.LeaseLost;
        }
        catch (Exception ex)
        {
            Observability.NexusInstrumentation.Fail(span, ex);
            var o = options.Value;
            var final = ex is PermanentJobFailure || job.Attempts >= job.MaxAttempts;
            DateTime? retryAt = final ? null : clock.GetUtcNow().UtcDateTime.AddMilliseconds(o.RetryBackoffBaseMs * Math.Pow(2, job.Attempts - 1));
            var reason = ex is PermanentJobFailure or Errors.NexusException or ExtractionException or Embeddings.EmbeddingProviderException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
            logger.LogWarning(ex, "Job {JobId} ({Kind}): attempt {Attempt}/{Max} failed: {Reason}", job.Id, job.Kind, job.Attempts, job.MaxAttempts, reason);
            await queue.FailAttemptAsync(job, workerId, reason.Length <= 1000 ? reason : reason[..1000], retryAt, CancellationToken.None).ConfigureAwait(false);
            Finished(job, final ? "failed" : "retried");
            return null;
        }
        finally
        {
            await jobCts.CancelAsync().ConfigureAwait(false);
            await renew.ConfigureAwait(false);
        }
    }

    private void Finished(Job job, string outcome) =>
        telemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("kind", job.Kind), new KeyValuePair<string, object?>("outcome", outcome));

    private async Task RenewAsync(Job job, string workerId, TimeSpan lease, CancellationTokenSource jobCts)
    {
        try
        {
            while (!jobCts.IsCancellationRequested)
            {
                await Task.Delay(lease / 3, jobCts.Token).ConfigureAwait(false);
                if (!await queue.RenewLeaseAsync(job.Id, workerId, lease, jobCts.Token).ConfigureAwait(false))
                {
                    logger.LogWarning("Job {JobId}: lease lost; abandoning", job.Id);
                    await jobCts.CancelAsync().ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) { }
    }
}
