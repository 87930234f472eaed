using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace NexusRag.Search;

/// <summary>
/// Binary snapshot of the index: per corpus index version, the analyzed terms, fields and vectors of every live chunk
/// and its HNSW graph (so a restart loads the graph instead of rebuilding it), plus the change-log seq they reflect.
/// Terms are written once per corpus (a vocabulary) and chunks hold ids into it, so loading does not allocate a string
/// per token.
/// The file ends with a SHA-256 of everything before it: a truncated or corrupted snapshot is detected and discarded,
/// and the index is rebuilt from the store.
/// </summary>
internal static class IndexSnapshot
{
    private const string Magic = "NXRIDX";
    private const int Version = 4; // 2: corpora keyed by index version; 3: HNSW graphs, raw vectors, SHA-256 trailer; 4: terms as ids into a per-corpus vocabulary
    private const int HashSize = 32;

    public sealed record Corpus(string Tenant, string CorpusId, int IndexVersion, List<IndexedChunk> Chunks, Hnsw.Graph? Graph);

    public sealed record Content(string AnalyzerId, long Seq, List<Corpus> Corpora);

    public static void Write(Stream stream, string analyzerId, long seq, IReadOnlyList<Corpus> corpora)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var hashing = new Core.IO.HashingWriteStream(stream, sha, leaveOpen: true))
        using (var buffered = new BufferedStream(hashing, 1 << 20))
        using (var w = new BinaryWriter(buffered, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic); w.Write(Version); w.Write(analyzerId); w.Write(seq);
            w.Write(corpora.Count);
            foreach (var corpus in corpora)
            {
                w.Write(corpus.Tenant); w.Write(corpus.CorpusId); w.Write(corpus.IndexVersion); w.Write(corpus.Chunks.Count);
                var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
                var terms = new List<string>();
                foreach (var c in corpus.Chunks)
                    foreach (var t in c.Tokens)
                        if (vocabulary.TryAdd(t, terms.Count)) terms.Add(t);
                w.Write(terms.Count);
                foreach (var t in terms) w.Write(t);
                var ids = new List<int>();
                foreach (var c in corpus.Chunks)
                {
                    w.Write(c.ChunkId); w.Write(c.DocumentId); w.Write(c.ChunkIndex); w.Write(c.Seq);
                    w.Write(c.Fields.Count);
                    foreach (var (k, values) in c.Fields) { w.Write(k); w.Write(values.Length); foreach (var v in values) w.Write(v); }
                    ids.Clear();
                    foreach (var t in c.Tokens) ids.Add(vocabulary[t]);
                    w.Write(ids.Count);
                    w.Write(MemoryMarshal.AsBytes(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(ids)));
                    w.Write(c.Vector?.Length ?? 0);
                    if (c.Vector is { } vec) w.Write(MemoryMarshal.AsBytes(vec.AsSpan()));
                }
                w.Write(corpus.Graph is not null);
                if (corpus.Graph is { } g)
                {
                    w.Write(g.M); w.Write(g.EfConstruction); w.Write(g.Entry); w.Write(g.MaxLayer); w.Write(g.Links.Length);
                    foreach (var node in g.Links)
                    {
                        w.Write(node?.Length ?? 0);
                        if (node is null) continue;
                        foreach (var layer in node)
                        {
                            w.Write(layer!.Length);
                            w.Write(MemoryMarshal.AsBytes(layer.AsSpan()));
                        }
                    }
                }
            }
            w.Write(Magic);
        }
        stream.Write(sha.GetHashAndReset());
    }

    public static Content Read(Stream stream)
    {
        if (!stream.CanSeek || stream.Length < HashSize + 8) throw new InvalidDataException("index snapshot is truncated");
        var contentLength = stream.Length - HashSize;
        // The checksum first: nothing of a corrupted file is parsed (a damaged count could ask for any allocation).
        using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
        {
            stream.Position = 0;
            var buffer = new byte[1 << 20];
            for (long left = contentLength; left > 0;)
            {
                var n = stream.Read(buffer, 0, (int)Math.Min(buffer.Length, left));
                if (n == 0) throw new InvalidDataException("index snapshot is truncated");
                sha.AppendData(buffer, 0, n);
                left -= n;
            }
            var expected = new byte[HashSize];
            stream.ReadExactly(expected);
            if (!CryptographicOperations.FixedTimeEquals(sha.GetHashAndReset(), expected))
                throw new InvalidDataException("index snapshot checksum does not match (corrupted or truncated)");
        }
        stream.Position = 0;
        using (var bounded = new BoundedReadStream(stream, contentLength))
        using (var buffered = new BufferedStream(bounded, 1 << 20))
        using (var r = new BinaryReader(buffered, Encoding.UTF8, leaveOpen: true))
        {
            if (r.ReadString() != Magic || r.ReadInt32() != Version) throw new InvalidDataException("not a NexusRAG index snapshot of this version");
            var analyzer = r.ReadString();
            var seq = r.ReadInt64();
            var corpora = new List<Corpus>();
            for (int i = 0, n = r.ReadInt32(); i < n; i++)
            {
                var tenant = r.ReadString(); var corpus = r.ReadString(); var indexVersion = r.ReadInt32();
                var count = r.ReadInt32();
                var terms = new string[r.ReadInt32()];
                for (var t = 0; t < terms.Length; t++) terms[t] = r.ReadString();
                var chunks = new List<IndexedChunk>(count);
                var termIds = new int[256];
                for (var j = 0; j < count; j++)
                {
                    var id = r.ReadString(); var doc = r.ReadString(); var index = r.ReadInt32(); var chunkSeq = r.ReadInt64();
                    var fields = new Dictionary<string, string[]>(StringComparer.Ordinal);
                    for (int f = 0, nf = r.ReadInt32(); f < nf; f++)
                    {
                        var key = r.ReadString();
                        var values = new string[r.ReadInt32()];
                        for (var v = 0; v < values.Length; v++) values[v] = r.ReadString();
                        fields[key] = values;
                    }
                    var tokenCount = r.ReadInt32();
                    if (tokenCount < 0) throw new InvalidDataException("index snapshot is corrupt");
                    if (termIds.Length < tokenCount) termIds = new int[Math.Max(tokenCount, termIds.Length * 2)];
                    r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(termIds.AsSpan(0, tokenCount)));
                    var tokens = new List<string>(tokenCount);
                    for (var t = 0; t < tokenCount; t++)
                        tokens.Add((uint)termIds[t] < (uint)terms.Length ? terms[termIds[t]] : throw new InvalidDataException("index snapshot term id is out of range"));
                    var dims = r.ReadInt32();
                    float[]? vector = null;
                    if (dims > 0)
                    {
                        vector = new float[dims];
                        r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(vector.AsSpan()));
                    }
                    chunks.Add(new IndexedChunk(id, doc, index, chunkSeq, fields, tokens, vector));
                }
                Hnsw.Graph? graph = null;
                if (r.ReadBoolean())
                {
                    int m = r.ReadInt32(), efc = r.ReadInt32(), entry = r.ReadInt32(), maxLayer = r.ReadInt32(), nodes = r.ReadInt32();
                    if (nodes != count) throw new InvalidDataException("index snapshot graph does not match its chunks");
                    var links = new int[]?[nodes][];
                    for (var node = 0; node < nodes; node++)
                    {
                        var layers = r.ReadInt32();
                        if (layers == 0) continue;
                        var arr = new int[]?[layers];
                        for (var l = 0; l < layers; l++)
                        {
                            var len = r.ReadInt32();
                            if (len is < 0 or > 4096) throw new InvalidDataException("index snapshot graph is corrupt");
                            var ids = new int[len];
                            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(ids.AsSpan()));
                            arr[l] = ids;
                        }
                        links[node] = arr;
                    }
                    graph = new Hnsw.Graph(m, efc, entry, maxLayer, links);
                }
                corpora.Add(new Corpus(tenant, corpus, indexVersion, chunks, graph));
            }
            if (r.ReadString() != Magic) throw new InvalidDataException("index snapshot is truncated");
            return new Content(analyzer, seq, corpora);
        }
    }

    /// <summary>Reads at most <paramref name="limit"/> bytes of <paramref name="inner"/> (the content, not the trailer).</summary>
    private sealed class BoundedReadStream(Stream inner, long limit) : Stream
    {
        private long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var want = (int)Math.Min(buffer.Length, limit - _read);
            if (want <= 0) return 0;
            var n = inner.Read(buffer[..want]);
            _read += n;
            return n;
        }
    }
}
