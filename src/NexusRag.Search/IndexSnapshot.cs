using System.Text;

namespace NexusRag.Search;

/// <summary>
/// Binary snapshot of the index: the analyzed terms and vectors of every live chunk and the change-log seq they
/// reflect, so a restart skips re-reading and re-analyzing the chunks table. Graphs (HNSW) are rebuilt on load.
/// </summary>
internal static class IndexSnapshot
{
    private const string Magic = "NXRIDX";
    private const int Version = 2; // 2: corpora are keyed by index version too

    public sealed record Content(string AnalyzerId, long Seq, List<(string Tenant, string Corpus, int Version, List<IndexedChunk> Chunks)> Corpora);

    public static void Write(Stream stream, string analyzerId, long seq, IReadOnlyList<(string Tenant, string Corpus, int IndexVersion, List<IndexedChunk> Chunks)> corpora)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(Magic); w.Write(Version); w.Write(analyzerId); w.Write(seq);
        w.Write(corpora.Count);
        foreach (var (tenant, corpus, indexVersion, chunks) in corpora)
        {
            w.Write(tenant); w.Write(corpus); w.Write(indexVersion); w.Write(chunks.Count);
            foreach (var c in chunks)
            {
                w.Write(c.ChunkId); w.Write(c.DocumentId); w.Write(c.ChunkIndex); w.Write(c.Seq);
                w.Write(c.Fields.Count);
                foreach (var (k, values) in c.Fields) { w.Write(k); w.Write(values.Length); foreach (var v in values) w.Write(v); }
                w.Write(c.Tokens.Count);
                foreach (var t in c.Tokens) w.Write(t);
                w.Write(c.Vector?.Length ?? 0);
                if (c.Vector is { } vec) foreach (var x in vec) w.Write(x);
            }
        }
        w.Write(Magic);
    }

    public static Content Read(Stream stream)
    {
        using var r = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        if (r.ReadString() != Magic || r.ReadInt32() != Version) throw new InvalidDataException("not a NexusRAG index snapshot of this version");
        var analyzer = r.ReadString();
        var seq = r.ReadInt64();
        var corpora = new List<(string, string, int, List<IndexedChunk>)>();
        for (int i = 0, n = r.ReadInt32(); i < n; i++)
        {
            var tenant = r.ReadString(); var corpus = r.ReadString(); var indexVersion = r.ReadInt32();
            var count = r.ReadInt32();
            var chunks = new List<IndexedChunk>(count);
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
                var tokens = new List<string>(r.ReadInt32());
                for (var t = tokens.Capacity; t > 0; t--) tokens.Add(r.ReadString());
                var dims = r.ReadInt32();
                float[]? vector = null;
                if (dims > 0)
                {
                    vector = new float[dims];
                    for (var d = 0; d < dims; d++) vector[d] = r.ReadSingle();
                }
                chunks.Add(new IndexedChunk(id, doc, index, chunkSeq, fields, tokens, vector));
            }
            corpora.Add((tenant, corpus, indexVersion, chunks));
        }
        if (r.ReadString() != Magic) throw new InvalidDataException("index snapshot is truncated");
        return new Content(analyzer, seq, corpora);
    }
}
