using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using NexusRag.Core.Documents;

namespace NexusRag.Storage.Originals;

/// <summary>
/// Originals in a folder (default <c>{data dir}/originals</c>): <c>{tenant}/{sha[0..2]}/{sha}</c>, written once and never
/// changed. Uploads stream into <c>.staging/</c> on the same file system and are renamed into place, so a reader never sees
/// a partial file. Replicas on several hosts share it through a common mount.
/// </summary>
public sealed class LocalOriginalStore(IOptions<StorageOptions> options) : IOriginalStore
{
    private string Root => options.Value.ResolveOriginalsDir();

    public async Task<StagedOriginal> StageAsync(Stream content, long maxBytes, CancellationToken ct)
    {
        var staging = Path.Combine(Root, ".staging");
        Directory.CreateDirectory(staging);
        var path = Path.Combine(staging, Guid.NewGuid().ToString("N"));
        var buffer = new byte[128 * 1024];
        long total = 0;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        try
        {
            await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                int n;
                while ((n = await content.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                {
                    total += n;
                    if (total > maxBytes) throw new OriginalTooLargeException(maxBytes);
                    sha.AppendData(buffer, 0, n);
                    await file.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                }
            }
            return new StagedOriginal(path, Convert.ToHexStringLower(sha.GetHashAndReset()), total);
        }
        catch
        {
            TryDelete(path);
            throw;
        }
    }

    public Task CommitAsync(string tenantId, StagedOriginal staged, CancellationToken ct)
    {
        var target = PathOf(tenantId, staged.Sha256);
        if (File.Exists(target)) return Task.CompletedTask;
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        // Staging is on the same file system: a rename, atomic, with no copy of the bytes. The staged file is consumed.
        try
        {
            File.Move(staged.Path, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            // Another upload of the same bytes got there first; its file is this one.
        }
        return Task.CompletedTask;
    }

    public Task<Stream?> OpenReadAsync(string tenantId, string sha256, CancellationToken ct)
    {
        if (!IsDigest(sha256)) return Task.FromResult<Stream?>(null); // a row from before originals were kept
        var path = PathOf(tenantId, sha256);
        try
        {
            return Task.FromResult<Stream?>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 64 * 1024, FileOptions.Asynchronous));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task DeleteAsync(string tenantId, string sha256, CancellationToken ct)
    {
        if (IsDigest(sha256)) TryDelete(PathOf(tenantId, sha256));
        return Task.CompletedTask;
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
