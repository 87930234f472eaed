using NexusRag.Core.Auth;
using NexusRag.Core.Model;

namespace NexusRag.Core.Ports;

/// <summary>Tenants and their API keys.</summary>
public interface IIdentityStore
{
    Task<bool> EnsureTenantAsync(string tenantId, CancellationToken ct);
    Task<bool> TenantExistsAsync(string tenantId, CancellationToken ct);
    /// <summary>Stores a key; an operator key belongs to <see cref="Principal.PlatformTenant"/> and has no tenant role.</summary>
    Task<ApiKeyInfo> CreateApiKeyAsync(string tenantId, string name, Role role, string prefix, string keyHash, DateTime? expiresAt, bool isOperator, CancellationToken ct);
    Task<ApiKeyCredential?> FindApiKeyByPrefixAsync(string prefix, CancellationToken ct);
    Task<IReadOnlyList<ApiKeyInfo>> ListApiKeysAsync(string tenantId, CancellationToken ct);
    /// <summary>Revokes a key; returns it, or null when no such key exists.</summary>
    Task<ApiKeyInfo?> RevokeApiKeyAsync(string keyId, CancellationToken ct);
    Task TouchApiKeyAsync(string keyId, DateTime usedAt, CancellationToken ct);
    /// <summary>Deactivates (revokes) or reactivates one of the tenant's keys; reactivation resets last_used_at. Null when not the tenant's.</summary>
    Task<ApiKeyInfo?> SetApiKeyActiveAsync(string tenantId, string keyId, bool active, DateTime now, CancellationToken ct);
}

/// <summary>Corpora, always addressed within one tenant.</summary>
public interface ICorpusStore
{
    Task<IReadOnlyList<CorpusInfo>> ListAsync(string tenantId, CancellationToken ct);
    Task<CorpusInfo?> GetAsync(string tenantId, string corpusId, CancellationToken ct);
    /// <summary>Creates the corpus; returns null if one with this id already exists in the tenant.</summary>
    Task<CorpusInfo?> CreateAsync(string tenantId, string corpusId, string name, string providerConfigJson, CancellationToken ct);
    Task<CorpusInfo?> UpdateAsync(string tenantId, string corpusId, string? name, string? providerConfigJson, CancellationToken ct);
    Task<CorpusDeleteResult> DeleteAsync(string tenantId, string corpusId, CancellationToken ct);
}

public enum CorpusDeleteResult { Deleted, NotFound, InFlight }

public enum DocumentDeleteResult { Deleted, NotFound, InFlight }

public sealed record DocumentListQuery(string TenantId, string? CorpusId, string? Status, int Limit, KeysetPosition? After);

public sealed record EnqueueResult(DocumentInfo Document, string JobId, bool Created, bool Deduplicated = false);

/// <summary>Documents and their raw content. Writes that enqueue a job do so in the same transaction.</summary>
public interface IDocumentStore
{
    Task<DocumentInfo?> GetAsync(string tenantId, string documentId, CancellationToken ct);
    Task<(IReadOnlyList<DocumentInfo> Items, bool HasMore)> ListAsync(DocumentListQuery query, CancellationToken ct);
    /// <summary>Inserts a new document (or replaces an existing, not in-flight one) and enqueues its ingestion job atomically.</summary>
    Task<EnqueueResult> UpsertAndEnqueueAsync(NewDocument document, bool replaceExisting, int maxAttempts, CancellationToken ct);
    /// <summary>Re-queues an existing document with new chunking parameters; null when not found.</summary>
    Task<EnqueueResult?> EnqueueReindexAsync(string tenantId, string documentId, int chunkSizeChars, int chunkOverlapChars, int maxAttempts, CancellationToken ct);
    Task<DocumentDeleteResult> DeleteAsync(string tenantId, string documentId, CancellationToken ct);
    Task<byte[]?> GetContentAsync(string tenantId, string documentId, CancellationToken ct);
    Task<IReadOnlyList<ChunkInfo>> GetChunksAsync(string tenantId, string documentId, CancellationToken ct);
    /// <summary>The tenant's chunks with these ids (missing or foreign ids are simply absent).</summary>
    Task<IReadOnlyList<ChunkInfo>> GetChunksByIdsAsync(string tenantId, IReadOnlyCollection<string> chunkIds, CancellationToken ct);
}

public enum ChunkChangeKind { Upsert, Delete }

/// <summary>One entry of the chunk change log. <see cref="Chunk"/> is set for upserts.</summary>
public sealed record ChunkChange(long Seq, ChunkChangeKind Kind, string ChunkId, string TenantId, string CorpusId, string DocumentId, ChunkInfo? Chunk, float[]? Embedding = null);

/// <summary>
/// The chunk change log, ordered by seq: every chunk write is an upsert with a new seq, every removal a
/// deletion with a new seq. A derived index follows it from its last applied seq and can always be rebuilt.
/// </summary>
public interface IChunkChangeFeed
{
    Task<IReadOnlyList<ChunkChange>> ReadAsync(long afterSeq, int limit, CancellationToken ct);
    /// <summary>The highest seq ever assigned (0 when none).</summary>
    Task<long> MaxSeqAsync(CancellationToken ct);
}

/// <summary>
/// The tamper-evident audit log. Each tenant's events form a hash chain: an event's <c>hash</c> is SHA-256 over a
/// canonical serialization of its fields, its position and the previous event's hash, so editing, deleting or
/// reordering rows breaks the chain at a point <see cref="VerifyAsync"/> names.
/// </summary>
public interface IAuditLog
{
    Task AppendAsync(AuditEntry entry, CancellationToken ct);
    Task<(IReadOnlyList<AuditEvent> Items, bool HasMore)> QueryAsync(AuditQuery query, CancellationToken ct);
    Task<AuditVerification> VerifyAsync(string tenantId, CancellationToken ct);
    Task<IReadOnlyList<string>> ChainedTenantsAsync(CancellationToken ct);
}

public sealed record AuditEvent(
    long Id, string TenantId, string EventType, string Outcome, string? ActorType, string? ActorId, string? ResourceType,
    string? ResourceId, string? RequestId, string? MetadataJson, DateTime OccurredAt, long? ChainSeq, string? PrevHash, string? Hash);

/// <summary>Filters of <c>GET /v1/audit/events</c>; pages go newest first, keyset on (occurred_at, id).</summary>
public sealed record AuditQuery(
    string TenantId, string? EventType, string? Outcome, string? ActorId, string? ResourceType, string? ResourceId,
    DateTime? Since, DateTime? Until, int Limit, (DateTime OccurredAt, long Id)? Before);

/// <summary>Result of walking a tenant's chain: <see cref="BrokenEventId"/> is the first event that does not verify.</summary>
public sealed record AuditVerification(string TenantId, bool Ok, long Events, long? BrokenEventId, long? BrokenChainSeq, string? Reason);

public interface IDatabaseHealth
{
    Task<bool> IsHealthyAsync(CancellationToken ct);
}

/// <summary>Wakes idle ingestion workers when a job is enqueued (polling remains the fallback).</summary>
public interface IJobSignal
{
    void Notify();
    Task WaitAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// Wakes followers of the chunk change log when another process commits chunk changes (PostgreSQL LISTEN/NOTIFY);
/// without such a channel it simply waits out the timeout, and polling takes over.
/// </summary>
public interface IChangeNotifier
{
    /// <summary>Returns when a change was announced or <paramref name="timeout"/> passed, whichever comes first.</summary>
    Task WaitAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>A held distributed lock. Disposing releases it (only if still held by this owner).</summary>
public interface ILockHandle : IAsyncDisposable
{
    string Key { get; }
    /// <summary>Extends the lease; false when the lock expired and someone else may hold it now.</summary>
    Task<bool> RenewAsync(TimeSpan lease, CancellationToken ct);
}

/// <summary>
/// Mutual exclusion across replicas (Redis) or within one process (no REDIS_URL). A lease bounds how long a crashed
/// holder blocks others. When the shared store is unreachable, acquiring fails closed with
/// <see cref="SharedStateUnavailableException"/> (HTTP 503), never by granting the lock twice.
/// </summary>
public interface IDistributedLock
{
    /// <summary>The lock, or null when someone else holds it.</summary>
    Task<ILockHandle?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken ct);
}

/// <summary>State shared by replicas (Redis) is unreachable.</summary>
public sealed class SharedStateUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Reachability of the shared state store: "ok", "down", or "not_configured" (single node, in-process state).</summary>
public interface ISharedStateHealth
{
    Task<string> CheckAsync(CancellationToken ct);
}
