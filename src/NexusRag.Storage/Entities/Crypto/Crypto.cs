using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace NexusRag.Storage.Entities;

/// <summary>A version of a tenant's data key, wrapped by the KMS (the plaintext key is never stored).</summary>
public sealed class TenantDataKeyRow
{
    public string TenantId { get; set; } = "";
    public int Version { get; set; }
    public string Status { get; set; } = "";
    public string Provider { get; set; } = "";
    public string KeyAlias { get; set; } = "";
    public byte[] Wrapped { get; set; } = [];
    public DateTime CreatedAt { get; set; }
    public DateTime? RotatedAt { get; set; }
    public DateTime? RetiredAt { get; set; }
}

internal sealed class TenantDataKeyConfiguration : IEntityTypeConfiguration<TenantDataKeyRow>
{
    public void Configure(EntityTypeBuilder<TenantDataKeyRow> e)
    {
        e.ToTable("tenant_data_keys");
        e.HasKey(x => new { x.TenantId, x.Version });
        e.Property(x => x.Status).HasMaxLength(16);
        e.Property(x => x.Provider).HasMaxLength(32);
        e.Property(x => x.KeyAlias).HasMaxLength(256);
    }
}

/// <summary>The key check value of a key-encryption key, stored at first start so another key is refused at a later one.</summary>
public sealed class CryptoKeyCheckRow
{
    public string Provider { get; set; } = "";
    public string KeyAlias { get; set; } = "";
    public string Value { get; set; } = "";
    public DateTime CreatedAt { get; set; }
}

internal sealed class CryptoKeyCheckConfiguration : IEntityTypeConfiguration<CryptoKeyCheckRow>
{
    public void Configure(EntityTypeBuilder<CryptoKeyCheckRow> e)
    {
        e.ToTable("crypto_key_checks");
        e.HasKey(x => new { x.Provider, x.KeyAlias });
        e.Property(x => x.Provider).HasMaxLength(32);
        e.Property(x => x.KeyAlias).HasMaxLength(256);
    }
}

/// <summary>A tenant key rotation and its re-encryption progress (see <see cref="NexusRag.Core.Crypto.IRotationStore"/>).</summary>
public sealed class CryptoRotationRow
{
    public string Id { get; set; } = "";
    public string TenantId { get; set; } = "";
    public int? FromVersion { get; set; }
    public int ToVersion { get; set; }
    public bool Reencrypt { get; set; }
    public string? Reason { get; set; }
    public string RequestedBy { get; set; } = "";
    public string Status { get; set; } = "";
    public string? JobId { get; set; }
    public string ProgressJson { get; set; } = "{}";
    public string? ErrorCode { get; set; }
    public string? Error { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? FinishedAt { get; set; }
}

internal sealed class CryptoRotationConfiguration : IEntityTypeConfiguration<CryptoRotationRow>
{
    public void Configure(EntityTypeBuilder<CryptoRotationRow> e)
    {
        e.ToTable("crypto_rotations");
        e.HasKey(x => x.Id);
        e.Property(x => x.Status).HasMaxLength(16);
        e.HasIndex(x => new { x.TenantId, x.Status });
    }
}

/// <summary>A platform keyring key (signing, encryption, backup and webhook keys), its material wrapped by <c>KEYRING_MASTER_KEY</c>.</summary>
public sealed class KeyringKeyRow
{
    public string Id { get; set; } = "";
    public string Purpose { get; set; } = "";
    public string Status { get; set; } = "";
    public byte[] Wrapped { get; set; } = [];
    public string Fingerprint { get; set; } = "";
    public string CreatedBy { get; set; } = "";
    public DateTime CreatedAt { get; set; }
    public DateTime? RotatedAt { get; set; }
    public DateTime? RetiredAt { get; set; }
}

internal sealed class KeyringKeyConfiguration : IEntityTypeConfiguration<KeyringKeyRow>
{
    public void Configure(EntityTypeBuilder<KeyringKeyRow> e)
    {
        e.ToTable("keyring_keys");
        e.HasKey(x => x.Id);
        e.Property(x => x.Purpose).HasMaxLength(32);
        e.Property(x => x.Status).HasMaxLength(16);
        e.HasIndex(x => new { x.Purpose, x.Status });
    }
}
