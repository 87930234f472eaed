using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class PlanOverrideRow
{
    public string TenantId { get; set; } = "";
    public string FeatureKey { get; set; } = "";
    public bool Enabled { get; set; }
    public string? ConfigJson { get; set; }
    public DateTime UpdatedAt { get; set; }
}

internal sealed class PlanOverrideConfiguration : IEntityTypeConfiguration<PlanOverrideRow>
{
    public void Configure(EntityTypeBuilder<PlanOverrideRow> e)
    {
        e.ToTable("plan_overrides");
        e.HasKey(x => new { x.TenantId, x.FeatureKey });
    }
}
