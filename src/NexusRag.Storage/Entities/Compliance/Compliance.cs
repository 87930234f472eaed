using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>A control evaluation: <c>captured_at</c> is its canonical time; <c>results_json</c> the normalized results.</summary>
public sealed class ComplianceSnapshotRow
{
    public string Id { get; set; } = "";
    public DateTime CapturedAt { get; set; }
    public int WindowDays { get; set; }
    public string Status { get; set; } = "";
    public string ResultsJson { get; set; } = "[]";
    public string CreatedBy { get; set; } = "";
}

internal sealed class ComplianceSnapshotConfiguration : IEntityTypeConfiguration<ComplianceSnapshotRow>
{
    public void Configure(EntityTypeBuilder<ComplianceSnapshotRow> e)
    {
        e.ToTable("compliance_snapshots");
        e.HasKey(x => x.Id);
        e.Property(x => x.Status).HasMaxLength(16);
        e.HasIndex(x => x.CapturedAt);
    }
}

public sealed class ComplianceBundleRow
{
    public string Id { get; set; } = "";
    public string SnapshotId { get; set; } = "";
    public string BundleType { get; set; } = "";
    public DateTime PeriodStart { get; set; }
    public DateTime PeriodEnd { get; set; }
    public string Sha256 { get; set; } = "";
    public long Bytes { get; set; }
    public string SigningKeyId { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
}

internal sealed class ComplianceBundleConfiguration : IEntityTypeConfiguration<ComplianceBundleRow>
{
    public void Configure(EntityTypeBuilder<ComplianceBundleRow> e)
    {
        e.ToTable("compliance_bundles");
        e.HasKey(x => x.Id);
        e.HasIndex(x => x.CreatedAt);
    }
}

public sealed class ComplianceArtifactRow
{
    public string Id { get; set; } = "";
    public string ArtifactType { get; set; } = "";
    public string ArtifactUri { get; set; } = "";
    public string? Sha256 { get; set; }
    public string? Notes { get; set; }
    public string UploadedBy { get; set; } = "";
    public DateTime UploadedAt { get; set; }
}

internal sealed class ComplianceArtifactConfiguration : IEntityTypeConfiguration<ComplianceArtifactRow>
{
    public void Configure(EntityTypeBuilder<ComplianceArtifactRow> e)
    {
        e.ToTable("compliance_artifacts");
        e.HasKey(x => x.Id);
        e.Property(x => x.ArtifactType).HasMaxLength(32);
        e.HasIndex(x => x.UploadedAt);
    }
}
