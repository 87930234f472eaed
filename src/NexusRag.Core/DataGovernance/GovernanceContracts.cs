using System.Text.Json;

namespace NexusRag.Core.DataGovernance;

/// <summary>Data governance (seed "Governance &amp; Compliance"): <c>GOVERNANCE_POLICY_ENGINE_ENABLED</c>, <c>DSAR_REQUIRE_APPROVAL</c>.</summary>
public sealed class DataGovernanceOptions : IHasParseErrors
{
    [FlatName("GOVERNANCE_POLICY_ENGINE_ENABLED")] public bool PolicyEngineEnabled { get; set; } = true;
    /// <summary>Destructive DSARs (delete, anonymize) wait for a second admin's approval.</summary>
    [FlatName("DSAR_REQUIRE_APPROVAL")] public bool DsarRequireApproval { get; set; } = true;
    public List<string> ParseErrors { get; } = [];
}

public static class GovernanceErrorCodes
{
    public const string PolicyDenied = "POLICY_DENIED";
    public const string PolicyApprovalRequired = "POLICY_APPROVAL_REQUIRED";
    public const string LegalHoldActive = "LEGAL_HOLD_ACTIVE";
    public const string DsarRequiresApproval = "DSAR_REQUIRES_APPROVAL";
    public const string DsarNotFound = "DSAR_NOT_FOUND";
    public const string GovernanceReportUnavailable = "GOVERNANCE_REPORT_UNAVAILABLE";
}

/// <summary>A tenant's retention policy; a null TTL keeps that kind of data forever.</summary>
public sealed record RetentionPolicy(
    string TenantId, int? MessagesTtlDays, int? CheckpointsTtlDays, int? AuditTtlDays, int? DocumentsTtlDays, int? BackupsTtlDays,
    bool HardDeleteEnabled, bool AnonymizeInsteadOfDelete, DateTime? UpdatedAt, string? UpdatedBy)
{
    public static RetentionPolicy Default(string tenantId) => new(tenantId, null, null, null, null, null, false, false, null, null);

    /// <summary>What an expired item gets: <c>anonymize</c>, <c>delete</c>, or <c>report</c> (neither is enabled: counted only).</summary>
    public string Mode => AnonymizeInsteadOfDelete ? "anonymize" : HardDeleteEnabled ? "delete" : "report";
}

public static class HoldScopes
{
    public const string Tenant = "tenant";
    public const string Document = "document";
    public const string Session = "session";
    public const string UserKey = "user_key";
    public const string BackupSet = "backup_set";
    public static readonly string[] All = [Tenant, Document, Session, UserKey, BackupSet];
}

public sealed record LegalHold(string Id, string TenantId, string ScopeType, string ScopeId, string Reason, string Status, string CreatedBy, DateTime CreatedAt,
    string? ReleasedBy, DateTime? ReleasedAt)
{
    public bool Active => Status == "active";
}

public sealed record GovernanceRun(string Id, string TenantId, string Kind, string Status, string Trigger, string? JobId, string? ReportJson, string? Error,
    DateTime CreatedAt, DateTime? FinishedAt);

public static class DsarTypes
{
    public static readonly string[] Requests = ["export", "delete", "anonymize"];
    public static readonly string[] Subjects = ["session", "user_key", "document"];
}

public static class DsarStatus
{
    public const string PendingApproval = "pending_approval";
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
}

public sealed record DsarRequest(
    string Id, string TenantId, string RequestType, string SubjectType, string SubjectId, string? Reason, string Status, string RequestedBy,
    string? ApprovedBy, DateTime? ApprovedAt, string? JobId, string? ResultJson, string? ArtifactSha256, long? ArtifactBytes, string? Error,
    DateTime CreatedAt, DateTime? CompletedAt)
{
    public bool Destructive => RequestType != "export";
}

/// <summary>A policy-as-code rule: <see cref="TenantId"/> null is a platform rule (the operator's) that applies to every tenant.</summary>
public sealed record GovernancePolicy(
    string Id, string? TenantId, string RuleKey, bool Enabled, int Priority, JsonElement Condition, JsonElement Action, string CreatedBy, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary>What retention or a DSAR did to one kind of data.</summary>
public sealed record DataOutcome(long Eligible, long Changed, long Held);

/// <summary>The governance tables and the data operations retention and DSARs need (one transaction each).</summary>
public interface IGovernanceStore
{
    Task<RetentionPolicy?> GetRetentionPolicyAsync(string tenantId, CancellationToken ct);
    Task SaveRetentionPolicyAsync(RetentionPolicy policy, CancellationToken ct);
    Task<IReadOnlyList<string>> TenantsWithRetentionPolicyAsync(CancellationToken ct);

    Task AddHoldAsync(LegalHold hold, CancellationToken ct);
    Task<LegalHold?> GetHoldAsync(string tenantId, string id, CancellationToken ct);
    Task<IReadOnlyList<LegalHold>> ListHoldsAsync(string tenantId, bool activeOnly, CancellationToken ct);
    /// <summary>Every active backup-set hold of any tenant (backup pruning is platform-wide).</summary>
    Task<IReadOnlyList<LegalHold>> ActiveBackupHoldsAsync(CancellationToken ct);
    Task<bool> ReleaseHoldAsync(string tenantId, string id, string by, DateTime at, CancellationToken ct);

    Task AddRunAsync(GovernanceRun run, CancellationToken ct);
    Task<GovernanceRun?> GetRunAsync(string tenantId, string id, CancellationToken ct);
    Task<GovernanceRun?> LatestRunAsync(string tenantId, string kind, CancellationToken ct);
    Task FinishRunAsync(string id, string status, string? reportJson, string? error, DateTime at, CancellationToken ct);

    Task AddDsarAsync(DsarRequest request, CancellationToken ct);
    Task<DsarRequest?> GetDsarAsync(string tenantId, string id, CancellationToken ct);
    Task<DsarRequest?> GetDsarByIdAsync(string id, CancellationToken ct);
    Task<bool> ApproveDsarAsync(string tenantId, string id, string by, DateTime at, string? jobId, CancellationToken ct);
    Task UpdateDsarAsync(string id, string status, string? resultJson, string? artifactSha256, long? artifactBytes, string? error, DateTime? completedAt, CancellationToken ct);
    Task<IReadOnlyList<DsarRequest>> ListDsarsAsync(string tenantId, DateTime since, CancellationToken ct);

    Task AddPolicyAsync(GovernancePolicy policy, CancellationToken ct);
    Task<GovernancePolicy?> GetPolicyAsync(string? tenantId, string id, CancellationToken ct);
    Task<IReadOnlyList<GovernancePolicy>> ListPoliciesAsync(string? tenantId, CancellationToken ct);
    /// <summary>The rules that apply to a tenant's requests: its own and the platform's.</summary>
    Task<IReadOnlyList<GovernancePolicy>> PoliciesForTenantAsync(string tenantId, CancellationToken ct);
    Task SavePolicyAsync(GovernancePolicy policy, CancellationToken ct);
    Task<bool> DeletePolicyAsync(string? tenantId, string id, CancellationToken ct);

    /// <summary>Messages older than <paramref name="cutoff"/> outside <paramref name="heldSessions"/>: deleted, anonymized (content dropped, ids kept) or counted.</summary>
    Task<DataOutcome> ExpireMessagesAsync(string tenantId, DateTime cutoff, IReadOnlySet<string> heldSessions, string mode, DateTime now, CancellationToken ct);
    /// <summary>Ids of the tenant's documents created before <paramref name="cutoff"/> that are not anonymized yet.</summary>
    Task<IReadOnlyList<string>> ExpiredDocumentsAsync(string tenantId, DateTime cutoff, CancellationToken ct);
    /// <summary>Drops a document's content (chunks, logged for the index; filename, metadata, extraction facts, content hash) and keeps its row, ids and counts. Returns the hash it had, or null when there is no such document.</summary>
    Task<string?> AnonymizeDocumentAsync(string tenantId, string documentId, DateTime now, CancellationToken ct);
    Task<IReadOnlyList<Chat.MessageInfo>> SessionMessagesAsync(string tenantId, string sessionId, CancellationToken ct);
    Task<DataOutcome> EraseSessionAsync(string tenantId, string sessionId, string mode, DateTime now, CancellationToken ct);
    /// <summary>The documents an API key created (its owner grants).</summary>
    Task<IReadOnlyList<string>> DocumentsOwnedByAsync(string tenantId, string apiKeyId, CancellationToken ct);
}
