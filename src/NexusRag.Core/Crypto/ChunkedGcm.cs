using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace NexusRag.Core.Crypto;

/// <summary>A chunked AES-GCM file that does not decrypt: a wrong key, or bytes altered, reordered or truncated.</summary>
public sealed class ChunkedGcmException(string message) : CryptographicException(message);

/// <summary>
/// Streaming AES-256-GCM for files of any size in constant memory (originals, index snapshots, backup components).
/// Layout: a 16-byte header (6-byte magic, a 16-bit key version, the chunk size, a random 4-byte nonce prefix), then
/// chunks of <c>[int32 length][ciphertext][16-byte tag]</c>; every chunk but the last holds exactly the chunk size.
/// A chunk's nonce is the prefix and its 64-bit index; its associated data binds the header (so the key version too),
/// a context string (tenant, file, …), the index and whether it is the last chunk, so reordered, truncated, extended or
/// moved data fails to decrypt. Fixed-size chunks make the plaintext seekable without reading what comes before.
/// </summary>
public static class ChunkedGcm
{
    public const int HeaderSize = 16;
    public const int TagSize = 16;
    public const int DefaultChunkSize = 1 << 20;

    public sealed record Header(byte[] Bytes, string Magic, int KeyVersion, int ChunkSize);

    public static Header NewHeader(string magic, int keyVersion, int chunkSize = DefaultChunkSize)
    {
        var m = Encoding.ASCII.GetBytes(magic);
        if (m.Length != 6) throw new ArgumentException("the magic is six ASCII characters", nameof(magic));
        if (keyVersion is < 0 or > ushort.MaxValue) throw new ArgumentOutOfRangeException(nameof(keyVersion));
        var bytes = new byte[HeaderSize];
        m.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), (ushort)keyVersion);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), chunkSize);
        RandomNumberGenerator.Fill(bytes.AsSpan(12, 4));
        return new Header(bytes, magic, keyVersion, chunkSize);
    }

    /// <summary>Reads the header at the stream's position; null when there is none or it is not one of ours.</summary>
    public static Header? ReadHeader(Stream stream)
    {
        var bytes = new byte[HeaderSize];
        if (stream.ReadAtLeast(bytes, HeaderSize, throwOnEndOfStream: false) < HeaderSize) return null;
        if (!bytes.AsSpan(0, 6).ToArray().All(b => b is >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9')) return null;
        var chunkSize = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8));
        if (chunkSize is < 1 or > 64 << 20) return null;
        return new Header(bytes, Encoding.ASCII.GetString(bytes, 0, 6), BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(6)), chunkSize);
    }

    internal static byte[] Nonce(byte[] header, long index)
    {
        var nonce = new byte[12];
        header.AsSpan(12, 4).CopyTo(nonce);
        BinaryPrimitives.WriteInt64BigEndian(nonce.AsSpan(4), index);
        return nonce;
    }

    internal static byte[] Aad(byte[] header, byte[] context, long index, bool final)
    {
        var aad = new byte[HeaderSize + context.Length + 9];
        header.CopyTo(aad, 0);
        context.CopyTo(aad, HeaderSize);
        BinaryPrimitives.WriteInt64BigEndian(aad.AsSpan(HeaderSize + context.Length), index);
        aad[^1] = final ? (byte)1 : (byte)0;
        return aad;
    }
}

/// <summary>
/// Write-only stream that encrypts into <see cref="ChunkedGcm"/>'s layout. A full chunk is sealed once more data follows
/// it; disposing seals the last (possibly empty) chunk as final, so always dispose it before using the output.
/// </summary>
public sealed class GcmEncryptingStream : Stream
{
    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly AesGcm _gcm;
    private readonly ChunkedGcm.Header _header;
    private readonly byte[] _context;
    private readonly byte[] _buffer;
    private readonly byte[] _cipher;
    private readonly byte[] _tag = new byte[ChunkedGcm.TagSize];
    private int _filled;
    private long _index;
    private bool _closed;

    public GcmEncryptingStream(Stream output, byte[] key, ChunkedGcm.Header header, string context, bool leaveOpen = false)
    {
        _output = output;
        _leaveOpen = leaveOpen;
        _gcm = new AesGcm(key, ChunkedGcm.TagSize);
        _header = header;
        _context = Encoding.UTF8.GetBytes(context);
        _buffer = new byte[header.ChunkSize];
        _cipher = new byte[header.ChunkSize];
        output.Write(header.Bytes);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => !_closed;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        while (data.Length > 0)
        {
            // A full buffer is sealed only when more data arrives: then it is known not to be the last chunk.
            if (_filled == _buffer.Length) Seal(final: false);
            var n = Math.Min(data.Length, _buffer.Length - _filled);
            data[..n].CopyTo(_buffer.AsSpan(_filled));
            _filled += n;
            data = data[n..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    private void Seal(bool final)
    {
        _gcm.Encrypt(ChunkedGcm.Nonce(_header.Bytes, _index), _buffer.AsSpan(0, _filled), _cipher.AsSpan(0, _filled), _tag,
            ChunkedGcm.Aad(_header.Bytes, _context, _index, final));
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(length, _filled);
        _output.Write(length);
        _output.Write(_cipher, 0, _filled);
        _output.Write(_tag);
        _filled = 0;
        _index++;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_closed)
        {
            _closed = true;
            Seal(final: true);
            _output.Flush();
            _gcm.Dispose();
            if (!_leaveOpen) _output.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
        await Task.CompletedTask.ConfigureAwait(false);
    }
}

/// <summary>
/// Read-only, seekable stream over a <see cref="ChunkedGcm"/> file (the inner stream must be seekable). Each chunk is
/// authenticated before any of its bytes are returned; a chunk that does not decrypt throws <see cref="ChunkedGcmException"/>.
/// </summary>
public sealed class GcmDecryptingStream : Stream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly AesGcm _gcm;
    private readonly ChunkedGcm.Header _header;
    private readonly byte[] _context;
    private readonly long _chunks;
    private readonly byte[] _cipher;
    private readonly byte[] _plain;
    private readonly byte[] _tag = new byte[ChunkedGcm.TagSize];
    private long _loaded = -1;
    private int _loadedLength;
    private long _position;

    /// <summary>Opens <paramref name="inner"/> (positioned anywhere; the header is read from its start).</summary>
    public GcmDecryptingStream(Stream inner, byte[] key, string context, bool leaveOpen = false)
    {
        if (!inner.CanSeek) throw new ArgumentException("the encrypted stream must be seekable", nameof(inner));
        _inner = inner;
        _leaveOpen = leaveOpen;
        inner.Position = 0;
        _header = ChunkedGcm.ReadHeader(inner) ?? throw new ChunkedGcmException("not an encrypted NexusRAG file (no header)");
        _context = Encoding.UTF8.GetBytes(context);
        _gcm = new AesGcm(key, ChunkedGcm.TagSize);
        var stride = (long)_header.ChunkSize + 4 + ChunkedGcm.TagSize;
        var body = inner.Length - ChunkedGcm.HeaderSize;
        if (body < 4 + ChunkedGcm.TagSize) throw new ChunkedGcmException("the encrypted file is truncated (no chunk)");
        _chunks = (body + stride - 1) / stride;
        var last = body - (_chunks - 1) * stride - 4 - ChunkedGcm.TagSize;
        if (last < 0) throw new ChunkedGcmException("the encrypted file is truncated");
        Length = (_chunks - 1) * _header.ChunkSize + last;
        _cipher = new byte[_header.ChunkSize];
        _plain = new byte[_header.ChunkSize];
    }

    public int KeyVersion => _header.KeyVersion;

    /// <summary>Authenticates the first chunk now, so a file that does not open fails before any of it is served.</summary>
    public void AuthenticateFirstChunk() => Load(0);
    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length { get; }
    public override long Position
    {
        get => _position;
        set => _position = value >= 0 ? value : throw new ArgumentOutOfRangeException(nameof(value));
    }
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => _position + offset,
        _ => Length + offset,
    };

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= Length || buffer.Length == 0) return 0;
        var index = _position / _header.ChunkSize;
        Load(index);
        var within = (int)(_position - index * _header.ChunkSize);
        var n = Math.Min(buffer.Length, _loadedLength - within);
        _plain.AsSpan(within, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => Task.FromResult(Read(buffer.AsSpan(offset, count)));

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) => ValueTask.FromResult(Read(buffer.Span));

    private void Load(long index)
    {
        if (_loaded == index) return;
        _inner.Position = ChunkedGcm.HeaderSize + index * ((long)_header.ChunkSize + 4 + ChunkedGcm.TagSize);
        Span<byte> length = stackalloc byte[4];
        if (_inner.ReadAtLeast(length, 4, throwOnEndOfStream: false) < 4) throw new ChunkedGcmException("the encrypted file is truncated");
        var n = BinaryPrimitives.ReadInt32LittleEndian(length);
        var final = index == _chunks - 1;
        if (n < 0 || n > _header.ChunkSize || (!final && n != _header.ChunkSize)) throw new ChunkedGcmException("the encrypted file has a corrupt chunk length");
        if (_inner.ReadAtLeast(_cipher.AsSpan(0, n), n, throwOnEndOfStream: false) < n
            || _inner.ReadAtLeast(_tag, ChunkedGcm.TagSize, throwOnEndOfStream: false) < ChunkedGcm.TagSize)
            throw new ChunkedGcmException("the encrypted file is truncated");
        try
        {
            _gcm.Decrypt(ChunkedGcm.Nonce(_header.Bytes, index), _cipher.AsSpan(0, n), _tag, _plain.AsSpan(0, n),
                ChunkedGcm.Aad(_header.Bytes, _context, index, final));
        }
        catch (AuthenticationTagMismatchException)
        {
            _loaded = -1;
            throw new ChunkedGcmException("the encrypted file does not decrypt: a wrong key, or it was altered, moved or truncated");
        }
        _loaded = index;
        _loadedLength = n;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _gcm.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
