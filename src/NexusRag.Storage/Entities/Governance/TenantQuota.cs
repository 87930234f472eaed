using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

public sealed class TenantQuotaRow
{
    public string TenantId { get; set; } = "";
    public int? DailyRequestsLimit { get; set; }
    public int? MonthlyRequestsLimit { get; set; }
    public double SoftCapRatio { get; set; } = 0.8;
    public bool HardCapEnabled { get; set; } = true;
    public DateTime UpdatedAt { get; set; }
}

internal sealed class TenantQuotaConfiguration : IEntityTypeConfiguration<TenantQuotaRow>
{
    public void Configure(EntityTypeBuilder<TenantQuotaRow> e)
    {
        e.ToTable("tenant_quotas");
        e.HasKey(x => x.TenantId);
    }
}
