using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace NexusRag.Core.Crypto;

/// <summary>The KMS could not be reached or refused to serve (a network failure, throttling, a disabled key): retry later.</summary>
public sealed class KmsUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The KMS answered that a wrapped key does not unwrap under its key-encryption key and context.</summary>
public sealed class KmsUnwrapException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The key-encryption key port: wraps and unwraps data keys; the key-encryption key never leaves the provider.
/// <paramref name="context"/> is bound to the wrap (AES-GCM associated data locally, the encryption context in AWS KMS),
/// so a data key wrapped for one tenant does not unwrap as another's. An AWS KMS, Azure Key Vault or GCP KMS adapter is
/// one class implementing this.
/// </summary>
public interface IKeyManagementService
{
    /// <summary>The provider's name (<c>local_kms</c>, <c>aws_kms</c>), recorded with each wrapped key.</summary>
    string Provider { get; }
    /// <exception cref="KmsUnavailableException">the provider cannot be reached</exception>
    Task<byte[]> WrapAsync(string keyAlias, byte[] dataKey, IReadOnlyDictionary<string, string> context, CancellationToken ct);
    /// <exception cref="KmsUnavailableException">the provider cannot be reached</exception>
    /// <exception cref="KmsUnwrapException">the wrapped key is not one of this key-encryption key and context</exception>
    Task<byte[]> UnwrapAsync(string keyAlias, byte[] wrapped, IReadOnlyDictionary<string, string> context, CancellationToken ct);
    /// <summary>
    /// A value that changes with the key-encryption key and reveals nothing of it, stored at first start so a different
    /// key at a later start is refused before it serves garbage; null when the provider cannot tell without a call.
    /// </summary>
    string? KeyCheckValue(string keyAlias);
}

/// <summary>
/// The built-in provider: the key-encryption key is <c>CRYPTO_LOCAL_MASTER_KEY</c> (32 bytes) held in process memory; a
/// wrapped key is <c>nonce(12) ‖ ciphertext(32) ‖ tag(16)</c> of AES-256-GCM, its associated data the alias and context.
/// </summary>
public sealed class LocalKms(IOptions<CryptoOptions> options) : IKeyManagementService
{
    private readonly Lazy<byte[]> _master = new(() => Backups.BackupCipher.ParseKey(options.Value.LocalMasterKey)
        ?? throw new KmsUnavailableException("CRYPTO_LOCAL_MASTER_KEY is not set to 32 bytes (base64 or hex)"));

    public string Provider => "local_kms";

    public Task<byte[]> WrapAsync(string keyAlias, byte[] dataKey, IReadOnlyDictionary<string, string> context, CancellationToken ct)
    {
        var output = new byte[12 + dataKey.Length + 16];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        using var gcm = new AesGcm(_master.Value, 16);
        gcm.Encrypt(output.AsSpan(0, 12), dataKey, output.AsSpan(12, dataKey.Length), output.AsSpan(12 + dataKey.Length), Aad(keyAlias, context));
        return Task.FromResult(output);
    }

    public Task<byte[]> UnwrapAsync(string keyAlias, byte[] wrapped, IReadOnlyDictionary<string, string> context, CancellationToken ct)
    {
        if (wrapped.Length < 12 + 16) throw new KmsUnwrapException("the wrapped key is truncated");
        var key = new byte[wrapped.Length - 28];
        try
        {
            using var gcm = new AesGcm(_master.Value, 16);
            gcm.Decrypt(wrapped.AsSpan(0, 12), wrapped.AsSpan(12, key.Length), wrapped.AsSpan(12 + key.Length), key, Aad(keyAlias, context));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new KmsUnwrapException("the wrapped key does not unwrap under CRYPTO_LOCAL_MASTER_KEY", ex);
        }
        return Task.FromResult(key);
    }

    public string? KeyCheckValue(string keyAlias) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(_master.Value, Encoding.UTF8.GetBytes("nexusrag-kcv-v1:" + keyAlias)))[..16];

    /// <summary>The alias and the context, sorted by name, so the same context always binds the same bytes.</summary>
    internal static byte[] Aad(string keyAlias, IReadOnlyDictionary<string, string> context)
    {
        var sb = new StringBuilder(keyAlias);
        foreach (var (k, v) in context.OrderBy(kv => kv.Key, StringComparer.Ordinal)) sb.Append('\n').Append(k).Append('=').Append(v);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }
}

/// <summary>
/// The start-up check of the key-encryption key: the first start with encryption on stores the provider's key check
/// value; a later start whose key gives another value is refused (one line), before it could seal with a key that no
/// earlier data opens with, or serve garbage.
/// </summary>
public static class KeyCheck
{
    public static async Task<string?> VerifyAsync(IKeyManagementService kms, ITenantKeyStore store, CryptoOptions options, CancellationToken ct)
    {
        if (!options.Enabled || kms.KeyCheckValue(options.DefaultKeyAlias) is not { } value) return null;
        var stored = await store.GetKeyCheckAsync(kms.Provider, options.DefaultKeyAlias, ct).ConfigureAwait(false);
        if (stored is null)
        {
            await store.SaveKeyCheckAsync(kms.Provider, options.DefaultKeyAlias, value, ct).ConfigureAwait(false);
            stored = await store.GetKeyCheckAsync(kms.Provider, options.DefaultKeyAlias, ct).ConfigureAwait(false);
        }
        return stored == value
            ? null
            : $"nexusrag: refusing to start: CRYPTO_LOCAL_MASTER_KEY is not the key this store's data keys are wrapped with (key check value {value}, stored {stored})";
    }
}
