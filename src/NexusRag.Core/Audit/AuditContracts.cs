
namespace NexusRag.Core.Audit;

public sealed record AuditEntry(
    string TenantId, string EventType, string Outcome, string? ActorType, string? ActorId,
    string? ResourceType, string? ResourceId, string? RequestId, IReadOnlyDictionary<string, object?>? Metadata = null);

/// <summary>
/// The tamper-evident audit log. Each tenant's events form a hash chain: an event's <c>hash</c> is SHA-256 over a
/// canonical serialization of its fields, its position and the previous event's hash, so editing, deleting or
/// reordering rows breaks the chain at a point <see cref="VerifyAsync"/> names.
/// </summary>
public interface IAuditLog
{
    Task AppendAsync(AuditEntry entry, CancellationToken ct);
    /// <summary>Appends several events, in order, in one write (inside the caller's unit of work when there is one).</summary>
    Task AppendManyAsync(IReadOnlyList<AuditEntry> entries, CancellationToken ct);
    Task<(IReadOnlyList<AuditEvent> Items, bool HasMore)> QueryAsync(AuditQuery query, CancellationToken ct);
    Task<AuditVerification> VerifyAsync(string tenantId, CancellationToken ct);
    Task<IReadOnlyList<string>> ChainedTenantsAsync(CancellationToken ct);
    /// <summary>
    /// Deletes the events that occurred before <paramref name="cutoff"/> (every tenant's, or only <paramref name="tenantId"/>'s),
    /// behind a checkpoint: the head keeps the position and hash of the last pruned event, so the remaining chain still
    /// verifies from there. Returns the events pruned.
    /// </summary>
    Task<long> PruneBeforeAsync(DateTime cutoff, CancellationToken ct, string? tenantId = null);
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
