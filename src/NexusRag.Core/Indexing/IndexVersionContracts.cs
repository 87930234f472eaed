using System.ComponentModel.DataAnnotations;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Jobs;

namespace NexusRag.Core.Indexing;

/// <summary>The life of an index version: built in the background, then ready, promoted to active, retired by the next promotion.</summary>
public static class IndexVersionStatus
{
    public const string Building = "building";
    public const string Ready = "ready";
    public const string Active = "active";
    public const string Retired = "retired";
    public const string Failed = "failed";
}

/// <summary>Registry event types (append-only, one per step).</summary>
public static class IndexVersionEvents
{
    public const string Created = "created";
    public const string Built = "built";
    public const string Failed = "failed";
    public const string Evaluated = "evaluated";
    public const string Promoted = "promoted";
    public const string Retired = "retired";
    public const string RolledBack = "rolled_back";
    public const string Dropped = "dropped";
}

/// <summary>A fixed chunking for every document of a version (null on a version: each document keeps its own).</summary>
public sealed record ChunkingSpec(int ChunkSizeChars, int ChunkOverlapChars);

/// <summary>
/// One index version of a corpus. <see cref="Embedding"/> is null only where the corpus has no vectors yet (its model is
/// then the server's default at first ingest). <see cref="Chunks"/> and <see cref="DocumentsIndexed"/> are live counts.
/// </summary>
public sealed record IndexVersionInfo(
    string TenantId, string CorpusId, int Version, string Status, EmbeddingIdentity? Embedding, ChunkingSpec? Chunking,
    int DocumentsTotal, int DocumentsDone, int DocumentsSkipped, string? BuildCursor, string? JobId, string? EvaluationJson,
    string? FailureReason, string CreatedBy, DateTime CreatedAt, DateTime UpdatedAt, DateTime? BuiltAt, DateTime? ActivatedAt,
    DateTime? RetiredAt, DateTime? DroppedAt, int Chunks = 0, int DocumentsIndexed = 0)
{
    /// <summary>Whether ingestion writes new and changed documents into this version: every version but failed and dropped ones.</summary>
    public bool ReceivesWrites => Status is IndexVersionStatus.Active or IndexVersionStatus.Building or IndexVersionStatus.Ready
                                  || (Status == IndexVersionStatus.Retired && DroppedAt is null);
}

public sealed record IndexVersionEvent(
    long Id, string TenantId, string CorpusId, int Version, string EventType, string ActorType, string ActorId, string? Reason,
    string? DetailsJson, DateTime OccurredAt);

/// <summary>Who acted (<c>api_key</c> + key id, or <c>system</c> + component).</summary>
public sealed record IndexActor(string Type, string Id);

/// <summary>
/// A document the build visited, with the state it was read in (its chunks are written only if it has not changed since).
/// <see cref="Chunks"/> null: passed (in flight or failed: its own ingestion writes this version); <see cref="Skipped"/>: unreadable.
/// </summary>
public sealed record BuildStep(string DocumentId, DateTime ExpectedUpdatedAt, IReadOnlyList<ChunkDraft>? Chunks, bool Skipped = false);

/// <summary>The chunks of one document for one index version, with the model that embedded them.</summary>
public sealed record VersionChunks(int Version, EmbeddingIdentity? Embedding, IReadOnlyList<ChunkDraft> Chunks);

/// <summary>
/// The set of versions that receive writes changed between reading it and committing (a version was created, promoted,
/// dropped): the writer starts over with the new set.
/// </summary>
public sealed class IndexVersionsChangedException(string message) : Exception(message);

/// <summary>A BEIR-style query set: queries and graded judgments of documents of the corpus.</summary>
public sealed record EvalSetInfo(
    string Id, string TenantId, string CorpusId, string Name, IReadOnlyList<EvalQuery> Queries, IReadOnlyList<EvalJudgment> Qrels,
    string CreatedBy, DateTime CreatedAt)
{
    public int QueryCount { get; init; } = Queries.Count;
    public int JudgmentCount { get; init; } = Qrels.Count;
}

public sealed record EvalQuery(string Id, string Text);

public sealed record EvalJudgment(string QueryId, string DocumentId, int Score);

/// <summary>Index versions, their registry events and evaluation sets, always addressed within one tenant.</summary>
public interface IIndexVersionStore
{
    /// <summary>Newest first. A corpus that never had a second version lists its implicit version 1 (active).</summary>
    Task<IReadOnlyList<IndexVersionInfo>> ListAsync(string tenantId, string corpusId, CancellationToken ct);
    Task<IndexVersionInfo?> GetAsync(string tenantId, string corpusId, int version, CancellationToken ct);
    /// <summary>The versions that receive writes (<see cref="IndexVersionInfo.ReceivesWrites"/>), the active one first.</summary>
    Task<IReadOnlyList<IndexVersionInfo>> WritableAsync(string tenantId, string corpusId, CancellationToken ct);

    /// <summary>Records version 1 if the corpus has no rows yet, then a new building version and its build job; null while another version builds.</summary>
    Task<IndexVersionInfo?> CreateAsync(string tenantId, string corpusId, EmbeddingIdentity embedding, ChunkingSpec? chunking, IndexActor actor,
        int maxAttempts, CancellationToken ct);
    Task AppendEventAsync(string tenantId, string corpusId, int version, string eventType, IndexActor actor, string? reason, string? detailsJson, CancellationToken ct);
    Task<IReadOnlyList<IndexVersionEvent>> EventsAsync(string tenantId, string corpusId, int? version, CancellationToken ct);
    Task SaveEvaluationAsync(string tenantId, string corpusId, int version, string evaluationJson, CancellationToken ct);

    /// <summary>
    /// Makes <paramref name="version"/> (ready, or retired and not dropped) the active one: the corpus points at it and
    /// takes its model, the previous active version is retired (keeping its model on its row), documents report the new
    /// chunk counts. False when the active version is no longer <paramref name="expectedActive"/> or the target cannot serve.
    /// </summary>
    Task<bool> ActivateAsync(string tenantId, string corpusId, int version, int expectedActive, CancellationToken ct);

    /// <summary>Documents of the corpus with ids after <paramref name="afterDocumentId"/>, in id order.</summary>
    Task<IReadOnlyList<DocumentInfo>> BuildDocumentsAsync(string tenantId, string corpusId, string? afterDocumentId, int limit, CancellationToken ct);
    /// <summary>
    /// Commits one document of a build (its chunks, or none when skipped) with the cursor, if the job still holds its lease
    /// and the version still builds. A document changed since it was read is only passed (its own ingestion writes this version). False if the lease was lost.
    /// </summary>
    Task<bool> CommitBuildStepAsync(Job job, string workerId, int version, BuildStep step, CancellationToken ct);
    /// <summary>Marks the version ready and the job done; false if the lease was lost.</summary>
    Task<bool> CompleteBuildAsync(Job job, string workerId, int version, CancellationToken ct);
    Task MarkFailedAsync(string tenantId, string corpusId, int version, string reason, CancellationToken ct);

    /// <summary>Failed versions, and retired ones retired before <paramref name="retiredBefore"/>, not yet dropped.</summary>
    Task<IReadOnlyList<IndexVersionInfo>> DroppableAsync(DateTime retiredBefore, CancellationToken ct);
    /// <summary>Deletes a version's chunks (logged, so every replica drops them) and marks it dropped. False if it serves again.</summary>
    Task<bool> DropAsync(string tenantId, string corpusId, int version, CancellationToken ct);

    Task<EvalSetInfo> CreateEvalSetAsync(EvalSetInfo set, CancellationToken ct);
    Task<EvalSetInfo?> GetEvalSetAsync(string tenantId, string corpusId, string? evalSetId, CancellationToken ct);
    Task<IReadOnlyList<EvalSetInfo>> ListEvalSetsAsync(string tenantId, string corpusId, CancellationToken ct);
}

/// <summary>Index-version settings (section <c>NexusRag:IndexVersions</c>).</summary>
public sealed class IndexVersionOptions : IHasParseErrors
{
    public const string Section = "NexusRag:IndexVersions";

    /// <summary>Promotion is refused when the candidate's nDCG@10 is below the active version's by more than this (unless forced).</summary>
    [Range(0.0, 1.0)] [FlatName("INDEX_PROMOTION_MAX_NDCG_DROP")] public double PromotionMaxNdcgDrop { get; set; } = 0.01;
    /// <summary>A retired version keeps receiving writes, so a rollback is instant, for this long; then its chunks are dropped.</summary>
    [Range(0, 24 * 365)] [FlatName("INDEX_RETIRED_RETENTION_HOURS")] public double RetiredRetentionHours { get; set; } = 72;
    [Range(1, 100_000)] public int MaxEvalQueries { get; set; } = 5_000;
    [Range(1, 1_000_000)] public int MaxEvalJudgments { get; set; } = 100_000;
    /// <summary>How often a worker looks for versions to drop.</summary>
    [Range(1, 86_400)] public int JanitorIntervalSeconds { get; set; } = 300;
    public List<string> ParseErrors { get; } = [];
}
