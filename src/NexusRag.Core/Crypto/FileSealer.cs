namespace NexusRag.Core.Crypto;

/// <summary>
/// Seals platform files that hold content of every tenant (the search-index snapshot) with the platform's data key
/// (tenant <c>_platform</c>): AES-256-GCM in <see cref="ChunkedGcm"/>'s layout, magic <c>NXSNP1</c>. With encryption off,
/// files are written plain; a plain file is always read (one written before encryption was turned on).
/// </summary>
public interface IFileSealer
{
    /// <summary>A stream to write the file's plaintext into; disposing it completes the file.</summary>
    Task<Stream> SealAsync(Stream output, string purpose, CancellationToken ct);
    /// <summary>The plaintext of a file written by <see cref="SealAsync"/> (sealed or not); <paramref name="input"/> must be seekable.</summary>
    Task<Stream> OpenAsync(Stream input, string purpose, CancellationToken ct);
}

public sealed class PlatformFileSealer(DataKeyService dataKeys) : IFileSealer
{
    private const string Magic = "NXSNP1";

    public async Task<Stream> SealAsync(Stream output, string purpose, CancellationToken ct)
    {
        var cipher = await dataKeys.ForWriteAsync(Auth.Principal.PlatformTenant, ct).ConfigureAwait(false);
        if (cipher.WriteVersion is not { } v) return new NonClosing(output);
        return new GcmEncryptingStream(output, cipher.KeyOf(v), ChunkedGcm.NewHeader(Magic, v), Context(purpose), leaveOpen: true);
    }

    public async Task<Stream> OpenAsync(Stream input, string purpose, CancellationToken ct)
    {
        input.Position = 0;
        var header = ChunkedGcm.ReadHeader(input);
        input.Position = 0;
        if (header?.Magic != Magic) return new NonClosing(input);
        var cipher = await dataKeys.ForReadAsync(Auth.Principal.PlatformTenant, [header.KeyVersion], ct).ConfigureAwait(false);
        return new GcmDecryptingStream(input, cipher.KeyOf(header.KeyVersion), Context(purpose), leaveOpen: true);
    }

    private static string Context(string purpose) => "platform-file:" + purpose;

    /// <summary>The caller owns the underlying stream either way.</summary>
    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => inner.SetLength(value);
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    }
}
