using NexusRag.Core.Auth;

namespace NexusRag.Core.Model;

public static class DocumentStatus
{
    public const string Queued = "queued";
    public const string Processing = "processing";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";

    public static readonly string[] All = [Queued, Processing, Succeeded, Failed];
    public static bool IsInFlight(string status) => status is Queued or Processing;
}

public sealed record TenantInfo(string Id, string Name, DateTime CreatedAt);

/// <summary>An API key; <see cref="IsOperator"/> keys belong to the platform operator (tenant <see cref="Principal.PlatformTenant"/>).</summary>
public sealed record ApiKeyInfo(
    string Id, string TenantId, string Name, Role Role, string Prefix,
    DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt, bool IsOperator = false);

/// <summary>What the store returns when a presented key is looked up by its prefix.</summary>
public sealed record ApiKeyCredential(ApiKeyInfo Key, string KeyHash);

public sealed record CorpusInfo(
    string Id, string TenantId, string Name, string ProviderConfigJson, DateTime CreatedAt, DateTime UpdatedAt,
    Embeddings.EmbeddingIdentity? Embedding = null);

public sealed record DocumentInfo(
    string Id, string TenantId, string CorpusId, string? Filename, string ContentType, long SizeBytes,
    string ContentSha256, string Status, string? FailureReason, int NumChunks,
    int ChunkSizeChars, int ChunkOverlapChars, string? MetadataJson, string? LastJobId,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? QueuedAt, DateTime? ProcessingStartedAt,
    DateTime? CompletedAt, DateTime? FailedAt, DateTime? LastReindexedAt);

/// <summary>A document to create or replace, with its raw content and the job that will process it.</summary>
public sealed record NewDocument(
    string TenantId, string CorpusId, string DocumentId, string? Filename, string ContentType,
    byte[] Content, string ContentSha256, int ChunkSizeChars, int ChunkOverlapChars, string? MetadataJson);

/// <summary>A chunk produced by the pipeline, ready to be written (with its L2-normalized vector after the embed step).</summary>
public sealed record ChunkDraft(string Id, int ChunkIndex, string Text, int StartOffset, int EndOffset, string MetadataJson, float[]? Embedding = null);

public sealed record ChunkInfo(
    string Id, string TenantId, string CorpusId, string DocumentId, int ChunkIndex, string Text,
    int StartOffset, int EndOffset, string MetadataJson, long Seq);

public sealed record AuditEntry(
    string TenantId, string EventType, string Outcome, string? ActorType, string? ActorId,
    string? ResourceType, string? ResourceId, string? RequestId, IReadOnlyDictionary<string, object?>? Metadata = null);

/// <summary>One page of a keyset-paginated listing.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? NextCursor, bool HasMore);

/// <summary>A position in a keyset ordering: (created_at DESC, id DESC).</summary>
public sealed record KeysetPosition(DateTime CreatedAt, string Id);
