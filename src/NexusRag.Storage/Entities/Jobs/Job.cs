using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>A leased background job of a kind (see <see cref="NexusRag.Core.Jobs.IJobQueue"/>).</summary>
public sealed class JobRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string Kind { get; set; } = "";
    public string? CorpusId { get; set; }
    public string? DocumentId { get; set; }
    public string? PayloadJson { get; set; }
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

internal sealed class JobConfiguration : IEntityTypeConfiguration<JobRow>
{
    public void Configure(EntityTypeBuilder<JobRow> e)
    {
        e.ToTable("jobs");
        e.Property(x => x.Kind).HasMaxLength(64);
        e.HasKey(x => x.Id);
        e.HasIndex(x => new { x.Status, x.AvailableAt });
        e.HasIndex(x => new { x.Kind, x.Status });
        e.HasIndex(x => new { x.TenantId, x.DocumentId });
    }
}
