namespace NexusRag.Core.Documents;

/// <summary>
/// An uploaded file staged on disk before it is known to be wanted: its SHA-256 and length were computed while it
/// streamed in. Disposing it removes the staged file if it is still there (a committed one has been moved into place).
/// </summary>
public sealed class StagedOriginal(string path, string sha256, long length, Func<Stream, Stream>? unseal = null) : IDisposable
{
    public string Path { get; } = path;
    public string Sha256 { get; } = sha256;
    public long Length { get; } = length;
    /// <summary>Whether the staged file is sealed (with encryption at rest on, even a staged upload is never plaintext on disk).</summary>
    public bool Sealed => unseal is not null;

    /// <summary>A seekable stream over the staged content, in plaintext.</summary>
    public Stream OpenRead()
    {
        var file = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, FileOptions.Asynchronous);
        return unseal is null ? file : unseal(file);
    }

    public void Dispose()
    {
        try { File.Delete(Path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Thrown while staging when the content passes the allowed size.</summary>
public sealed class OriginalTooLargeException(long maxBytes) : Exception($"the file exceeds {maxBytes} bytes")
{
    public long MaxBytes { get; } = maxBytes;
}

/// <summary>
/// Original files, content-addressed per tenant: a document's original is (tenant, SHA-256), so documents of a tenant
/// with the same bytes share one copy. The default adapter is a folder under the data directory. Deleting a document
/// deletes its original once no document of the tenant refers to it any more (the caller checks that).
/// </summary>
public interface IOriginalStore
{
    /// <summary>Streams <paramref name="content"/> to a staging file, hashing it on the way; more than <paramref name="maxBytes"/> throws <see cref="OriginalTooLargeException"/>.</summary>
    Task<StagedOriginal> StageAsync(Stream content, long maxBytes, CancellationToken ct);
    /// <summary>Makes the staged file the tenant's original for its hash (nothing to do when it is already there); the staged file is consumed.</summary>
    Task CommitAsync(string tenantId, StagedOriginal staged, CancellationToken ct);
    /// <summary>A seekable stream over the original, or null when there is none.</summary>
    Task<Stream?> OpenReadAsync(string tenantId, string sha256, CancellationToken ct);
    Task DeleteAsync(string tenantId, string sha256, CancellationToken ct);
}

/// <summary>
/// Serialises, per (tenant, hash), committing an original with checking and deleting it, so a delete never removes a
/// file that an upload of the same bytes is about to reference.
/// </summary>
public sealed class OriginalLocks
{
    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    public Task<IDisposable> AcquireAsync(string tenantId, string sha256, CancellationToken ct) => AcquireManyAsync(tenantId, [sha256], ct);

    /// <summary>The locks of several originals at once (a batch): each stripe once, in stripe order, so batches cannot deadlock.</summary>
    public async Task<IDisposable> AcquireManyAsync(string tenantId, IEnumerable<string> sha256s, CancellationToken ct)
    {
        var held = new List<SemaphoreSlim>();
        try
        {
            foreach (var i in sha256s.Select(sha => (int)((uint)HashCode.Combine(tenantId, sha) % (uint)_stripes.Length)).Distinct().Order())
            {
                await _stripes[i].WaitAsync(ct).ConfigureAwait(false);
                held.Add(_stripes[i]);
            }
            return new Release(held);
        }
        catch
        {
            foreach (var h in held) h.Release();
            throw;
        }
    }

    private sealed class Release(List<SemaphoreSlim> held) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) foreach (var s in held) s.Release();
        }
    }
}
