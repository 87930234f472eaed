using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace NexusRag.Core.Backups;

/// <summary>A backup set that must not be restored: a checksum, signature or authentication tag does not match, or a key is wrong.</summary>
public sealed class BackupIntegrityException(string message) : Exception(message);

/// <summary>
/// Streaming AES-256-GCM for backup components, so a file of any size is encrypted and decrypted in constant memory.
/// Layout: a 16-byte header (<c>NXRBK1</c>, 2 reserved bytes, the chunk size, a random 4-byte nonce prefix), then chunks
/// of <c>[int32 length][ciphertext][16-byte tag]</c>. Each chunk's nonce is the prefix and its 64-bit index; its
/// associated data binds the header, the component name, the index and whether it is the last chunk, so reordered,
/// truncated, extended or swapped-between-components data fails to decrypt.
/// </summary>
public static class BackupCipher
{
    public const int ChunkSize = 1 << 20;
    private static readonly byte[] Magic = "NXRBK1\0\0"u8.ToArray();
    private const int TagSize = 16;

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
        var header = new byte[16];
        Magic.AsSpan(0, 8).CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), ChunkSize);
        RandomNumberGenerator.Fill(header.AsSpan(12, 4));
        await output.WriteAsync(header, ct).ConfigureAwait(false);
        using var gcm = new AesGcm(key, TagSize);
        var buffer = new byte[ChunkSize];
        var next = new byte[ChunkSize];
        var cipher = new byte[ChunkSize];
        var tag = new byte[TagSize];
        var length = new byte[4];
        long index = 0;
        var n = await plain.ReadAtLeastAsync(buffer, ChunkSize, throwOnEndOfStream: false, ct).ConfigureAwait(false);
        while (true)
        {
            // Read ahead one chunk so the last one is known as such when it is sealed.
            var m = n < ChunkSize ? 0 : await plain.ReadAtLeastAsync(next, ChunkSize, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            var final = m == 0;
            gcm.Encrypt(Nonce(header, index), buffer.AsSpan(0, n), cipher.AsSpan(0, n), tag, Aad(header, component, index, final));
            BinaryPrimitives.WriteInt32LittleEndian(length, n);
            await output.WriteAsync(length, ct).ConfigureAwait(false);
            await output.WriteAsync(cipher.AsMemory(0, n), ct).ConfigureAwait(false);
            await output.WriteAsync(tag, ct).ConfigureAwait(false);
            if (final) return;
            (buffer, next) = (next, buffer);
            n = m;
            index++;
        }
    }

    public static async Task DecryptAsync(Stream encrypted, Stream output, byte[] key, string component, CancellationToken ct)
    {
        var header = new byte[16];
        if (await encrypted.ReadAtLeastAsync(header, 16, throwOnEndOfStream: false, ct).ConfigureAwait(false) < 16 || !header.AsSpan(0, 8).SequenceEqual(Magic))
            throw new BackupIntegrityException($"component '{component}' is not an encrypted NexusRAG backup file");
        var chunkSize = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
        if (chunkSize is < 1 or > 64 << 20) throw new BackupIntegrityException($"component '{component}' has a corrupt header");
        using var gcm = new AesGcm(key, TagSize);
        var cipher = new byte[chunkSize];
        var plain = new byte[chunkSize];
        var tag = new byte[TagSize];
        var length = new byte[4];
        long index = 0;
        if (await encrypted.ReadAtLeastAsync(length, 4, throwOnEndOfStream: false, ct).ConfigureAwait(false) < 4)
            throw new BackupIntegrityException($"component '{component}' is truncated (no chunk)");
        while (true)
        {
            var n = BinaryPrimitives.ReadInt32LittleEndian(length);
            if (n < 0 || n > chunkSize) throw new BackupIntegrityException($"component '{component}' has a corrupt chunk length");
            if (await encrypted.ReadAtLeastAsync(cipher.AsMemory(0, n), n, throwOnEndOfStream: false, ct).ConfigureAwait(false) < n
                || await encrypted.ReadAtLeastAsync(tag, TagSize, throwOnEndOfStream: false, ct).ConfigureAwait(false) < TagSize)
                throw new BackupIntegrityException($"component '{component}' is truncated");
            // A chunk is the last one when nothing follows it; the tag then proves the writer sealed it as last.
            var more = await encrypted.ReadAtLeastAsync(length, 4, throwOnEndOfStream: false, ct).ConfigureAwait(false);
            if (more is > 0 and < 4) throw new BackupIntegrityException($"component '{component}' is truncated");
            var final = more == 0;
            if (!Open(gcm, header, component, index, final, cipher, tag, plain, n))
                throw new BackupIntegrityException($"component '{component}' does not decrypt: a wrong BACKUP_ENCRYPTION_KEY, or the file was altered or truncated");
            await output.WriteAsync(plain.AsMemory(0, n), ct).ConfigureAwait(false);
            if (final) return;
            index++;
        }
    }

    private static bool Open(AesGcm gcm, byte[] header, string component, long index, bool final, byte[] cipher, byte[] tag, byte[] plain, int n)
    {
        try
        {
            gcm.Decrypt(Nonce(header, index), cipher.AsSpan(0, n), tag, plain.AsSpan(0, n), Aad(header, component, index, final));
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    private static byte[] Nonce(byte[] header, long index)
    {
        var nonce = new byte[12];
        header.AsSpan(12, 4).CopyTo(nonce);
        BinaryPrimitives.WriteInt64BigEndian(nonce.AsSpan(4), index);
        return nonce;
    }

    private static byte[] Aad(byte[] header, string component, long index, bool final)
    {
        var name = Encoding.UTF8.GetBytes(component);
        var aad = new byte[16 + name.Length + 9];
        header.CopyTo(aad, 0);
        name.CopyTo(aad, 16);
        BinaryPrimitives.WriteInt64BigEndian(aad.AsSpan(16 + name.Length), index);
        aad[^1] = final ? (byte)1 : (byte)0;
        return aad;
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
