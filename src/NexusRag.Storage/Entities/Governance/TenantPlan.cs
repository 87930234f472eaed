using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class TenantPlanRow
{
    public string TenantId { get; set; } = "";
    public string PlanId { get; set; } = "";
    public DateTime UpdatedAt { get; set; }
}

internal sealed class TenantPlanConfiguration : IEntityTypeConfiguration<TenantPlanRow>
{
    public void Configure(EntityTypeBuilder<TenantPlanRow> e)
    {
        e.ToTable("tenant_plans");
        e.HasKey(x => x.TenantId);
    }
}
