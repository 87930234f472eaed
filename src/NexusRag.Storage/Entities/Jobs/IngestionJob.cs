using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

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

internal sealed class IngestionJobConfiguration : IEntityTypeConfiguration<IngestionJobRow>
{
    public void Configure(EntityTypeBuilder<IngestionJobRow> e)
    {
        e.ToTable("ingestion_jobs");
        e.HasKey(x => x.Id);
        e.HasIndex(x => new { x.Status, x.AvailableAt });
        e.HasIndex(x => new { x.TenantId, x.DocumentId });
    }
}
