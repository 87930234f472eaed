using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Crypto;

/// <summary>The platform keyring (seed "Keyring admin APIs"): <c>KEYRING_MASTER_KEY</c>, <c>KEYRING_MASTER_KEY_REQUIRED</c>.</summary>
public sealed class KeyringOptions : IHasParseErrors
{
    /// <summary>32 bytes, base64 or hex: the key-encryption key of every keyring key.</summary>
    [FlatName("KEYRING_MASTER_KEY")] public string? MasterKey { get; set; }
    /// <summary>true: without a master key, rotation fails closed (503 <c>KEYRING_NOT_CONFIGURED</c>); false: the keyring is optional (409 <c>KEYRING_DISABLED</c>).</summary>
    [FlatName("KEYRING_MASTER_KEY_REQUIRED")] public bool MasterKeyRequired { get; set; }
    public List<string> ParseErrors { get; } = [];
}

public static class KeyringPurposes
{
    public static readonly string[] All = ["signing", "encryption", "backup_signing", "backup_encryption", "webhook_signing"];
}

public static class KeyringStatus
{
    /// <summary>Signs and encrypts.</summary>
    public const string Active = "active";
    /// <summary>Rotated out: verifies and decrypts only.</summary>
    public const string Inactive = "inactive";
    /// <summary>Not used for anything any more.</summary>
    public const string Retired = "retired";
}

/// <summary>A keyring key's public facts (its material never leaves the keyring unwrapped except to its consumer in process).</summary>
public sealed record KeyringKey(string Id, string Purpose, string Status, string Fingerprint, string CreatedBy, DateTime CreatedAt, DateTime? RotatedAt, DateTime? RetiredAt);

public interface IKeyringStore
{
    Task<IReadOnlyList<KeyringKey>> ListAsync(CancellationToken ct);
    Task<(KeyringKey Key, byte[] Wrapped)?> GetAsync(string id, CancellationToken ct);
    Task<(KeyringKey Key, byte[] Wrapped)?> ActiveAsync(string purpose, CancellationToken ct);
    /// <summary>Adds <paramref name="key"/> as the purpose's active key; the one active before becomes inactive (in the caller's unit of work).</summary>
    Task AddActiveAsync(KeyringKey key, byte[] wrapped, CancellationToken ct);
    /// <summary>Retires an inactive key; false when it is not inactive any more.</summary>
    Task<bool> RetireAsync(string id, DateTime at, CancellationToken ct);
}

/// <summary>
/// Platform keys by purpose (signing, encryption, backup signing and encryption, webhook signing), each 32 random
/// bytes wrapped with AES-256-GCM under <c>KEYRING_MASTER_KEY</c> (associated data: key id and purpose). Rotation makes a
/// new active key and keeps the old one for verification and decryption until it is retired.
/// </summary>
public sealed class Keyring(IKeyringStore store, IOptions<KeyringOptions> options, TimeProvider clock)
{
    public bool Configured => Backups.BackupCipher.ParseKey(options.Value.MasterKey) is not null;
    public bool Required => options.Value.MasterKeyRequired;

    public async Task<KeyringKey> NewKeyAsync(string purpose, string actor, CancellationToken ct)
    {
        if (!KeyringPurposes.All.Contains(purpose)) throw NexusException.Validation("purpose", $"must be one of {string.Join(", ", KeyringPurposes.All)}");
        var master = Master();
        var material = RandomNumberGenerator.GetBytes(32);
        var id = Services.Identifiers.NewId("kr");
        var wrapped = new byte[12 + 32 + 16];
        RandomNumberGenerator.Fill(wrapped.AsSpan(0, 12));
        using (var gcm = new AesGcm(master, 16))
            gcm.Encrypt(wrapped.AsSpan(0, 12), material, wrapped.AsSpan(12, 32), wrapped.AsSpan(44), Aad(id, purpose));
        var key = new KeyringKey(id, purpose, KeyringStatus.Active, Fingerprint(material), actor, clock.GetUtcNow().UtcDateTime, null, null);
        CryptographicOperations.ZeroMemory(material);
        await store.AddActiveAsync(key, wrapped, ct).ConfigureAwait(false);
        return key;
    }

    public async Task<KeyringKey> RetireAsync(string id, CancellationToken ct)
    {
        var found = await store.GetAsync(id, ct).ConfigureAwait(false) ?? throw NexusException.NotFound("keyring_key", id);
        switch (found.Key.Status)
        {
            case KeyringStatus.Retired:
                throw NexusException.Conflict(CryptoErrorCodes.KeyNotActive, $"Keyring key '{id}' is already retired");
            case KeyringStatus.Active:
                throw NexusException.Conflict("KEYRING_KEY_ACTIVE", $"Keyring key '{id}' is the active {found.Key.Purpose} key: rotate the purpose first, then retire it");
        }
        var now = clock.GetUtcNow().UtcDateTime;
        if (!await store.RetireAsync(id, now, ct).ConfigureAwait(false))
            throw NexusException.Conflict(CryptoErrorCodes.KeyNotActive, $"Keyring key '{id}' changed meanwhile");
        return found.Key with { Status = KeyringStatus.Retired, RetiredAt = now };
    }

    /// <summary>The purpose's active key and its material (for signing or sealing in process); null when the purpose has none.</summary>
    public async Task<(KeyringKey Key, byte[] Material)?> ActiveMaterialAsync(string purpose, CancellationToken ct) =>
        await store.ActiveAsync(purpose, ct).ConfigureAwait(false) is { } a ? (a.Key, Unwrap(a.Key, a.Wrapped)) : null;

    /// <summary>A key's material by id, for verifying or decrypting what an inactive key made; retired keys refuse (<c>KEY_NOT_ACTIVE</c>).</summary>
    public async Task<byte[]> MaterialAsync(string id, CancellationToken ct)
    {
        var found = await store.GetAsync(id, ct).ConfigureAwait(false) ?? throw NexusException.NotFound("keyring_key", id);
        if (found.Key.Status == KeyringStatus.Retired) throw NexusException.Conflict(CryptoErrorCodes.KeyNotActive, $"Keyring key '{id}' is retired");
        return Unwrap(found.Key, found.Wrapped);
    }

    private byte[] Unwrap(KeyringKey key, byte[] wrapped)
    {
        var material = new byte[32];
        try
        {
            using var gcm = new AesGcm(Master(), 16);
            gcm.Decrypt(wrapped.AsSpan(0, 12), wrapped.AsSpan(12, 32), wrapped.AsSpan(44, 16), material, Aad(key.Id, key.Purpose));
        }
        catch (Exception ex) when (ex is AuthenticationTagMismatchException or ArgumentException)
        {
            throw CryptoErrors.DecryptionFailed($"keyring key {key.Id} (KEYRING_MASTER_KEY is not the key it was wrapped with)");
        }
        return material;
    }

    private byte[] Master()
    {
        if (Backups.BackupCipher.ParseKey(options.Value.MasterKey) is { } master) return master;
        throw options.Value.MasterKeyRequired
            ? new NexusException(ErrorKind.Unavailable, CryptoErrorCodes.KeyringNotConfigured, "KEYRING_MASTER_KEY is not set and KEYRING_MASTER_KEY_REQUIRED=true: the keyring fails closed")
            : new NexusException(ErrorKind.Conflict, CryptoErrorCodes.KeyringDisabled, "The keyring is off: set KEYRING_MASTER_KEY (32 bytes, base64 or hex) to use it");
    }

    private static byte[] Aad(string id, string purpose) => Encoding.UTF8.GetBytes($"nexusrag-keyring-v1\n{id}\n{purpose}");

    /// <summary>A public fingerprint of the material (names the key in evidence without revealing it).</summary>
    public static string Fingerprint(byte[] material) => Convert.ToHexStringLower(SHA256.HashData([.. "nexusrag-keyring-fp:"u8, .. material]))[..16];
}
