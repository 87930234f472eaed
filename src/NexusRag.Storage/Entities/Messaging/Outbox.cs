using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>A transactional outbox message (see <see cref="NexusRag.Core.Transactions.IOutbox"/>).</summary>
public sealed class OutboxRow
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Dead = "dead";

    public long Id { get; set; }
    public string TenantId { get; set; } = "";
    public string Topic { get; set; } = "";
    public string PayloadJson { get; set; } = "{}";
    public string Status { get; set; } = Pending;
    public int Attempts { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime AvailableAt { get; set; }
    public string? LeaseOwner { get; set; }
    public DateTime? LeaseExpiresAt { get; set; }
    public DateTime? DeliveredAt { get; set; }
    public string? LastError { get; set; }
}

internal sealed class OutboxConfiguration : IEntityTypeConfiguration<OutboxRow>
{
    public void Configure(EntityTypeBuilder<OutboxRow> e)
    {
        e.ToTable("outbox");
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).ValueGeneratedOnAdd();
        e.Property(x => x.Topic).HasMaxLength(200);
        e.Property(x => x.Status).HasMaxLength(16);
        e.HasIndex(x => new { x.Status, x.AvailableAt });
    }
}
