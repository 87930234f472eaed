using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>Requests counted in one period: <c>period_key</c> is <c>day:2026-11-23</c> or <c>month:2026-11</c>.</summary>
public sealed class UsageCounterRow
{
    public string TenantId { get; set; } = "";
    public string PeriodKey { get; set; } = "";
    public long Used { get; set; }
    public bool SoftCapNotified { get; set; }
    public bool OverageNotified { get; set; }
}

internal sealed class UsageCounterConfiguration : IEntityTypeConfiguration<UsageCounterRow>
{
    public void Configure(EntityTypeBuilder<UsageCounterRow> e)
    {
        e.ToTable("usage_counters");
        e.HasKey(x => new { x.TenantId, x.PeriodKey });
    }
}
