using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>An explicit grant on a document (the creator's owner entry, or one an admin added).</summary>
public sealed class DocumentPermissionRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string DocumentId { get; set; } = "";
    public string PrincipalType { get; set; } = "";
    public string PrincipalId { get; set; } = "";
    public string Permission { get; set; } = "";
    public DateTime? ExpiresAt { get; set; }
    public DateTime CreatedAt { get; set; }
    public string CreatedBy { get; set; } = "";
}

internal sealed class DocumentPermissionConfiguration : IEntityTypeConfiguration<DocumentPermissionRow>
{
    public void Configure(EntityTypeBuilder<DocumentPermissionRow> e)
    {
        e.ToTable("document_permissions");
        e.HasKey(x => x.Id);
        e.Property(x => x.PrincipalType).HasMaxLength(16);
        e.Property(x => x.PrincipalId).HasMaxLength(128);
        e.Property(x => x.Permission).HasMaxLength(16);
        e.HasIndex(x => new { x.TenantId, x.DocumentId });
        e.HasIndex(x => new { x.TenantId, x.PrincipalType, x.PrincipalId });
    }
}

/// <summary>An ABAC policy of a tenant.</summary>
public sealed class AuthzPolicyRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public string Name { get; set; } = "";
    public string Effect { get; set; } = "";
    public string ResourceType { get; set; } = "";
    public string Action { get; set; } = "";
    public int Priority { get; set; }
    public string ConditionJson { get; set; } = "";
    public bool Enabled { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

internal sealed class AuthzPolicyConfiguration : IEntityTypeConfiguration<AuthzPolicyRow>
{
    public void Configure(EntityTypeBuilder<AuthzPolicyRow> e)
    {
        e.ToTable("authz_policies");
        e.HasKey(x => x.Id);
        e.Property(x => x.Name).HasMaxLength(128);
        e.Property(x => x.Effect).HasMaxLength(8);
        e.Property(x => x.ResourceType).HasMaxLength(32);
        e.Property(x => x.Action).HasMaxLength(32);
        e.HasIndex(x => new { x.TenantId, x.Name }).IsUnique();
    }
}
