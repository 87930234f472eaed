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

    /// <summary>The batch handler of <paramref name="kind"/>, if its handler runs jobs in batches of more than one.</summary>
    public IBatchJobHandler? BatchHandlerFor(string kind) =>
        _byKind.TryGetValue(kind, out var h) && h is IBatchJobHandler { MaxBatch: > 1 } batch ? batch : null;

    public async Task<JobResult?> ExecuteAsync(Job job, string workerId, TimeSpan lease, CancellationToken ct) =>
        await AdmitAsync(job, workerId, ct).ConfigureAwait(false) is { } handler
            ? await ExecuteAdmittedAsync(job, handler, workerId, lease, ct).ConfigureAwait(false)
            : null;

    /// <summary>
    /// Runs jobs claimed together, all of one <see cref="IBatchJobHandler"/>'s kinds, through that handler at once (every
    /// lease renewed while it runs); each job's outcome is recorded as <see cref="ExecuteAsync"/> would record it alone.
    /// </summary>
    public async Task ExecuteManyAsync(IReadOnlyList<Job> jobs, string workerId, TimeSpan lease, CancellationToken ct)
    {
        var admitted = new List<Job>(jobs.Count);
        IBatchJobHandler? batch = null;
        foreach (var job in jobs)
        {
            if (await AdmitAsync(job, workerId, ct).ConfigureAwait(false) is not { } handler) continue;
            if (handler is not IBatchJobHandler b || (batch is not null && !ReferenceEquals(batch, b)))
                throw new ArgumentException("jobs run together must all be of one batch handler's kinds", nameof(jobs));
            batch = b;
            admitted.Add(job);
        }
        if (batch is null) return;
        if (admitted.Count == 1)
        {
            await ExecuteAdmittedAsync(admitted[0], batch, workerId, lease, ct).ConfigureAwait(false);
            return;
        }

        using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renew = RenewAsync(admitted, workerId, lease, jobCts);
        using var span = telemetry.Start("job batch " + admitted[0].Kind);
        span?.SetTag("nexusrag.job.kind", admitted[0].Kind);
        span?.SetTag("nexusrag.job.batch_size", admitted.Count);
        try
        {
            var outcomes = await batch.HandleManyAsync(admitted, workerId, jobCts.Token).ConfigureAwait(false);
            if (outcomes.Count != admitted.Count) throw new InvalidOperationException($"a batch of {admitted.Count} jobs got {outcomes.Count} outcomes");
            for (var i = 0; i < admitted.Count; i++)
            {
                if (outcomes[i].Error is { } error) await FailAsync(admitted[i], workerId, error).ConfigureAwait(false);
                else await FinishAsync(admitted[i], workerId, outcomes[i].Result, ct).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or Embeddings.EmbeddingProviderException or HttpRequestException or TimeoutException)
        {
            await ReleaseOnShutdownAsync(admitted, workerId).ConfigureAwait(false);
            throw new OperationCanceledException("shutting down", ex, ct);
        }
        catch (OperationCanceledException) when (jobCts.IsCancellationRequested)
        {
            foreach (var job in admitted) Finished(job, "lease_lost"); // every lease was lost
        }
        catch (Exception ex)
        {
            Observability.NexusInstrumentation.Fail(span, ex);
            foreach (var job in admitted) await FailAsync(job, workerId, ex).ConfigureAwait(false);
        }
        finally
        {
            await jobCts.CancelAsync().ConfigureAwait(false);
            await renew.ConfigureAwait(false);
        }
    }

    private async Task<JobResult?> ExecuteAdmittedAsync(Job job, IJobHandler handler, string workerId, TimeSpan lease, CancellationToken ct)
    {
        using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renew = RenewAsync([job], workerId, lease, jobCts);
        using var span = telemetry.Start("job " + job.Kind);
        span?.SetTag("nexusrag.job.kind", job.Kind);
        span?.SetTag("nexusrag.job.attempt", job.Attempts);
        try
        {
            return await FinishAsync(job, workerId, await handler.HandleAsync(job, workerId, jobCts.Token).ConfigureAwait(false), ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or Embeddings.EmbeddingProviderException or HttpRequestException or TimeoutException)
        {
            await ReleaseOnShutdownAsync([job], workerId).ConfigureAwait(false);
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
            await FailAsync(job, workerId, ex).ConfigureAwait(false);
            return null;
        }
        finally
        {
            await jobCts.CancelAsync().ConfigureAwait(false);
            await renew.ConfigureAwait(false);
        }
    }

    /// <summary>The job's handler if it may run now; otherwise the job is failed (no handler, poison) or handed back (held), and null.</summary>
    private async Task<IJobHandler?> AdmitAsync(Job job, string workerId, CancellationToken ct)
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
        return handler;
    }

    private async Task<JobResult> FinishAsync(Job job, string workerId, JobResult result, CancellationToken ct)
    {
        if (result == JobResult.Done && !await queue.CompleteAsync(job, workerId, ct).ConfigureAwait(false)) result = JobResult.LeaseLost;
        if (result == JobResult.LeaseLost) logger.LogWarning("Job {JobId}: lease lost before commit; another worker owns it", job.Id);
        Finished(job, result == JobResult.LeaseLost ? "lease_lost" : "succeeded");
        return result;
    }

    /// <summary>
    /// Shutting down (whatever the interrupted call turned the cancellation into): hand the jobs back now, so another
    /// worker takes them at once instead of after the lease expires.
    /// </summary>
    private async Task ReleaseOnShutdownAsync(IReadOnlyList<Job> jobs, string workerId)
    {
        foreach (var job in jobs)
        {
            if (await queue.ReleaseAsync(job, workerId, clock.GetUtcNow().UtcDateTime, CancellationToken.None).ConfigureAwait(false))
                logger.LogInformation("Job {JobId} ({Kind}): released on shutdown", job.Id, job.Kind);
            Finished(job, "released");
        }
    }

    /// <summary>Records a failed attempt: retried with backoff, or failed for good (a permanent failure, or the last attempt).</summary>
    private async Task FailAsync(Job job, string workerId, Exception ex)
    {
        var o = options.Value;
        var final = ex is PermanentJobFailure || job.Attempts >= job.MaxAttempts;
        DateTime? retryAt = final ? null : clock.GetUtcNow().UtcDateTime.AddMilliseconds(o.RetryBackoffBaseMs * Math.Pow(2, job.Attempts - 1));
        var reason = ex is PermanentJobFailure or Errors.NexusException or ExtractionException or Embeddings.EmbeddingProviderException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
        logger.LogWarning(ex, "Job {JobId} ({Kind}): attempt {Attempt}/{Max} failed: {Reason}", job.Id, job.Kind, job.Attempts, job.MaxAttempts, reason);
        await queue.FailAttemptAsync(job, workerId, reason.Length <= 1000 ? reason : reason[..1000], retryAt, CancellationToken.None).ConfigureAwait(false);
        Finished(job, final ? "failed" : "retried");
    }

    private void Finished(Job job, string outcome) =>
        telemetry.JobsFinished.Add(1, new KeyValuePair<string, object?>("kind", job.Kind), new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>Renews the jobs' leases every third of the lease; cancels the run once every one of them is lost.</summary>
    private async Task RenewAsync(IReadOnlyList<Job> jobs, string workerId, TimeSpan lease, CancellationTokenSource jobCts)
    {
        var held = jobs.Select(j => j.Id).ToHashSet(StringComparer.Ordinal);
        try
        {
            while (!jobCts.IsCancellationRequested)
            {
                await Task.Delay(lease / 3, jobCts.Token).ConfigureAwait(false);
                foreach (var id in held.ToList())
                    if (!await queue.RenewLeaseAsync(id, workerId, lease, jobCts.Token).ConfigureAwait(false))
                    {
                        logger.LogWarning("Job {JobId}: lease lost; abandoning", id);
                        held.Remove(id);
                    }
                if (held.Count == 0) await jobCts.CancelAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) { }
    }
}
