using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

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

internal sealed class AuditEventConfiguration : IEntityTypeConfiguration<AuditEventRow>
{
    public void Configure(EntityTypeBuilder<AuditEventRow> e)
    {
        e.ToTable("audit_events");
        e.HasIndex(x => new { x.TenantId, x.ChainSeq }).IsUnique();
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).ValueGeneratedOnAdd();
        e.HasIndex(x => new { x.TenantId, x.OccurredAt });
        e.HasIndex(x => new { x.TenantId, x.EventType });
    }
}
