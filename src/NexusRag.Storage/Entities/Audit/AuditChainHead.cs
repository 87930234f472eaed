using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>The head of a tenant's audit hash chain: appends lock this row, so concurrent writers chain correctly.</summary>
public sealed class AuditChainHeadRow
{
    public string TenantId { get; set; } = "";
    public long LastSeq { get; set; }
    public string? LastHash { get; set; }
}

internal sealed class AuditChainHeadConfiguration : IEntityTypeConfiguration<AuditChainHeadRow>
{
    public void Configure(EntityTypeBuilder<AuditChainHeadRow> e)
    {
        e.ToTable("audit_chain_heads");
        e.HasKey(x => x.TenantId);
    }
}
