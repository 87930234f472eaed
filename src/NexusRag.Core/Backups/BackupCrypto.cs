using System.Security.Cryptography;
using System.Text;

namespace NexusRag.Core.Backups;

/// <summary>A backup set that must not be restored: a checksum, signature or authentication tag does not match, or a key is wrong.</summary>
public sealed class BackupIntegrityException(string message) : Exception(message);

/// <summary>
/// Backup components in <see cref="Crypto.ChunkedGcm"/>'s streaming AES-256-GCM layout (magic <c>NXRBK1</c>, key
/// version 0), the component name as the associated context, so a component swapped for another fails to decrypt.
/// </summary>
public static class BackupCipher
{
    public const int ChunkSize = 1 << 20;
    private const string Magic = "NXRBK1";

    /// <summary>A 32-byte key from base64 or hex (<c>openssl rand -base64 32</c>); null when it is neither.</summary>
    public static byte[]? ParseKey(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var t = text.Trim();
        try
        {
            if (t.Length == 64 && t.All(Uri.IsHexDigit)) return Convert.FromHexString(t);
            var b = Convert.FromBase64String(t);
            return b.Length == 32 ? b : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>A short public fingerprint of a key (recorded in the manifest, so a wrong key is named as such).</summary>
    public static string KeyId(byte[] key) =>
        Convert.ToHexStringLower(SHA256.HashData([.. "nexusrag-backup-key-id:"u8, .. key]))[..16];

    public static async Task EncryptAsync(Stream plain, Stream output, byte[] key, string component, CancellationToken ct)
    {
        await using var sealer = new Crypto.GcmEncryptingStream(output, key, Crypto.ChunkedGcm.NewHeader(Magic, 0, ChunkSize), component, leaveOpen: true);
        await plain.CopyToAsync(sealer, ChunkSize, ct).ConfigureAwait(false);
    }

    /// <summary>Decrypts a component (<paramref name="encrypted"/> must be seekable: a file).</summary>
    public static async Task DecryptAsync(Stream encrypted, Stream output, byte[] key, string component, CancellationToken ct)
    {
        try
        {
            var header = Crypto.ChunkedGcm.ReadHeader(encrypted);
            if (header is null || header.Magic != Magic) throw new BackupIntegrityException($"component '{component}' is not an encrypted NexusRAG backup file");
            await using var opened = new Crypto.GcmDecryptingStream(encrypted, key, component, leaveOpen: true);
            await opened.CopyToAsync(output, ChunkSize, ct).ConfigureAwait(false);
        }
        catch (Crypto.ChunkedGcmException ex)
        {
            throw new BackupIntegrityException($"component '{component}' does not decrypt: a wrong BACKUP_ENCRYPTION_KEY, or the file was altered or truncated ({ex.Message})");
        }
    }
}

/// <summary>HMAC-SHA256 over the manifest's exact bytes (<c>manifest.sig</c>, hex).</summary>
public static class BackupSignature
{
    public static string Sign(byte[] manifest, string signingKey) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), manifest));

    public static bool Verify(byte[] manifest, string signingKey, string signatureHex)
    {
        byte[] given;
        try { given = Convert.FromHexString(signatureHex.Trim()); }
        catch (FormatException) { return false; }
        return CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(Encoding.UTF8.GetBytes(signingKey), manifest), given);
    }
}
