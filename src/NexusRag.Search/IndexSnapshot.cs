using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace NexusRag.Search;

/// <summary>
/// Binary snapshot of the index: per corpus index version, its vocabulary and documents, every live chunk's identity,
/// fields, term ids with their counts and vector, and its HNSW graph (so a restart loads the graph instead of rebuilding
/// it), plus the change-log seq they reflect. The layout is the index's own resident form: loading neither hashes a token
/// nor allocates an array per vector (vectors are read straight into the vector store).
/// The file ends with a SHA-256 of everything before it: a truncated or corrupted snapshot is detected and discarded,
/// and the index is rebuilt from the store.
/// </summary>
internal static class IndexSnapshot
{
    private const string Magic = "NXRIDX";
    // 2: corpora keyed by index version; 3: HNSW graphs, raw vectors, SHA-256 trailer; 4: terms as ids into a per-corpus
    // vocabulary; 5: the resident form (term ids with counts, document ordinals, vectors read into one store)
    private const int Version = 5;
    private const int HashSize = 32;
    private const int MaxDimensions = 1 << 16;

    public sealed record Corpus(string Tenant, string CorpusId, int IndexVersion, CorpusSnapshot Index);

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
                var index = corpus.Index;
                w.Write(corpus.Tenant); w.Write(corpus.CorpusId); w.Write(corpus.IndexVersion); w.Write(index.Slots.Count);
                w.Write(index.Terms.Length);
                foreach (var t in index.Terms) w.Write(t);
                w.Write(index.Documents.Length);
                foreach (var d in index.Documents) w.Write(d);
                w.Write(index.Vectors?.Dimensions ?? 0);
                for (var i = 0; i < index.Slots.Count; i++)
                {
                    var c = index.Slots[i];
                    w.Write(c.ChunkId); w.Write(c.DocOrdinal); w.Write(c.ChunkIndex); w.Write(c.Seq);
                    w.Write(c.Fields.Count);
                    foreach (var (k, values) in c.Fields) { w.Write(k); w.Write(values.Length); foreach (var v in values) w.Write(v); }
                    w.Write(c.TermIds.Length);
                    w.Write(MemoryMarshal.AsBytes(c.TermIds.AsSpan()));
                    w.Write(MemoryMarshal.AsBytes(c.Tfs.AsSpan()));
                    w.Write(c.Length);
                    var hasVector = index.Vectors?.Has(i) == true;
                    w.Write(hasVector);
                    if (hasVector) w.Write(MemoryMarshal.AsBytes(index.Vectors!.Get(i)));
                }
                w.Write(index.Graph is not null);
                if (index.Graph is { } g)
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
            IReadOnlyDictionary<string, string[]> noFields = new Dictionary<string, string[]>(StringComparer.Ordinal);
            for (int i = 0, n = r.ReadInt32(); i < n; i++)
            {
                var tenant = r.ReadString(); var corpus = r.ReadString(); var indexVersion = r.ReadInt32();
                var count = Count(r.ReadInt32());
                var terms = new string[Count(r.ReadInt32())];
                for (var t = 0; t < terms.Length; t++) terms[t] = r.ReadString();
                var docs = new string[Count(r.ReadInt32())];
                for (var d = 0; d < docs.Length; d++) docs[d] = r.ReadString();
                var dims = r.ReadInt32();
                if (dims is < 0 or > MaxDimensions) throw new InvalidDataException("index snapshot is corrupt");
                VectorStore? vectors = null;
                if (dims > 0)
                {
                    vectors = new VectorStore(dims);
                    vectors.EnsureCapacity(count);
                }
                var slots = new List<Slot>(count);
                for (var j = 0; j < count; j++)
                {
                    var id = r.ReadString(); var doc = r.ReadInt32(); var index = r.ReadInt32(); var chunkSeq = r.ReadInt64();
                    if ((uint)doc >= (uint)docs.Length) throw new InvalidDataException("index snapshot document id is out of range");
                    var fields = noFields;
                    var nf = Count(r.ReadInt32());
                    if (nf > 0)
                    {
                        var read = new Dictionary<string, string[]>(nf, StringComparer.Ordinal);
                        for (var f = 0; f < nf; f++)
                        {
                            var key = r.ReadString();
                            var values = new string[Count(r.ReadInt32())];
                            for (var v = 0; v < values.Length; v++) values[v] = r.ReadString();
                            read[key] = values;
                        }
                        fields = read;
                    }
                    var pairs = Count(r.ReadInt32());
                    var ids = new int[pairs];
                    var tfs = new int[pairs];
                    r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(ids.AsSpan()));
                    r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(tfs.AsSpan()));
                    var length = Count(r.ReadInt32());
                    if (r.ReadBoolean())
                    {
                        if (vectors is null) throw new InvalidDataException("index snapshot is corrupt");
                        vectors.Read(j, r.BaseStream);
                    }
                    slots.Add(new Slot(id, docs[doc], index, chunkSeq, fields, ids, tfs, length, doc));
                }
                Hnsw.Graph? graph = null;
                if (r.ReadBoolean())
                {
                    int m = r.ReadInt32(), efc = r.ReadInt32(), entry = r.ReadInt32(), maxLayer = r.ReadInt32(), nodes = r.ReadInt32();
                    if (nodes != count) throw new InvalidDataException("index snapshot graph does not match its chunks");
                    var links = new int[]?[nodes][];
                    for (var node = 0; node < nodes; node++)
                    {
                        var layers = Count(r.ReadInt32());
                        if (layers == 0) continue;
                        var arr = new int[]?[layers];
                        for (var l = 0; l < layers; l++)
                        {
                            var len = r.ReadInt32();
                            if (len is < 0 or > 4096) throw new InvalidDataException("index snapshot graph is corrupt");
                            var linkIds = new int[len];
                            r.BaseStream.ReadExactly(MemoryMarshal.AsBytes(linkIds.AsSpan()));
                            arr[l] = linkIds;
                        }
                        links[node] = arr;
                    }
                    graph = new Hnsw.Graph(m, efc, entry, maxLayer, links);
                }
                corpora.Add(new Corpus(tenant, corpus, indexVersion, new CorpusSnapshot(terms, docs, slots, vectors, graph)));
            }
            if (r.ReadString() != Magic) throw new InvalidDataException("index snapshot is truncated");
            return new Content(analyzer, seq, corpora);
        }
    }

    /// <summary>A count read from the file (the checksum matched, so only a writer's bug could make it negative).</summary>
    private static int Count(int value) => value >= 0 ? value : throw new InvalidDataException("index snapshot is corrupt");

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
