using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class SessionRow
{
    public string TenantId { get; set; } = "";
    public string Id { get; set; } = "";
    public string? CorpusId { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

internal sealed class SessionConfiguration : IEntityTypeConfiguration<SessionRow>
{
    public void Configure(EntityTypeBuilder<SessionRow> e)
    {
        e.ToTable("sessions");
        e.HasKey(x => new { x.TenantId, x.Id });
        e.HasIndex(x => x.Id).IsUnique(); // a session id belongs to one tenant
    }
}
