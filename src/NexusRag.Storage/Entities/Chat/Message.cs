using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class MessageRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string SessionId { get; set; } = "";
    public string Role { get; set; } = "";
    public string Content { get; set; } = "";
    public string? MetadataJson { get; set; }
    /// <summary>The tenant data key version <see cref="Content"/> and <see cref="MetadataJson"/> are sealed with; null: stored in plaintext.</summary>
    public int? KeyVersion { get; set; }
    /// <summary>When retention or a DSAR dropped this message's content; null otherwise.</summary>
    public DateTime? AnonymizedAt { get; set; }
    public DateTime CreatedAt { get; set; }
}

internal sealed class MessageConfiguration : IEntityTypeConfiguration<MessageRow>
{
    public void Configure(EntityTypeBuilder<MessageRow> e)
    {
        e.ToTable("messages");
        e.HasKey(x => x.Id);
        e.HasIndex(x => new { x.TenantId, x.SessionId, x.CreatedAt });
        e.HasIndex(x => new { x.TenantId, x.KeyVersion });
    }
}
