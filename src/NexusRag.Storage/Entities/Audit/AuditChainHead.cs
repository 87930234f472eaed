using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>The head of a tenant's audit hash chain: appends lock this row, so concurrent writers chain correctly.</summary>
public sealed class AuditChainHeadRow
{
    public string TenantId { get; set; } = "";
    public long LastSeq { get; set; }
    public string? LastHash { get; set; }
    /// <summary>Events up to this position were pruned (<c>prune_audit</c>); the chain continues from <see cref="CheckpointHash"/>.</summary>
    public long CheckpointSeq { get; set; }
    /// <summary>The hash of the last pruned event: the first kept event's <c>prev_hash</c>.</summary>
    public string? CheckpointHash { get; set; }
    public DateTime? CheckpointAt { get; set; }
}

internal sealed class AuditChainHeadConfiguration : IEntityTypeConfiguration<AuditChainHeadRow>
{
    public void Configure(EntityTypeBuilder<AuditChainHeadRow> e)
    {
        e.ToTable("audit_chain_heads");
        e.HasKey(x => x.TenantId);
    }
}
