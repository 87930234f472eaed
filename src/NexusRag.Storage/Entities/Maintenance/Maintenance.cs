using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>One run of a maintenance task (see <see cref="NexusRag.Core.Backups.IMaintenanceStore"/>).</summary>
public sealed class MaintenanceRunRow
{
    public string Id { get; set; } = "";
    public string Task { get; set; } = "";
    public string Status { get; set; } = "";
    public string Trigger { get; set; } = "";
    public string? JobId { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
    public string? ResultJson { get; set; }
    public string? Error { get; set; }
}

internal sealed class MaintenanceRunConfiguration : IEntityTypeConfiguration<MaintenanceRunRow>
{
    public void Configure(EntityTypeBuilder<MaintenanceRunRow> e)
    {
        e.ToTable("maintenance_runs");
        e.HasKey(x => x.Id);
        e.Property(x => x.Task).HasMaxLength(64);
        e.Property(x => x.Status).HasMaxLength(16);
        e.Property(x => x.Trigger).HasMaxLength(128);
        e.HasIndex(x => new { x.Task, x.CreatedAt });
    }
}

/// <summary>The next due occurrence of a scheduled task; replicas claim it with a compare-and-set.</summary>
public sealed class MaintenanceScheduleRow
{
    public string Task { get; set; } = "";
    public DateTime NextRunAt { get; set; }
}

internal sealed class MaintenanceScheduleConfiguration : IEntityTypeConfiguration<MaintenanceScheduleRow>
{
    public void Configure(EntityTypeBuilder<MaintenanceScheduleRow> e)
    {
        e.ToTable("maintenance_schedules");
        e.HasKey(x => x.Task);
        e.Property(x => x.Task).HasMaxLength(64);
    }
}
