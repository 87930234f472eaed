using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class TenantRow
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public DateTime CreatedAt { get; set; }
}

internal sealed class TenantConfiguration : IEntityTypeConfiguration<TenantRow>
{
    public void Configure(EntityTypeBuilder<TenantRow> e)
    {
        e.ToTable("tenants");
        e.HasKey(x => x.Id);
        e.Property(x => x.Id).HasMaxLength(128);
        e.Property(x => x.Name).HasMaxLength(200);
    }
}
