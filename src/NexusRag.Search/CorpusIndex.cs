using System.Text.Json;
using NexusRag.Core.Search;

namespace NexusRag.Search;

/// <summary>What the index keeps about one chunk: identity, filter fields, analyzed terms and its vector.</summary>
internal sealed record IndexedChunk(
    string ChunkId, string DocumentId, int ChunkIndex, long Seq,
    IReadOnlyDictionary<string, string[]> Fields, IReadOnlyList<string> Tokens, float[]? Vector);

/// <summary>A slot's resident form: terms as per-corpus ids with counts; the vector lives in the vector store.</summary>
internal sealed record Slot(
    string ChunkId, string DocumentId, int ChunkIndex, long Seq, IReadOnlyDictionary<string, string[]> Fields,
    int[] TermIds, int[] Tfs, int Length, int DocOrdinal);

/// <summary>
/// A corpus index as a snapshot holds it: slots whose term ids index <paramref name="Terms"/> and whose document ordinals
/// index <paramref name="Documents"/>, the vector of slot i at slot i of <paramref name="Vectors"/>, and the HNSW graph.
/// </summary>
internal sealed record CorpusSnapshot(string[] Terms, string[] Documents, List<Slot> Slots, VectorStore? Vectors, Hnsw.Graph? Graph);

/// <summary>
/// One corpus's hybrid index: BM25 postings, a vector store scanned exactly while small, and an HNSW graph once
/// the corpus passes <see cref="SearchOptions.HnswThreshold"/> live vectors. Chunks live in slots; a replaced or
/// removed chunk's slot is tombstoned, and the whole index is rebuilt from live chunks when tombstones pass a quarter.
/// Writers take the write lock; searches share the read lock.
/// </summary>
internal sealed class CorpusIndex
{
    private readonly SearchOptions _options;
    private readonly ReaderWriterLockSlim _lock = new();
    private List<Slot?> _slots = [];
    private Dictionary<string, int> _slotOf = new(StringComparer.Ordinal);
    /// <summary>Documents by ordinal, so a per-query access decision is an array lookup, not a string hash per slot.</summary>
    private Dictionary<string, int> _docOrdinal = new(StringComparer.Ordinal);
    private List<string> _docs = [];
    /// <summary>Each slot's document ordinal (−1 once dead), contiguous, so filtering by document touches no slot object.</summary>
    private List<int> _slotDoc = [];
    private Bm25Index _bm25 = new();
    private VectorStore? _vectors;
    private Hnsw? _hnsw;
    private readonly List<int> _graphPending = []; // slots of this batch not yet in the graph
    private int _dead;

    public CorpusIndex(SearchOptions options) => _options = options;

    public int LiveChunks { get { _lock.EnterReadLock(); try { return _slotOf.Count; } finally { _lock.ExitReadLock(); } } }
    public bool UsesHnsw { get { _lock.EnterReadLock(); try { return _hnsw is not null; } finally { _lock.ExitReadLock(); } } }
    /// <summary>Whether the vectors carry int8 codes (a graph over them was built or restored with <see cref="SearchOptions.HnswQuantization"/> Int8).</summary>
    public bool VectorsQuantized { get { _lock.EnterReadLock(); try { return _vectors?.Quantized == true; } finally { _lock.ExitReadLock(); } } }

    /// <summary>Applies upserts and removals in order under one write lock.</summary>
    public void Apply(IEnumerable<(string ChunkId, IndexedChunk? Chunk)> changes)
    {
        _lock.EnterWriteLock();
        try
        {
            _graphPending.Clear();
            foreach (var (id, chunk) in changes)
            {
                RemoveLocked(id);
                if (chunk is not null) AddLocked(chunk);
            }
            if (_dead > 1024 && _dead > _slots.Count / 4) RebuildLocked();
            else if (_hnsw is null && LiveVectors() > _options.HnswThreshold) BuildHnswLocked();
            else _hnsw?.InsertMany(_graphPending, BuildThreads);
            _graphPending.Clear();
        }
        finally { _lock.ExitWriteLock(); }
    }

    /// <summary>
    /// The live slots, renumbered 0..n−1 in order, with the vocabulary and documents their ids point into, a compact copy
    /// of their vectors and the HNSW graph over them, for a snapshot. Slots are immutable and shared, not copied; the
    /// vectors are copied (one block) so the snapshot can be written outside the lock while writers go on.
    /// </summary>
    public CorpusSnapshot ExportSnapshot()
    {
        _lock.EnterReadLock();
        try
        {
            var slots = new List<Slot>(_slotOf.Count);
            var ordinalOf = new int[_slots.Count];
            VectorStore? vectors = null;
            if (_vectors is not null)
            {
                vectors = new VectorStore(_vectors.Dimensions);
                vectors.EnsureCapacity(_slotOf.Count);
            }
            for (var i = 0; i < _slots.Count; i++)
            {
                if (_slots[i] is not { } s) { ordinalOf[i] = -1; continue; }
                ordinalOf[i] = slots.Count;
                if (_vectors?.Has(i) == true) vectors!.Set(slots.Count, _vectors.Get(i));
                slots.Add(s);
            }
            return new CorpusSnapshot(_bm25.Terms(), [.. _docs], slots, vectors, _hnsw?.Export(ordinalOf, slots.Count));
        }
        finally { _lock.ExitReadLock(); }
    }

    /// <summary>
    /// Fills an empty index from a snapshot: its slots take slots 0..n−1 in order, its vectors store is adopted, and a
    /// saved graph is put back as it was instead of being rebuilt. No token is hashed and no vector copied; anything that
    /// does not fit (a term or document id out of range, a repeated chunk, a graph that does not match the vectors) is
    /// refused with <see cref="InvalidDataException"/>.
    /// </summary>
    public void LoadSnapshot(CorpusSnapshot snapshot)
    {
        _lock.EnterWriteLock();
        try
        {
            if (_slots.Count > 0) throw new InvalidOperationException("a snapshot loads into an empty index");
            var slots = snapshot.Slots;
            var postings = new int[snapshot.Terms.Length];
            foreach (var s in slots)
            {
                if ((uint)s.DocOrdinal >= (uint)snapshot.Documents.Length || s.TermIds.Length != s.Tfs.Length)
                    throw new InvalidDataException("index snapshot chunk is corrupt");
                foreach (var id in s.TermIds)
                {
                    if ((uint)id >= (uint)postings.Length) throw new InvalidDataException("index snapshot term id is out of range");
                    postings[id]++;
                }
            }
            _bm25.LoadVocabulary(snapshot.Terms, postings, slots.Count);
            _docs = [.. snapshot.Documents];
            _docOrdinal.EnsureCapacity(_docs.Count);
            for (var d = 0; d < _docs.Count; d++)
                if (!_docOrdinal.TryAdd(_docs[d], d)) throw new InvalidDataException("index snapshot repeats a document");
            _slots.Capacity = slots.Count;
            _slotDoc.Capacity = slots.Count;
            _slotOf.EnsureCapacity(slots.Count);
            for (var i = 0; i < slots.Count; i++)
            {
                var s = slots[i];
                if (!_slotOf.TryAdd(s.ChunkId, i)) throw new InvalidDataException("index snapshot repeats a chunk");
                _slots.Add(s);
                _slotDoc.Add(s.DocOrdinal);
                _bm25.Add(i, s.TermIds, s.Tfs, s.Length);
            }
            _vectors = snapshot.Vectors;
            _liveVectors = 0;
            if (_vectors is not null)
                for (var i = 0; i < slots.Count; i++)
                    if (_vectors.Has(i)) _liveVectors++;
            if (snapshot.Graph is { } graph && _vectors is not null && graph.Links.Length == slots.Count)
            {
                for (var n = 0; n < slots.Count; n++)
                    if ((graph.Links[n] is not null) != _vectors.Has(n)) throw new InvalidDataException("index snapshot graph does not match its vectors");
                if (Quantized) _vectors.Quantize(BuildThreads);
                _hnsw = Hnsw.Restore(_vectors, graph);
                GraphRestored = true;
            }
            else if (snapshot.Graph is not null) throw new InvalidDataException("index snapshot graph does not match its chunks");
            else if (LiveVectors() > _options.HnswThreshold) BuildHnswLocked();
        }
        finally
        {
            _graphPending.Clear();
            _lock.ExitWriteLock();
        }
    }

    /// <summary>The HNSW graph came from a snapshot (not rebuilt) when this index was loaded.</summary>
    public bool GraphRestored { get; private set; }

    private int _liveVectors;

    private int LiveVectors() => _liveVectors;

    private IndexedChunk ToChunk(int slot, Slot s)
    {
        var tokens = new List<string>(s.Length);
        for (var i = 0; i < s.TermIds.Length; i++)
            for (var n = 0; n < s.Tfs[i]; n++) tokens.Add(_bm25.Term(s.TermIds[i]));
        var vector = _vectors?.Has(slot) == true ? _vectors.Get(slot).ToArray() : null;
        return new IndexedChunk(s.ChunkId, s.DocumentId, s.ChunkIndex, s.Seq, s.Fields, tokens, vector);
    }

    private void AddLocked(IndexedChunk chunk)
    {
        var slot = _slots.Count;
        var (ids, tfs) = _bm25.Intern(chunk.Tokens);
        if (!_docOrdinal.TryGetValue(chunk.DocumentId, out var doc))
        {
            _docOrdinal[chunk.DocumentId] = doc = _docs.Count;
            _docs.Add(chunk.DocumentId);
        }
        _slots.Add(new Slot(chunk.ChunkId, chunk.DocumentId, chunk.ChunkIndex, chunk.Seq, chunk.Fields, ids, tfs, chunk.Tokens.Count, doc));
        _slotDoc.Add(doc);
        _slotOf[chunk.ChunkId] = slot;
        _bm25.Add(slot, ids, tfs, chunk.Tokens.Count);
        if (chunk.Vector is { } v)
        {
            _vectors ??= new VectorStore(v.Length);
            if (v.Length == _vectors.Dimensions)
            {
                _vectors.Set(slot, v);
                _liveVectors++;
                _graphPending.Add(slot); // linked into the graph (if there is one) once the batch is in, on every core

            }
        }
    }

    private void RemoveLocked(string chunkId)
    {
        if (!_slotOf.Remove(chunkId, out var slot)) return;
        var s = _slots[slot]!;
        _bm25.Remove(s.TermIds, s.Length);
        if (_vectors?.Has(slot) == true) _liveVectors--;
        _slots[slot] = null;
        _slotDoc[slot] = -1;
        _dead++;
    }

    private void RebuildLocked()
    {
        var live = new List<IndexedChunk>(_slotOf.Count);
        for (var i = 0; i < _slots.Count; i++)
            if (_slots[i] is { } s) live.Add(ToChunk(i, s));
        _slots = new List<Slot?>(live.Count);
        _slotOf = new Dictionary<string, int>(live.Count, StringComparer.Ordinal);
        _docOrdinal = new Dictionary<string, int>(StringComparer.Ordinal);
        _docs = [];
        _slotDoc = new List<int>(live.Count);
        _bm25 = new Bm25Index();
        _vectors = null;
        _hnsw = null;
        _dead = 0;
        _liveVectors = 0;
        foreach (var c in live) AddLocked(c);
        if (LiveVectors() > _options.HnswThreshold) BuildHnswLocked();
    }

    private void BuildHnswLocked()
    {
        _graphPending.Clear();
        if (_vectors is null) return;
        if (Quantized) _vectors.Quantize(BuildThreads);
        _hnsw = new Hnsw(_vectors, _options.HnswM, _options.HnswEfConstruction);
        var slots = new List<int>(_liveVectors);
        for (var slot = 0; slot < _slots.Count; slot++)
            if (_slots[slot] is not null && _vectors.Has(slot)) slots.Add(slot);
        _hnsw.InsertMany(slots, BuildThreads);
    }

    private bool Quantized => _options.HnswQuantization == HnswQuantization.Int8;

    private int BuildThreads => _options.HnswBuildThreads > 0 ? _options.HnswBuildThreads : Environment.ProcessorCount;

    /// <summary>Ranks the corpus for a query; each leg (lexical, vector) and the fusion is a span of <paramref name="spans"/> when traced.</summary>
    public List<IndexHit> Search(IndexQuery q, IReadOnlyList<string> queryTokens, System.Diagnostics.ActivitySource? spans = null)
    {
        _lock.EnterReadLock();
        try
        {
            var accept = Filter(q.Filters, q.Readable);
            var depth = Math.Max(q.TopK, _options.CandidatesPerLeg);
            List<(float Score, int Slot)> lexical = [], vector = [];
            if (q.Mode != SearchMode.Vector)
            {
                using var leg = spans?.StartActivity("search.lexical");
                lexical = Lexical(queryTokens, accept, q.Mode == SearchMode.Lexical ? q.TopK : depth, q.Bm25);
                leg?.SetTag("nexusrag.search.candidates", lexical.Count);
            }
            if (q.Mode != SearchMode.Lexical && q.QueryVector is { } qv && _vectors is not null && qv.Length == _vectors.Dimensions)
            {
                using var leg = spans?.StartActivity("search.vector");
                vector = Vector(qv, accept, q.Mode == SearchMode.Vector ? q.TopK : depth);
                leg?.SetTag("nexusrag.search.candidates", vector.Count);
            }
            using var fusion = q.Mode == SearchMode.Hybrid ? spans?.StartActivity("search.fusion") : null;

            var lexRank = Ranks(lexical);
            var vecRank = Ranks(vector);
            IEnumerable<(double Score, int Slot)> fused = q.Mode switch
            {
                SearchMode.Lexical => lexical.Select(x => ((double)x.Score, x.Slot)),
                SearchMode.Vector => vector.Select(x => ((double)x.Score, x.Slot)),
                _ when (q.Fusion ?? _options.Fusion) == FusionMethod.Convex =>
                    ConvexFusion.Fuse((lexical.Select(x => (x.Slot, (double)x.Score)).ToList(), q.LexicalWeight), (vector.Select(x => (x.Slot, (double)x.Score)).ToList(), q.VectorWeight))
                        .Select(kv => (kv.Value, kv.Key)),
                _ => Rrf.Fuse(q.RrfK ?? _options.RrfK, (lexical.Select(x => x.Slot).ToList(), q.LexicalWeight), (vector.Select(x => x.Slot).ToList(), q.VectorWeight))
                        .Select(kv => (kv.Value, kv.Key)),
            };
            return fused
                .OrderByDescending(x => x.Score).ThenBy(x => _slots[x.Slot]!.DocumentId, StringComparer.Ordinal).ThenBy(x => _slots[x.Slot]!.ChunkIndex)
                .Take(q.TopK)
                .Select(x =>
                {
                    var c = _slots[x.Slot]!;
                    var l = lexRank.GetValueOrDefault(x.Slot);
                    var v = vecRank.GetValueOrDefault(x.Slot);
                    return new IndexHit(c.ChunkId, c.DocumentId, c.ChunkIndex, x.Score,
                        l.Rank == 0 ? null : l.Rank, l.Rank == 0 ? null : l.Score,
                        v.Rank == 0 ? null : v.Rank, v.Rank == 0 ? null : v.Score);
                }).ToList();
        }
        finally { _lock.ExitReadLock(); }
    }

    private static Dictionary<int, (int Rank, double Score)> Ranks(List<(float Score, int Slot)> list)
    {
        var d = new Dictionary<int, (int, double)>(list.Count);
        for (var i = 0; i < list.Count; i++) d[list[i].Slot] = (i + 1, list[i].Score);
        return d;
    }

    private int TieBreak(int a, int b)
    {
        var x = _slots[a]!; var y = _slots[b]!;
        var c = string.CompareOrdinal(x.DocumentId, y.DocumentId);
        return c != 0 ? c : x.ChunkIndex.CompareTo(y.ChunkIndex);
    }

    private List<(float, int)> Lexical(IReadOnlyList<string> tokens, Func<int, bool> accept, int k, Bm25Parameters? bm25)
    {
        if (tokens.Count == 0) return [];
        var acc = System.Buffers.ArrayPool<float>.Shared.Rent(_slots.Count);
        var touched = new List<int>();
        try
        {
            Array.Clear(acc, 0, _slots.Count);
            _bm25.Accumulate(tokens, bm25?.K1 ?? _options.Bm25K1, bm25?.B ?? _options.Bm25B, _options.Bm25LuceneNorms, accept, acc, touched);
            var top = new TopK(k, TieBreak);
            foreach (var slot in touched) top.Add(acc[slot], slot);
            return top.ToSortedList();
        }
        finally { System.Buffers.ArrayPool<float>.Shared.Return(acc); }
    }

    private List<(float, int)> Vector(float[] query, Func<int, bool> accept, int k)
    {
        var top = new TopK(k, TieBreak);
        if (_hnsw is not null)
        {
            _hnsw.Search(query, Math.Max(_options.HnswEfSearch, k), accept, top, k);
            if (top.Count >= Math.Min(k, _slotOf.Count)) return top.ToSortedList();
            top = new TopK(k, TieBreak); // a selective filter starved the graph walk: scan exactly
        }
        _vectors!.ScanExact(query, _slots.Count, accept, top);
        return top.ToSortedList();
    }

    /// <summary>The slots a query may see: live, matching the filters, of a document the caller may read (memoized per document).</summary>
    private Func<int, bool> Filter(SearchFilters? filters, Func<string, bool>? readable)
    {
        if (readable is null) return Filter(filters);
        // One query's closure (one thread, under the read lock, so no document is added meanwhile): each document is
        // decided once, then it is an array lookup per slot.
        var decided = new sbyte[_docs.Count];
        var slotDoc = _slotDoc;
        var docs = _docs;
        if (filters is null || filters.IsEmpty)
        {
            return slot =>
            {
                var doc = slotDoc[slot];
                if (doc < 0) return false;
                ref var d = ref decided[doc];
                if (d == 0) d = readable(docs[doc]) ? (sbyte)1 : (sbyte)-1;
                return d > 0;
            };
        }
        var inner = Filter(filters);
        return slot =>
        {
            if (!inner(slot)) return false;
            var doc = slotDoc[slot];
            ref var d = ref decided[doc];
            if (d == 0) d = readable(docs[doc]) ? (sbyte)1 : (sbyte)-1;
            return d > 0;
        };
    }

    private Func<int, bool> Filter(SearchFilters? filters)
    {
        if (filters is null || filters.IsEmpty) return slot => _slots[slot] is not null;
        var docs = filters.DocumentIds is { } ids ? new HashSet<string>(ids, StringComparer.Ordinal) : null;
        var meta = filters.Metadata?.Select(kv => (kv.Key, Values: new HashSet<string>(kv.Value, StringComparer.Ordinal))).ToList();
        return slot =>
        {
            var c = _slots[slot];
            if (c is null) return false;
            if (docs is not null && !docs.Contains(c.DocumentId)) return false;
            if (meta is not null)
                foreach (var (key, values) in meta)
                    if (!c.Fields.TryGetValue(key, out var have) || !have.Any(values.Contains)) return false;
            return true;
        };
    }

    /// <summary>Filterable fields from a chunk's metadata: the document metadata's top-level scalars and scalar arrays.</summary>
    public static IReadOnlyDictionary<string, string[]> FieldsOf(string metadataJson)
    {
        var fields = new Dictionary<string, string[]>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(metadataJson);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("document", out var d) || d.ValueKind != JsonValueKind.Object)
                return fields;
            foreach (var p in d.EnumerateObject())
            {
                var values = p.Value.ValueKind == JsonValueKind.Array
                    ? p.Value.EnumerateArray().Select(Scalar).Where(v => v is not null).Select(v => v!).ToArray()
                    : Scalar(p.Value) is { } s ? [s] : [];
                if (values.Length > 0) fields[p.Name] = values;
            }
        }
        catch (JsonException) { }
        return fields;
    }

    public static string? Scalar(JsonElement e) => CorpusIndexFields.Scalar(e);
}

public static class CorpusIndexFields
{
    /// <summary>The filter form of a JSON scalar: strings as-is, numbers as written, true/false; null for anything else.</summary>
    public static string? Scalar(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => null,
    };
}

/// <summary>
/// A throwaway lexical index over chunks read from anywhere (a restored backup in a restore drill), built with the same
/// analyzer and BM25 as the live index, so a drill can check that restored chunks are found by searches.
/// </summary>
public sealed class StandaloneLexicalIndex : IDisposable
{
    private readonly CorpusIndex _index = new(new Core.Search.SearchOptions());
    private readonly EnglishTextAnalyzer _analyzer = new();

    public StandaloneLexicalIndex(IEnumerable<(string ChunkId, string DocumentId, int ChunkIndex, string Text)> chunks)
    {
        long seq = 0;
        _index.Apply(chunks.Select(c => (c.ChunkId, (IndexedChunk?)new IndexedChunk(c.ChunkId, c.DocumentId, c.ChunkIndex, ++seq,
            new Dictionary<string, string[]>(), _analyzer.Analyze(c.Text), null))));
    }

    public int Count => _index.LiveChunks;

    /// <summary>The chunk ids of the best lexical matches for <paramref name="query"/>, best first.</summary>
    public IReadOnlyList<string> Search(string query, int topK) =>
        _index.Search(new Core.Search.IndexQuery("", "", query, null, topK, Core.Search.SearchMode.Lexical, null), _analyzer.Analyze(query))
            .Select(h => h.ChunkId).ToList();

    public void Dispose() => _analyzer.Dispose();
}
