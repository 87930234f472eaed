using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace NexusRag.Core.Crypto;

public static class DataKeyStatus
{
    /// <summary>Encrypts new data and decrypts.</summary>
    public const string Active = "active";
    /// <summary>Superseded by a rotation: decrypts what it sealed until re-encryption has moved it to the active key.</summary>
    public const string DecryptOnly = "decrypt_only";
    /// <summary>Nothing in the store is sealed with it any more (re-encryption finished); kept so older backups still restore.</summary>
    public const string Retired = "retired";
}

/// <summary>A tenant's data key version: the key itself only ever wrapped by the KMS.</summary>
public sealed record TenantDataKey(
    string TenantId, int Version, string Status, string Provider, string KeyAlias, byte[] Wrapped, DateTime CreatedAt, DateTime? RotatedAt, DateTime? RetiredAt);

/// <summary>Where wrapped data keys and the key check value live (the database). Every call runs on its own connection, never in a caller's transaction.</summary>
public interface ITenantKeyStore
{
    Task<IReadOnlyList<TenantDataKey>> ListAsync(string tenantId, CancellationToken ct);
    /// <summary>Adds <paramref name="key"/> unless the tenant has a key already (another replica was first): false then.</summary>
    Task<bool> TryAddFirstAsync(TenantDataKey key, CancellationToken ct);
    /// <summary>Makes <paramref name="next"/> the active key if <paramref name="fromVersion"/> is still active (that one becomes decrypt-only); false when another rotation got there first.</summary>
    Task<bool> TryRotateAsync(string tenantId, int fromVersion, TenantDataKey next, CancellationToken ct);
    Task SetStatusAsync(string tenantId, int version, string status, CancellationToken ct);
    /// <summary>Every tenant's active key created before <paramref name="cutoff"/> (due for scheduled rotation).</summary>
    Task<IReadOnlyList<TenantDataKey>> ActiveCreatedBeforeAsync(DateTime cutoff, CancellationToken ct);
    Task<string?> GetKeyCheckAsync(string provider, string keyAlias, CancellationToken ct);
    Task SaveKeyCheckAsync(string provider, string keyAlias, string value, CancellationToken ct);
}

/// <summary>
/// Seals and opens one tenant's fields. A sealed field is base64 of <c>nonce(12) ‖ ciphertext ‖ tag(16)</c>; its associated
/// data binds tenant, table, field, row id and key version, so a ciphertext copied to another row, column or tenant fails
/// to decrypt. <see cref="WriteVersion"/> null means plaintext (encryption off, or fail-open during a KMS outage).
/// </summary>
public sealed class TenantCipher
{
    private readonly IReadOnlyDictionary<int, byte[]> _keys;
    // One AES-GCM context per key version for the life of this cipher (a request, a batch): a key schedule per field
    // would cost more than the field's decryption. A cipher is used by one flow at a time, as AesGcm requires.
    private readonly Dictionary<int, AesGcm> _contexts = [];

    internal TenantCipher(string tenantId, int? writeVersion, IReadOnlyDictionary<int, byte[]> keys)
    {
        TenantId = tenantId;
        WriteVersion = writeVersion;
        _keys = keys;
    }

    public static TenantCipher Plaintext(string tenantId) => new(tenantId, null, new Dictionary<int, byte[]>());

    public string TenantId { get; }
    public int? WriteVersion { get; }

    /// <summary>The version's data key (for files sealed with <see cref="ChunkedGcm"/>); throws DECRYPTION_FAILED when this cipher does not hold it.</summary>
    public byte[] KeyOf(int version) => _keys.TryGetValue(version, out var k) ? k : throw CryptoErrors.DecryptionFailed($"key version {version} of tenant '{TenantId}' is unknown");

    public string Seal(string table, string field, string rowId, string plaintext) =>
        WriteVersion is { } v ? Convert.ToBase64String(SealBytes(table, field, rowId, Encoding.UTF8.GetBytes(plaintext))) : plaintext;

    public string? SealNullable(string table, string field, string rowId, string? plaintext) =>
        plaintext is null ? null : Seal(table, field, rowId, plaintext);

    public byte[] SealBytes(string table, string field, string rowId, byte[] plaintext)
    {
        if (WriteVersion is not { } v) return plaintext;
        var output = new byte[12 + plaintext.Length + 16];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        Context(v).Encrypt(output.AsSpan(0, 12), plaintext, output.AsSpan(12, plaintext.Length), output.AsSpan(12 + plaintext.Length), Aad(table, field, rowId, v));
        return output;
    }

    /// <summary>The plaintext of a stored field; <paramref name="version"/> null means it was stored in plaintext.</summary>
    public string Open(string table, string field, string rowId, string stored, int? version)
    {
        if (version is null) return stored;
        byte[] bytes;
        try { bytes = Convert.FromBase64String(stored); }
        catch (FormatException) { throw CryptoErrors.DecryptionFailed($"{table}.{field} of {rowId} is not a sealed value"); }
        return Encoding.UTF8.GetString(OpenBytes(table, field, rowId, bytes, version));
    }

    public string? OpenNullable(string table, string field, string rowId, string? stored, int? version) =>
        stored is null ? null : Open(table, field, rowId, stored, version);

    public byte[] OpenBytes(string table, string field, string rowId, byte[] stored, int? version)
    {
        if (version is not { } v) return stored;
        if (stored.Length < 28) throw CryptoErrors.DecryptionFailed($"{table}.{field} of {rowId} is truncated");
        var plain = new byte[stored.Length - 28];
        try
        {
            Context(v).Decrypt(stored.AsSpan(0, 12), stored.AsSpan(12, plain.Length), stored.AsSpan(12 + plain.Length), plain, Aad(table, field, rowId, v));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw CryptoErrors.DecryptionFailed($"{table}.{field} of {rowId}");
        }
        return plain;
    }

    private AesGcm Context(int version)
    {
        if (!_contexts.TryGetValue(version, out var gcm)) _contexts[version] = gcm = new AesGcm(KeyOf(version), 16);
        return gcm;
    }

    private byte[] Aad(string table, string field, string rowId, int version) =>
        Encoding.UTF8.GetBytes($"nexusrag-field-v1\n{TenantId}\n{table}.{field}\n{rowId}\n{version}");
}

/// <summary>
/// Per-tenant data keys: creates a tenant's first key on its first sensitive write, unwraps keys through the KMS and keeps
/// them in memory for <see cref="CryptoOptions.KeyCacheSeconds"/>, and learns the active version again every two seconds,
/// so a rotation on another replica is followed within that. Applies the fail mode when the KMS is out.
/// </summary>
public sealed class DataKeyService(
    IKeyManagementService kms, ITenantKeyStore store, IOptions<CryptoOptions> options, TimeProvider clock, ILogger<DataKeyService> logger)
{
    /// <summary>How long the active version is trusted before the store is asked again (rotation reaches every replica within it).</summary>
    public static readonly TimeSpan ActiveVersionTtl = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, (IReadOnlyList<TenantDataKey> Keys, DateTimeOffset Until)> _lists = new();
    private readonly ConcurrentDictionary<(string Tenant, int Version), (byte[] Key, DateTimeOffset Until)> _unwrapped = new();

    public bool Enabled => options.Value.Enabled;
    public CryptoOptions Options => options.Value;
    public IKeyManagementService Kms => kms;

    /// <summary>
    /// A cipher that seals with the tenant's active key (creating the tenant's first key when it has none). Call it before
    /// opening a write transaction: creating a key commits on its own connection.
    /// </summary>
    public async Task<TenantCipher> ForWriteAsync(string tenantId, CancellationToken ct)
    {
        var o = options.Value;
        if (!o.Enabled) return TenantCipher.Plaintext(tenantId);
        try
        {
            var keys = await KeysAsync(tenantId, ct).ConfigureAwait(false);
            var active = keys.FirstOrDefault(k => k.Status == DataKeyStatus.Active) ?? await CreateFirstAsync(tenantId, ct).ConfigureAwait(false);
            var key = await UnwrapAsync(active, ct).ConfigureAwait(false);
            return new TenantCipher(tenantId, active.Version, new Dictionary<int, byte[]> { [active.Version] = key });
        }
        catch (KmsUnavailableException ex)
        {
            if (o.FailClosed) throw CryptoErrors.KmsUnavailable(ex.Message);
            if (o.RequireForSensitive) throw CryptoErrors.EncryptionRequired(ex.Message);
            logger.LogWarning("KMS unavailable ({Reason}); CRYPTO_FAIL_MODE=open: writing tenant {TenantId}'s data in plaintext until it is back", ex.Message, tenantId);
            return TenantCipher.Plaintext(tenantId);
        }
    }

    /// <summary>A cipher that opens what was sealed with any of <paramref name="versions"/> (nulls, plaintext rows, need no key).</summary>
    public async Task<TenantCipher> ForReadAsync(string tenantId, IEnumerable<int?> versions, CancellationToken ct)
    {
        var wanted = versions.OfType<int>().Distinct().ToList();
        if (wanted.Count == 0) return TenantCipher.Plaintext(tenantId);
        var found = new Dictionary<int, byte[]>();
        try
        {
            var keys = await KeysAsync(tenantId, ct).ConfigureAwait(false);
            foreach (var v in wanted)
            {
                var k = keys.FirstOrDefault(x => x.Version == v);
                if (k is null)
                {
                    keys = await KeysAsync(tenantId, ct, refresh: true).ConfigureAwait(false); // created on another replica a moment ago
                    k = keys.FirstOrDefault(x => x.Version == v) ?? throw CryptoErrors.DecryptionFailed($"tenant '{tenantId}' has no key version {v}");
                }
                found[v] = await UnwrapAsync(k, ct).ConfigureAwait(false);
            }
        }
        catch (KmsUnavailableException ex)
        {
            throw CryptoErrors.KmsUnavailable(ex.Message);
        }
        return new TenantCipher(tenantId, null, found);
    }

    /// <summary>The tenant's keys as the store has them now (for the keys API).</summary>
    public Task<IReadOnlyList<TenantDataKey>> ListAsync(string tenantId, CancellationToken ct) => KeysAsync(tenantId, ct, refresh: true);

    /// <summary>A new data key version wrapped by the KMS (not yet stored).</summary>
    public async Task<TenantDataKey> NewKeyAsync(string tenantId, int version, CancellationToken ct)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        try
        {
            var wrapped = await kms.WrapAsync(options.Value.DefaultKeyAlias, key, Context(tenantId, version), ct).ConfigureAwait(false);
            return new TenantDataKey(tenantId, version, DataKeyStatus.Active, kms.Provider, options.Value.DefaultKeyAlias, wrapped, clock.GetUtcNow().UtcDateTime, null, null);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Forgets what is cached of the tenant's key list (after a rotation here).</summary>
    public void Invalidate(string tenantId) => _lists.TryRemove(tenantId, out _);

    private async Task<TenantDataKey> CreateFirstAsync(string tenantId, CancellationToken ct)
    {
        var first = await NewKeyAsync(tenantId, 1, ct).ConfigureAwait(false);
        if (!await store.TryAddFirstAsync(first, ct).ConfigureAwait(false))
            logger.LogDebug("Tenant {TenantId}'s first data key was created by another replica", tenantId);
        var keys = await KeysAsync(tenantId, ct, refresh: true).ConfigureAwait(false);
        return keys.FirstOrDefault(k => k.Status == DataKeyStatus.Active)
            ?? throw new InvalidOperationException($"tenant '{tenantId}' has keys but none is active");
    }

    private async Task<IReadOnlyList<TenantDataKey>> KeysAsync(string tenantId, CancellationToken ct, bool refresh = false)
    {
        var now = clock.GetUtcNow();
        if (!refresh && _lists.TryGetValue(tenantId, out var cached) && cached.Until > now) return cached.Keys;
        var keys = await store.ListAsync(tenantId, ct).ConfigureAwait(false);
        _lists[tenantId] = (keys, now + ActiveVersionTtl);
        return keys;
    }

    private async Task<byte[]> UnwrapAsync(TenantDataKey k, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        if (_unwrapped.TryGetValue((k.TenantId, k.Version), out var hit) && hit.Until > now) return hit.Key;
        try
        {
            var key = await kms.UnwrapAsync(k.KeyAlias, k.Wrapped, Context(k.TenantId, k.Version), ct).ConfigureAwait(false);
            _unwrapped[(k.TenantId, k.Version)] = (key, now + TimeSpan.FromSeconds(options.Value.KeyCacheSeconds));
            return key;
        }
        catch (KmsUnwrapException ex)
        {
            throw CryptoErrors.DecryptionFailed($"data key version {k.Version} of tenant '{k.TenantId}' does not unwrap: {ex.Message}");
        }
    }

    private static Dictionary<string, string> Context(string tenantId, int version) => new()
    {
        ["nexusrag:tenant"] = tenantId, ["nexusrag:key_version"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
