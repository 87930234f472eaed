using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using NexusRag.Core.Crypto;
using NexusRag.Core.Documents;

namespace NexusRag.Storage.Originals;

/// <summary>
/// Originals in a folder (default <c>{data dir}/originals</c>): <c>{tenant}/{sha[0..2]}/{sha}</c>, written once and never
/// changed. Uploads stream into <c>.staging/</c> on the same file system and are renamed into place, so a reader never sees
/// a partial file. Replicas on several hosts share it through a common mount.
/// With encryption at rest an original is <c>{sha}.enc</c>, sealed (<see cref="ChunkedGcm"/>, magic <c>NXORG1</c>) with
/// the tenant's data key, its context binding tenant and hash, so a file moved to another tenant or name does not open;
/// staged uploads are sealed with a key that lives only in this process's memory until they are committed.
/// </summary>
public sealed class LocalOriginalStore(IOptions<StorageOptions> options, DataKeyService dataKeys) : IOriginalStore
{
    internal const string SealedMagic = "NXORG1";
    internal const string SealedSuffix = ".enc";
    private const int SealedChunkSize = 64 * 1024; // small chunks: a seek reads (and authenticates) little
    private readonly byte[] _stagingKey = RandomNumberGenerator.GetBytes(32);

    private string Root => options.Value.ResolveOriginalsDir();

    public async Task<StagedOriginal> StageAsync(Stream content, long maxBytes, CancellationToken ct)
    {
        var staging = Path.Combine(Root, ".staging");
        Directory.CreateDirectory(staging);
        var name = Guid.NewGuid().ToString("N");
        var path = Path.Combine(staging, name);
        var seal = dataKeys.Enabled;
        var context = "staging:" + name;
        var buffer = new byte[128 * 1024];
        long total = 0;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            await using (var sink = seal ? new GcmEncryptingStream(file, _stagingKey, ChunkedGcm.NewHeader(SealedMagic, 0, SealedChunkSize), context, leaveOpen: true) : (Stream)file)
            {
                int n;
                while ((n = await content.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    total += n;
                    if (total > maxBytes) throw new OriginalTooLargeException(maxBytes);
                    sha.AppendData(buffer, 0, n);
                    await sink.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                }
            }
            return new StagedOriginal(path, Convert.ToHexStringLower(sha.GetHashAndReset()), total,
                seal ? file => new GcmDecryptingStream(file, _stagingKey, context) : null);
        }
        catch
        {
            TryDelete(path);
            throw;
        }
    }

    public async Task CommitAsync(string tenantId, StagedOriginal staged, CancellationToken ct)
    {
        var plainTarget = PathOf(tenantId, staged.Sha256);
        var sealedTarget = plainTarget + SealedSuffix;
        if (File.Exists(sealedTarget) || File.Exists(plainTarget)) return; // the tenant has these bytes already
        Directory.CreateDirectory(Path.GetDirectoryName(plainTarget)!);
        var cipher = await dataKeys.ForWriteAsync(tenantId, ct).ConfigureAwait(false);
        if (cipher.WriteVersion is null && !staged.Sealed)
        {
            // Staging is on the same file system: a rename, atomic, with no copy of the bytes. The staged file is consumed.
            MoveIntoPlace(staged.Path, plainTarget);
            return;
        }
        // Re-seal under the tenant's key (or, encryption being off or the KMS out under fail-open, write it plain) and rename into place.
        var temp = Path.Combine(Root, ".staging", Guid.NewGuid().ToString("N"));
        try
        {
            await using (var input = staged.OpenRead())
                await WriteAsync(input, temp, cipher, tenantId, staged.Sha256, ct).ConfigureAwait(false);
            MoveIntoPlace(temp, cipher.WriteVersion is null ? plainTarget : sealedTarget);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    public async Task<Stream?> OpenReadAsync(string tenantId, string sha256, CancellationToken ct)
    {
        if (!IsDigest(sha256)) return null; // a row from before originals were kept
        var path = PathOf(tenantId, sha256);
        var sealedPath = path + SealedSuffix;
        try
        {
            if (File.Exists(sealedPath)) return await OpenSealedAsync(sealedPath, tenantId, sha256, ct).ConfigureAwait(false);
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, FileOptions.Asynchronous);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public Task DeleteAsync(string tenantId, string sha256, CancellationToken ct)
    {
        if (!IsDigest(sha256)) return Task.CompletedTask;
        TryDelete(PathOf(tenantId, sha256));
        TryDelete(PathOf(tenantId, sha256) + SealedSuffix);
        return Task.CompletedTask;
    }

    /// <summary>The tenant's originals on disk: (hash, sealed key version or null when plaintext).</summary>
    internal IEnumerable<(string Sha256, int? Version)> List(string tenantId)
    {
        var dir = Path.Combine(Root, tenantId);
        if (!Directory.Exists(dir) || tenantId.StartsWith('.')) yield break;
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            var name = Path.GetFileName(file);
            if (name.EndsWith(SealedSuffix, StringComparison.Ordinal) && IsDigest(name[..^SealedSuffix.Length]))
                yield return (name[..^SealedSuffix.Length], HeaderVersion(file));
            else if (IsDigest(name)) yield return (name, null);
        }
    }

    internal IEnumerable<string> Tenants() =>
        Directory.Exists(Root) ? Directory.EnumerateDirectories(Root).Select(Path.GetFileName).OfType<string>().Where(n => !n.StartsWith('.')) : [];

    /// <summary>Re-seals one original with <paramref name="cipher"/>'s key (a plaintext one is sealed and its plain file removed).</summary>
    internal async Task ResealAsync(string tenantId, string sha256, TenantCipher cipher, CancellationToken ct)
    {
        var path = PathOf(tenantId, sha256);
        var temp = Path.Combine(Root, ".staging", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.GetDirectoryName(temp)!);
        try
        {
            await using (var input = await OpenReadAsync(tenantId, sha256, ct).ConfigureAwait(false))
            {
                if (input is null) return; // deleted meanwhile
                await WriteAsync(input, temp, cipher, tenantId, sha256, ct).ConfigureAwait(false);
            }
            File.Move(temp, path + SealedSuffix, overwrite: true);
            TryDelete(path);
        }
        finally
        {
            TryDelete(temp);
        }
    }

    private async Task<Stream> OpenSealedAsync(string path, string tenantId, string sha256, CancellationToken ct)
    {
        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, FileOptions.RandomAccess);
        try
        {
            var header = ChunkedGcm.ReadHeader(file);
            if (header?.Magic != SealedMagic) throw CryptoErrors.DecryptionFailed($"original {sha256} is not a sealed original");
            var cipher = await dataKeys.ForReadAsync(tenantId, [header.KeyVersion], ct).ConfigureAwait(false);
            var opened = new GcmDecryptingStream(file, cipher.KeyOf(header.KeyVersion), Context(tenantId, sha256));
            opened.AuthenticateFirstChunk();
            return opened;
        }
        catch (ChunkedGcmException)
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw CryptoErrors.DecryptionFailed($"original {sha256} of tenant '{tenantId}'");
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task WriteAsync(Stream input, string path, TenantCipher cipher, string tenantId, string sha256, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous);
        if (cipher.WriteVersion is not { } v)
        {
            await input.CopyToAsync(file, ct).ConfigureAwait(false);
            return;
        }
        await using var sealer = new GcmEncryptingStream(file, cipher.KeyOf(v), ChunkedGcm.NewHeader(SealedMagic, v, SealedChunkSize), Context(tenantId, sha256), leaveOpen: true);
        await input.CopyToAsync(sealer, SealedChunkSize, ct).ConfigureAwait(false);
    }

    private static int? HeaderVersion(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            return ChunkedGcm.ReadHeader(f)?.KeyVersion;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string Context(string tenantId, string sha256) => $"original:{tenantId}:{sha256}";

    private static void MoveIntoPlace(string source, string target)
    {
        try
        {
            File.Move(source, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            // Another upload of the same bytes got there first; its file is this one.
        }
    }

    private string PathOf(string tenantId, string sha256)
    {
        if (!IsDigest(sha256)) throw new ArgumentException("not a SHA-256 hex digest", nameof(sha256));
        if (tenantId.Length == 0 || tenantId.Contains('/') || tenantId.Contains('\\') || tenantId.StartsWith('.'))
            throw new ArgumentException("not a tenant id", nameof(tenantId));
        return Path.Combine(Root, tenantId, sha256[..2], sha256);
    }

    private static bool IsDigest(string sha256) => sha256.Length == 64 && sha256.All(Uri.IsHexDigit);

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Originals onto the tenant's current key (plaintext ones sealed), one file at a time under the original's lock.</summary>
public sealed class OriginalReencryption(LocalOriginalStore store, OriginalLocks locks) : IReencryptionTarget, IPlaintextFinder
{
    public string Name => "originals";

    public Task<long> CountPendingAsync(string tenantId, int version, CancellationToken ct) =>
        Task.FromResult((long)store.List(tenantId).Count(f => f.Version != version));

    public Task<IReadOnlyList<string>> TenantsWithPlaintextAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<string>>(store.Tenants().Where(t => store.List(t).Any(f => f.Version is null)).ToList());

    public async Task<int> ReencryptBatchAsync(string tenantId, TenantCipher cipher, int batchSize, CancellationToken ct)
    {
        var pending = store.List(tenantId).Where(f => f.Version != cipher.WriteVersion).Take(batchSize).ToList();
        foreach (var (sha, _) in pending)
        {
            using (await locks.AcquireAsync(tenantId, sha, ct).ConfigureAwait(false))
                await store.ResealAsync(tenantId, sha, cipher, ct).ConfigureAwait(false);
        }
        return pending.Count;
    }
}
