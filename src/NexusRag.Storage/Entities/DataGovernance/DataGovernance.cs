using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>A tenant's retention policy (null TTL: kept).</summary>
public sealed class RetentionPolicyRow
{
    public string TenantId { get; set; } = "";
    public int? MessagesTtlDays { get; set; }
    public int? CheckpointsTtlDays { get; set; }
    public int? AuditTtlDays { get; set; }
    public int? DocumentsTtlDays { get; set; }
    public int? BackupsTtlDays { get; set; }
    public bool HardDeleteEnabled { get; set; }
    public bool AnonymizeInsteadOfDelete { get; set; }
    public DateTime? UpdatedAt { get; set; }
    public string? UpdatedBy { get; set; }
}

internal sealed class RetentionPolicyConfiguration : IEntityTypeConfiguration<RetentionPolicyRow>
{
    public void Configure(EntityTypeBuilder<RetentionPolicyRow> e)
    {
        e.ToTable("retention_policies");
        e.HasKey(x => x.TenantId);
    }
}

public sealed class LegalHoldRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string ScopeType { get; set; } = "";
    public string ScopeId { get; set; } = "";
    public string Reason { get; set; } = "";
    public string Status { get; set; } = "";
    public string CreatedBy { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public string? ReleasedBy { get; set; }
    public DateTime? ReleasedAt { get; set; }
}

internal sealed class LegalHoldConfiguration : IEntityTypeConfiguration<LegalHoldRow>
{
    public void Configure(EntityTypeBuilder<LegalHoldRow> e)
    {
        e.ToTable("legal_holds");
        e.HasKey(x => x.Id);
        e.Property(x => x.ScopeType).HasMaxLength(16);
        e.Property(x => x.Status).HasMaxLength(16);
        e.HasIndex(x => new { x.TenantId, x.Status });
    }
}

/// <summary>A retention run and its report.</summary>
public sealed class GovernanceRunRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Status { get; set; } = "";
    public string Trigger { get; set; } = "";
    public string? JobId { get; set; }
    public string? ReportJson { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
}

internal sealed class GovernanceRunConfiguration : IEntityTypeConfiguration<GovernanceRunRow>
{
    public void Configure(EntityTypeBuilder<GovernanceRunRow> e)
    {
        e.ToTable("governance_runs");
        e.HasKey(x => x.Id);
        e.Property(x => x.Kind).HasMaxLength(32);
        e.Property(x => x.Status).HasMaxLength(16);
        e.HasIndex(x => new { x.TenantId, x.Kind, x.CreatedAt });
    }
}

public sealed class DsarRequestRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string RequestType { get; set; } = "";
    public string SubjectType { get; set; } = "";
    public string SubjectId { get; set; } = "";
    public string? Reason { get; set; }
    public string Status { get; set; } = "";
    public string RequestedBy { get; set; } = "";
    public string? ApprovedBy { get; set; }
    public DateTime? ApprovedAt { get; set; }
    public string? JobId { get; set; }
    public string? ResultJson { get; set; }
    public string? ArtifactSha256 { get; set; }
    public long? ArtifactBytes { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? CompletedAt { get; set; }
}

internal sealed class DsarRequestConfiguration : IEntityTypeConfiguration<DsarRequestRow>
{
    public void Configure(EntityTypeBuilder<DsarRequestRow> e)
    {
        e.ToTable("dsar_requests");
        e.HasKey(x => x.Id);
        e.Property(x => x.Status).HasMaxLength(24);
        e.HasIndex(x => new { x.TenantId, x.CreatedAt });
    }
}

/// <summary>A policy-as-code rule; a null tenant is a platform rule.</summary>
public sealed class GovernancePolicyRow
{
    public string Id { get; set; } = "";
    public string? TenantId { get; set; }
    public string RuleKey { get; set; } = "";
    public bool Enabled { get; set; }
    public int Priority { get; set; }
    public string ConditionJson { get; set; } = "{}";
    public string ActionJson { get; set; } = "{}";
    public string CreatedBy { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

internal sealed class GovernancePolicyConfiguration : IEntityTypeConfiguration<GovernancePolicyRow>
{
    public void Configure(EntityTypeBuilder<GovernancePolicyRow> e)
    {
        e.ToTable("governance_policies");
        e.HasKey(x => x.Id);
        e.Property(x => x.RuleKey).HasMaxLength(128);
        e.HasIndex(x => x.TenantId);
    }
}
