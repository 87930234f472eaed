using NexusRag.Core.Pagination;

namespace NexusRag.Core.Documents;

public static class DocumentStatus
{
    public const string Queued = "queued";
    public const string Processing = "processing";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";

    public static readonly string[] All = [Queued, Processing, Succeeded, Failed];
    public static bool IsInFlight(string status) => status is Queued or Processing;
}

public sealed record DocumentInfo(
    string Id, string TenantId, string CorpusId, string? Filename, string ContentType, long SizeBytes,
    string ContentSha256, string Status, string? FailureReason, int NumChunks,
    int ChunkSizeChars, int ChunkOverlapChars, string? MetadataJson, string? LastJobId,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? QueuedAt, DateTime? ProcessingStartedAt,
    DateTime? CompletedAt, DateTime? FailedAt, DateTime? LastReindexedAt, string? ExtractionJson = null, string? LabelsJson = null, DateTime? AnonymizedAt = null);

/// <summary>A document to create or replace; its bytes are the tenant's original with <see cref="ContentSha256"/> (<see cref="IOriginalStore"/>).</summary>
public sealed record NewDocument(
    string TenantId, string CorpusId, string DocumentId, string? Filename, string ContentType,
    long SizeBytes, string ContentSha256, int ChunkSizeChars, int ChunkOverlapChars, string? MetadataJson, string? LabelsJson = null);

/// <summary>A chunk produced by the pipeline, ready to be written (with its L2-normalized vector after the embed step).</summary>
public sealed record ChunkDraft(string Id, int ChunkIndex, string Text, int StartOffset, int EndOffset, string MetadataJson, float[]? Embedding = null);

public sealed record ChunkInfo(
    string Id, string TenantId, string CorpusId, string DocumentId, int ChunkIndex, string Text,
    int StartOffset, int EndOffset, string MetadataJson, long Seq, int IndexVersion = 1);

/// <summary>Documents and their raw content. Writes that enqueue a job do so in the same transaction.</summary>
public interface IDocumentStore
{
    /// <summary>Replaces a document's ABAC labels (null clears them); false when there is no such document.</summary>
    Task<bool> SetLabelsAsync(string tenantId, string documentId, string? labelsJson, CancellationToken ct);

    Task<DocumentInfo?> GetAsync(string tenantId, string documentId, CancellationToken ct);
    /// <summary>The tenant's documents with these ids, without their content (missing or foreign ids are simply absent): one read for a batch of jobs.</summary>
    Task<IReadOnlyDictionary<string, DocumentInfo>> GetManyAsync(string tenantId, IReadOnlyCollection<string> documentIds, CancellationToken ct);
    Task<(IReadOnlyList<DocumentInfo> Items, bool HasMore)> ListAsync(DocumentListQuery query, CancellationToken ct);
    /// <summary>Inserts a new document (or replaces an existing, not in-flight one) and enqueues its ingestion job atomically.</summary>
    Task<EnqueueResult> UpsertAndEnqueueAsync(NewDocument document, bool replaceExisting, int maxAttempts, CancellationToken ct);
    /// <summary>
    /// <see cref="UpsertAndEnqueueAsync"/> for several documents of one tenant in one transaction (one read of the existing
    /// rows, one write): all are enqueued, or the first conflict is thrown and none is.
    /// </summary>
    Task<IReadOnlyList<EnqueueResult>> UpsertAndEnqueueManyAsync(IReadOnlyList<(NewDocument Document, bool ReplaceExisting)> documents, int maxAttempts, CancellationToken ct);
    /// <summary>Re-queues an existing document with new chunking parameters; null when not found.</summary>
    Task<EnqueueResult?> EnqueueReindexAsync(string tenantId, string documentId, int chunkSizeChars, int chunkOverlapChars, int maxAttempts, CancellationToken ct);
    Task<DocumentDeleteResult> DeleteAsync(string tenantId, string documentId, CancellationToken ct);
    /// <summary>Content kept in the database by versions before originals had their own store (null for newer documents).</summary>
    Task<byte[]?> GetLegacyContentAsync(string tenantId, string documentId, CancellationToken ct);
    /// <summary>Whether any document of the tenant still refers to the original with this hash.</summary>
    Task<bool> IsOriginalReferencedAsync(string tenantId, string sha256, CancellationToken ct);
    /// <summary>The document's chunks in its corpus's active index version.</summary>
    Task<IReadOnlyList<ChunkInfo>> GetChunksAsync(string tenantId, string documentId, CancellationToken ct);
    /// <summary>
    /// The document's current chunks in these index versions as (text, stored vector), for reusing vectors of unchanged text
    /// on a re-ingest or a version build with the same model.
    /// </summary>
    Task<IReadOnlyList<(string Text, float[] Vector)>> GetChunkVectorsAsync(string tenantId, string documentId, IReadOnlyCollection<int> versions, CancellationToken ct);
    /// <summary>
    /// Which of these documents have any chunk with a stored vector in these index versions: a batch of jobs asks once, so
    /// that a first ingest (nothing to reuse) costs no <see cref="GetChunkVectorsAsync"/> read per document.
    /// </summary>
    Task<IReadOnlySet<string>> WithChunkVectorsAsync(string tenantId, IReadOnlyCollection<string> documentIds, IReadOnlyCollection<int> versions, CancellationToken ct);
    /// <summary>The tenant's chunks with these ids (missing or foreign ids are simply absent).</summary>
    Task<IReadOnlyList<ChunkInfo>> GetChunksByIdsAsync(string tenantId, IReadOnlyCollection<string> chunkIds, CancellationToken ct);
}

public enum DocumentDeleteResult { Deleted, NotFound, InFlight }

public sealed record DocumentListQuery(string TenantId, string? CorpusId, string? Status, int Limit, KeysetPosition? After);

public sealed record EnqueueResult(DocumentInfo Document, string JobId, bool Created, bool Deduplicated = false);
