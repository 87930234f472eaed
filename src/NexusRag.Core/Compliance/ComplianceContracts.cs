using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Compliance;

/// <summary>SOC 2 automation (seed "SOC 2 Compliance Automation"): <c>COMPLIANCE_ENABLED</c>, <c>COMPLIANCE_KEY_MAX_AGE_DAYS</c>, <c>COMPLIANCE_EVIDENCE_RETENTION_DAYS</c>.</summary>
public sealed class ComplianceOptions : IHasParseErrors
{
    [FlatName("COMPLIANCE_ENABLED")] public bool Enabled { get; set; } = true;
    /// <summary>CC6.2: an active API key older than this (and not set to expire) fails key governance.</summary>
    [Range(1, 3650)] [FlatName("COMPLIANCE_KEY_MAX_AGE_DAYS")] public int KeyMaxAgeDays { get; set; } = 90;
    /// <summary>Snapshots, bundles and uploaded artefact records older than this are pruned (<c>prune_compliance_evidence</c>).</summary>
    [Range(1, 3650)] [FlatName("COMPLIANCE_EVIDENCE_RETENTION_DAYS")] public int EvidenceRetentionDays { get; set; } = 400;
    public List<string> ParseErrors { get; } = [];
}

public static class ComplianceErrorCodes
{
    public const string BundleVerifyFailed = "COMPLIANCE_BUNDLE_VERIFY_FAILED";
    public const string ComplianceDisabled = "COMPLIANCE_DISABLED";
}

public static class ControlStatus
{
    public const string Pass = "pass";
    public const string Fail = "fail";
    /// <summary>A manual control without a current artefact.</summary>
    public const string ManualPending = "manual_pending";
}

/// <summary>One control's result: its status, a one-line summary, and the facts it was computed from.</summary>
public sealed record ControlResult(string ControlId, string Title, string Kind, string Status, string Summary, IReadOnlyDictionary<string, object?> Evidence);

public sealed record ComplianceSnapshot(string Id, DateTime CapturedAt, int WindowDays, string Status, IReadOnlyList<ControlResult> Results, string CreatedBy);

public sealed record ComplianceArtifact(string Id, string ArtifactType, string ArtifactUri, string? Sha256, string? Notes, string UploadedBy, DateTime UploadedAt);

/// <summary>A signed evidence bundle: a ZIP at rest whose SHA-256 is recorded, with a signed manifest inside.</summary>
public sealed record ComplianceBundle(
    string Id, string SnapshotId, string BundleType, DateTime PeriodStart, DateTime PeriodEnd, string Sha256, long Bytes, string SigningKeyId, DateTime CreatedAt, string CreatedBy);

public static class ArtifactTypes
{
    public static readonly string[] All = ["dependency_scan", "vulnerability_scan", "patch_report", "pentest_report", "policy_document", "other"];
    /// <summary>What CC8.1 (vulnerability and patch cadence) accepts.</summary>
    public static readonly string[] PatchCadence = ["dependency_scan", "vulnerability_scan", "patch_report"];
}

/// <summary>Facts only the store can tell, for the controls.</summary>
public sealed record ApiKeyFact(string Id, string TenantId, bool IsOperator, DateTime CreatedAt, DateTime? LastUsedAt, DateTime? ExpiresAt, DateTime? RevokedAt, bool Active);

public interface IComplianceStore
{
    Task AddSnapshotAsync(ComplianceSnapshot snapshot, CancellationToken ct);
    Task<ComplianceSnapshot?> GetSnapshotAsync(string id, CancellationToken ct);
    Task<IReadOnlyList<ComplianceSnapshot>> ListSnapshotsAsync(int limit, CancellationToken ct);
    Task AddArtifactAsync(ComplianceArtifact artifact, CancellationToken ct);
    Task<IReadOnlyList<ComplianceArtifact>> ListArtifactsAsync(DateTime? since, CancellationToken ct);
    Task AddBundleAsync(ComplianceBundle bundle, CancellationToken ct);
    Task<ComplianceBundle?> GetBundleAsync(string id, CancellationToken ct);
    Task<IReadOnlyList<ComplianceBundle>> ListBundlesAsync(int limit, CancellationToken ct);
    /// <summary>The newest bundle made from a snapshot.</summary>
    Task<ComplianceBundle?> BundleOfSnapshotAsync(string snapshotId, CancellationToken ct);
    /// <summary>Deletes snapshots, bundles and artefact records older than <paramref name="cutoff"/>; returns the bundle ids removed (their files go too).</summary>
    Task<(int Snapshots, IReadOnlyList<string> Bundles, int Artifacts)> PruneBeforeAsync(DateTime cutoff, CancellationToken ct);

    Task<IReadOnlyList<ApiKeyFact>> ApiKeysAsync(CancellationToken ct);
    /// <summary>Migrations applied (id) and those the build has that the store lacks.</summary>
    Task<(IReadOnlyList<string> Applied, IReadOnlyList<string> Pending)> SchemaAsync(CancellationToken ct);
    /// <summary>When the newest backup set holding the database was taken, its encryption and signing (null when there is none).</summary>
    Task<(DateTime CreatedAt, string Encryption, string Signing)?> LatestBackupAsync(CancellationToken ct);
    /// <summary>Counts for the capacity excerpt: tenants, corpora, documents, chunks, sessions, messages, audit events.</summary>
    Task<IReadOnlyDictionary<string, long>> CountsAsync(CancellationToken ct);
}
