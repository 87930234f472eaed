using NexusRag.Core.Documents;

namespace NexusRag.Core.Jobs;

public static class JobStatus
{
    public const string Queued = "queued";
    public const string Processing = "processing";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>Job kinds; each has exactly one <see cref="IJobHandler"/>.</summary>
public static class JobKind
{
    public const string Ingest = "ingest";
    public const string Reindex = "reindex";
    /// <summary>Builds an index version of a corpus from the stored originals (payload: <c>{"version": n}</c>).</summary>
    public const string IndexBuild = "index_build";
}

/// <summary>
/// A leased background job of a <see cref="Kind"/>. Jobs about a document name it (the document's status follows the
/// job); others carry what they need in <see cref="PayloadJson"/>. Platform jobs belong to tenant <c>_platform</c>.
/// </summary>
public sealed record Job(
    string Id, string TenantId, string Kind, string? CorpusId, string? DocumentId, string? PayloadJson, string Status,
    int Attempts, int MaxAttempts, DateTime AvailableAt, string? LeaseOwner, DateTime? LeaseExpiresAt, string? LastError, DateTime CreatedAt);

/// <summary>A job to enqueue (with the caller's unit of work, if any).</summary>
public sealed record NewJob(string TenantId, string Kind, int MaxAttempts, string? PayloadJson = null, string? CorpusId = null, string? DocumentId = null,
    DateTime? AvailableAt = null);

/// <summary>
/// The durable job queue (the <c>jobs</c> table). Jobs are claimed with a lease that the runner renews; a job whose lease
/// expired is claimable again. Completion and failure are conditional on still holding the lease, so a worker that lost
/// its lease can never commit. PostgreSQL claims with <c>FOR UPDATE SKIP LOCKED</c>.
/// </summary>
public interface IJobQueue
{
    Task<string> EnqueueAsync(NewJob job, CancellationToken ct);
    /// <summary>Claims the oldest due job of one of <paramref name="kinds"/>.</summary>
    Task<Job?> TryClaimAsync(string workerId, IReadOnlyCollection<string> kinds, TimeSpan lease, CancellationToken ct);
    /// <summary>Claims up to <paramref name="max"/> of the oldest due jobs of <paramref name="kinds"/> at once (each with its own lease).</summary>
    Task<IReadOnlyList<Job>> TryClaimManyAsync(string workerId, IReadOnlyCollection<string> kinds, TimeSpan lease, int max, CancellationToken ct);
    Task<bool> RenewLeaseAsync(string jobId, string workerId, TimeSpan lease, CancellationToken ct);
    /// <summary>Marks the job succeeded (for handlers that do not commit their own completion). False if the lease was lost.</summary>
    Task<bool> CompleteAsync(Job job, string workerId, CancellationToken ct);
    /// <summary>
    /// Records a failed attempt: re-queued at <paramref name="retryAt"/>, or failed for good when null. A document job's
    /// document follows (queued again, or failed with the reason).
    /// </summary>
    Task<bool> FailAttemptAsync(Job job, string workerId, string reason, DateTime? retryAt, CancellationToken ct);
    /// <summary>Puts a claimed job back unrun (a hold, not a failure): queued again at <paramref name="availableAt"/>, the attempt not counted.</summary>
    Task<bool> ReleaseAsync(Job job, string workerId, DateTime availableAt, CancellationToken ct);
}

/// <summary>What a handler reports back to the runner.</summary>
public enum JobResult
{
    /// <summary>The handler did its work; the runner marks the job succeeded.</summary>
    Done,
    /// <summary>The handler committed the job's completion itself, atomically with its own writes.</summary>
    Committed,
    /// <summary>The lease was lost before the handler could commit; another worker owns the job now.</summary>
    LeaseLost,
}

/// <summary>
/// Runs the jobs of its kinds. One handler per kind (ingestion, re-index, backup, retention, re-encryption …); the
/// runner owns claims, leases, retries with backoff, poison handling and kill-switch holds.
/// </summary>
public interface IJobHandler
{
    IReadOnlyCollection<string> Kinds { get; }
    /// <summary>The kill switch that holds this handler's jobs in the queue while it is on, platform-wide or for the job's tenant (null: none).</summary>
    string? HeldBy { get; }
    Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct);
}

/// <summary>
/// A handler that can run several claimed jobs of its kinds together (the runner claims up to <see cref="MaxBatch"/> of
/// them at once). Each job still succeeds or fails on its own: the answer has one outcome per job, in order.
/// </summary>
public interface IBatchJobHandler : IJobHandler
{
    int MaxBatch { get; }
    /// <summary>One outcome per job, in order; a job's own failure is its outcome's <see cref="JobOutcome.Error"/>, not a throw.</summary>
    Task<IReadOnlyList<JobOutcome>> HandleManyAsync(IReadOnlyList<Job> jobs, string workerId, CancellationToken ct);
}

/// <summary>What became of one job of a batch: a result, or the failure the runner records for it.</summary>
public readonly record struct JobOutcome(JobResult Result, Exception? Error = null)
{
    public static JobOutcome Failed(Exception error) => new(default, error);
}

/// <summary>A failure that retrying cannot fix: the job fails for good at once.</summary>
public sealed class PermanentJobFailure(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Writes of ingestion jobs that must commit with the job's completion (document and chunks).</summary>
public interface IIngestionJobStore
{
    /// <summary>
    /// Atomically replaces the document's chunks in every index version that receives writes, marks it succeeded (with the
    /// active version's chunk count) and the job done. False if the lease was lost. <paramref name="versions"/> must name
    /// exactly the versions that receive writes at commit time, else <see cref="Indexing.IndexVersionsChangedException"/>.
    /// With vectors, a version's embedding identity is recorded if it has none, and the commit is refused
    /// (<see cref="Errors.ErrorCodes.EmbeddingModelMismatch"/>) if the active one has another.
    /// </summary>
    Task<bool> CompleteIngestionAsync(Job job, string workerId, IReadOnlyList<Indexing.VersionChunks> versions, string? extractionJson, CancellationToken ct);
    /// <summary>Marks the documents of several claimed jobs processing (one statement per tenant).</summary>
    Task MarkDocumentsProcessingAsync(IReadOnlyList<Job> jobs, CancellationToken ct);
    /// <summary>
    /// <see cref="CompleteIngestionAsync"/> for several jobs in one transaction: all commit, or none. False (nothing
    /// written) if any job's lease was lost; <see cref="Indexing.IndexVersionsChangedException"/> and a model mismatch as
    /// for one job, for the whole batch.
    /// </summary>
    Task<bool> CompleteIngestionManyAsync(string workerId, IReadOnlyList<IngestionCompletion> completions, CancellationToken ct);
}

/// <summary>One job's completion in a batch: its chunks per index version and the extraction summary.</summary>
public sealed record IngestionCompletion(Job Job, IReadOnlyList<Indexing.VersionChunks> Versions, string? ExtractionJson);
