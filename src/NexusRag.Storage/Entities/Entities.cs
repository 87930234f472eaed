namespace NexusRag.Storage.Entities;

// Persistence rows. Table and column names are snake_case (see NexusDbContext).

public sealed class TenantRow
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTime CreatedAt { get; set; }
}

public sealed class ApiKeyRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Role { get; set; } = "";
    public string KeyPrefix { get; set; } = "";
    public string KeyHash { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public DateTime? ExpiresAt { get; set; }
    public DateTime? RevokedAt { get; set; }
    public DateTime? LastUsedAt { get; set; }
}

public sealed class CorpusRow
{
    public string TenantId { get; set; } = "";
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string ProviderConfigJson { get; set; } = "{}";
    /// <summary>Embedding identity, recorded by the first ingest that writes vectors (null until then).</summary>
    public string? EmbeddingProvider { get; set; }
    public string? EmbeddingModel { get; set; }
    public int? EmbeddingDimensions { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

public sealed class DocumentRow
{
    public string TenantId { get; set; } = "";
    public string Id { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string? Filename { get; set; }
    public string ContentType { get; set; } = "";
    public long SizeBytes { get; set; }
    public string ContentSha256 { get; set; } = "";
    public byte[] Content { get; set; } = [];
    public string Status { get; set; } = "";
    public string? FailureReason { get; set; }
    public int NumChunks { get; set; }
    public int ChunkSizeChars { get; set; }
    public int ChunkOverlapChars { get; set; }
    public string? MetadataJson { get; set; }
    public string? LastJobId { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public DateTime? QueuedAt { get; set; }
    public DateTime? ProcessingStartedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
    public DateTime? FailedAt { get; set; }
    public DateTime? LastReindexedAt { get; set; }
}

public sealed class ChunkRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string DocumentId { get; set; } = "";
    public int ChunkIndex { get; set; }
    public string Text { get; set; } = "";
    public int StartOffset { get; set; }
    public int EndOffset { get; set; }
    public string MetadataJson { get; set; } = "{}";
    /// <summary>The chunk's embedding: little-endian float32, L2-normalized (null when the pipeline wrote none).</summary>
    public byte[]? Embedding { get; set; }
    /// <summary>Monotonic change-log position: every write of a chunk takes a new, higher seq.</summary>
    public long Seq { get; set; }
    public DateTime CreatedAt { get; set; }
}

/// <summary>A chunk removed from the chunks table, kept in the change log so index replicas can drop it.</summary>
public sealed class ChunkDeletionRow
{
    public long Seq { get; set; }
    public string ChunkId { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string DocumentId { get; set; } = "";
    public DateTime DeletedAt { get; set; }
}

/// <summary>Named monotonic counters (the chunk change log's seq).</summary>
public sealed class SeqCounterRow
{
    public string Name { get; set; } = "";
    public long Value { get; set; }
}

public sealed class IngestionJobRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string CorpusId { get; set; } = "";
    public string DocumentId { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Status { get; set; } = "";
    public int Attempts { get; set; }
    public int MaxAttempts { get; set; }
    public DateTime AvailableAt { get; set; }
    public string? LeaseOwner { get; set; }
    public DateTime? LeaseExpiresAt { get; set; }
    public string? LastError { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
}

public sealed class SessionRow
{
    public string TenantId { get; set; } = "";
    public string Id { get; set; } = "";
    public string? CorpusId { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

public sealed class MessageRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string SessionId { get; set; } = "";
    public string Role { get; set; } = "";
    public string Content { get; set; } = "";
    public string? MetadataJson { get; set; }
    public DateTime CreatedAt { get; set; }
}

public sealed class AuditEventRow
{
    public long Id { get; set; }
    public string TenantId { get; set; } = "";
    public string EventType { get; set; } = "";
    public string Outcome { get; set; } = "";
    public string? ActorType { get; set; }
    public string? ActorId { get; set; }
    public string? ResourceType { get; set; }
    public string? ResourceId { get; set; }
    public string? RequestId { get; set; }
    public string? MetadataJson { get; set; }
    public DateTime OccurredAt { get; set; }
    /// <summary>Position in the tenant's hash chain (1, 2, …); null for events written before the chain existed.</summary>
    public long? ChainSeq { get; set; }
    public string? PrevHash { get; set; }
    public string? Hash { get; set; }
}

/// <summary>The head of a tenant's audit hash chain: appends lock this row, so concurrent writers chain correctly.</summary>
public sealed class AuditChainHeadRow
{
    public string TenantId { get; set; } = "";
    public long LastSeq { get; set; }
    public string? LastHash { get; set; }
}

/// <summary>A rollout control: a kill switch (<c>kind</c> kill, value 0/1) or a canary percentage (<c>kind</c> canary, 0..100).</summary>
public sealed class RolloutSettingRow
{
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public int Value { get; set; }
    public DateTime UpdatedAt { get; set; }
}

public sealed class TenantPlanRow
{
    public string TenantId { get; set; } = "";
    public string PlanId { get; set; } = "";
    public DateTime UpdatedAt { get; set; }
}

public sealed class PlanOverrideRow
{
    public string TenantId { get; set; } = "";
    public string FeatureKey { get; set; } = "";
    public bool Enabled { get; set; }
    public string? ConfigJson { get; set; }
    public DateTime UpdatedAt { get; set; }
}

public sealed class TenantQuotaRow
{
    public string TenantId { get; set; } = "";
    public int? DailyRequestsLimit { get; set; }
    public int? MonthlyRequestsLimit { get; set; }
    public double SoftCapRatio { get; set; } = 0.8;
    public bool HardCapEnabled { get; set; } = true;
    public DateTime UpdatedAt { get; set; }
}

/// <summary>Requests counted in one period: <c>period_key</c> is <c>day:2026-11-23</c> or <c>month:2026-11</c>.</summary>
public sealed class UsageCounterRow
{
    public string TenantId { get; set; } = "";
    public string PeriodKey { get; set; } = "";
    public long Used { get; set; }
    public bool SoftCapNotified { get; set; }
    public bool OverageNotified { get; set; }
}
