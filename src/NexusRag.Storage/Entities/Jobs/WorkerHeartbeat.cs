using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>One job-worker process: refreshed every few seconds while its loops run (<c>/v1/ops/health</c> reads its age).</summary>
public sealed class WorkerHeartbeatRow
{
    public string WorkerId { get; set; } = "";
    public string Role { get; set; } = "";
    public string Host { get; set; } = "";
    public int ProcessId { get; set; }
    public int Loops { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime LastSeenAt { get; set; }
}

internal sealed class WorkerHeartbeatConfiguration : IEntityTypeConfiguration<WorkerHeartbeatRow>
{
    public void Configure(EntityTypeBuilder<WorkerHeartbeatRow> e)
    {
        e.ToTable("worker_heartbeats");
        e.HasKey(x => x.WorkerId);
        e.Property(x => x.WorkerId).HasMaxLength(64);
        e.Property(x => x.Role).HasMaxLength(16);
        e.Property(x => x.Host).HasMaxLength(255);
        e.HasIndex(x => x.LastSeenAt);
    }
}
