using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>A rollout control: a kill switch (<c>kind</c> kill, value 0/1) or a canary percentage (<c>kind</c> canary, 0..100).</summary>
public sealed class RolloutSettingRow
{
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public int Value { get; set; }
    public DateTime UpdatedAt { get; set; }
}

internal sealed class RolloutSettingConfiguration : IEntityTypeConfiguration<RolloutSettingRow>
{
    public void Configure(EntityTypeBuilder<RolloutSettingRow> e)
    {
        e.ToTable("rollout_settings");
        e.HasKey(x => x.Name);
    }
}
