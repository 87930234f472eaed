namespace NexusRag.Search;

/// <summary>
/// Okapi BM25 over an in-memory inverted index (Robertson &amp; Zaragoza 2009), with Lucene's non-negative idf:
/// <code>
/// score(q, d) = Σ_{t ∈ q} qtf(t) · idf(t) · tf(t,d)·(k1 + 1) / (tf(t,d) + k1·(1 − b + b·|d|/avgdl))
/// idf(t)      = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
/// </code>
/// N, df and avgdl count live documents only. With <c>luceneNorms</c>, |d| is Lucene 4.8's one-byte encoded length
/// (<see cref="LuceneLength"/>) while avgdl stays exact, as in Lucene's BM25Similarity. Removed slots stay in the postings (skipped when scoring) until
/// the owning index compacts.
/// </summary>
internal sealed class Bm25Index
{
    private readonly Dictionary<string, int> _termIds = new(StringComparer.Ordinal);
    private readonly List<string> _terms = [];
    private readonly List<Postings> _postings = [];
    private int[] _length = new int[16];
    private float[] _luceneLength = new float[16];
    private long _totalLength;

    public int LiveDocs { get; private set; }
    public double AverageLength => LiveDocs == 0 ? 0 : (double)_totalLength / LiveDocs;
    public int TermCount => _terms.Count;
    public string Term(int id) => _terms[id];
    /// <summary>The vocabulary, a term's id being its position (for snapshots).</summary>
    public string[] Terms() => [.. _terms];

    public static double Idf(int df, int n) => Math.Log(1 + (n - df + 0.5) / (df + 0.5));

    public static double Score(int tf, int df, int n, int length, double avgLength, double k1, double b) =>
        Idf(df, n) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avgLength));

    // Scratch space of Intern (its callers hold the owning index's write lock): no allocation per chunk but the result.
    private readonly Dictionary<int, int> _scratchCounts = [];
    private readonly List<int> _scratchOrder = [];

    /// <summary>Counts terms: (term id, tf) pairs in first-occurrence order, creating ids as needed.</summary>
    public (int[] TermIds, int[] Tfs) Intern(IReadOnlyList<string> tokens)
    {
        var counts = _scratchCounts;
        var order = _scratchOrder;
        counts.Clear();
        order.Clear();
        foreach (var t in tokens)
        {
            if (!_termIds.TryGetValue(t, out var id))
            {
                id = _terms.Count;
                _termIds[t] = id;
                _terms.Add(t);
                _postings.Add(new Postings());
            }
            ref var c = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, id, out var exists);
            if (!exists) order.Add(id);
            c++;
        }
        var ids = order.ToArray();
        var tfs = new int[ids.Length];
        for (var i = 0; i < ids.Length; i++) tfs[i] = counts[ids[i]];
        return (ids, tfs);
    }

    /// <summary>
    /// Gives an empty index a snapshot's vocabulary (a term's id is its position) and room for each term's postings and
    /// <paramref name="slots"/> documents, so loading neither hashes a token nor grows an array by doubling.
    /// </summary>
    public void LoadVocabulary(string[] terms, int[] postingsPerTerm, int slots)
    {
        if (_terms.Count > 0 || LiveDocs > 0) throw new InvalidOperationException("a vocabulary loads into an empty index");
        _termIds.EnsureCapacity(terms.Length);
        _terms.Capacity = terms.Length;
        _postings.Capacity = terms.Length;
        for (var i = 0; i < terms.Length; i++)
        {
            if (!_termIds.TryAdd(terms[i], i)) throw new InvalidDataException("index snapshot vocabulary repeats a term");
            _terms.Add(terms[i]);
            _postings.Add(new Postings(postingsPerTerm[i]));
        }
        if (slots > _length.Length)
        {
            _length = new int[slots];
            _luceneLength = new float[slots];
        }
    }

    public void Add(int slot, int[] termIds, int[] tfs, int length)
    {
        if (slot >= _length.Length)
        {
            Array.Resize(ref _length, Math.Max(slot + 1, _length.Length * 2));
            Array.Resize(ref _luceneLength, _length.Length);
        }
        _length[slot] = length;
        _luceneLength[slot] = LuceneLength(length);
        _totalLength += length;
        LiveDocs++;
        for (var i = 0; i < termIds.Length; i++) _postings[termIds[i]].Add(slot, tfs[i]);
    }

    public void Remove(int[] termIds, int length)
    {
        _totalLength -= length;
        LiveDocs--;
        foreach (var id in termIds) _postings[id].Df--;
    }

    /// <summary>Adds each accepted document's BM25 score for the query terms into <paramref name="acc"/>.</summary>
    public void Accumulate(IReadOnlyList<string> queryTokens, double k1, double b, bool luceneNorms, Func<int, bool> accept, float[] acc, List<int> touched)
    {
        if (LiveDocs == 0) return;
        var n = LiveDocs;
        var avg = AverageLength;
        var qtf = new Dictionary<int, int>();
        foreach (var t in queryTokens)
            if (_termIds.TryGetValue(t, out var id)) qtf[id] = qtf.TryGetValue(id, out var c) ? c + 1 : 1;
        foreach (var (id, count) in qtf)
        {
            var p = _postings[id];
            if (p.Df <= 0) continue;
            var idf = Idf(p.Df, n) * count;
            var k1p1 = k1 + 1;
            for (var i = 0; i < p.Count; i++)
            {
                var slot = p.Slots[i];
                if (!accept(slot)) continue;
                var tf = p.Tfs[i];
                var length = luceneNorms ? _luceneLength[slot] : _length[slot];
                var s = (float)(idf * tf * k1p1 / (tf + k1 * (1 - b + b * length / avg)));
                if (acc[slot] == 0) touched.Add(slot);
                acc[slot] += s;
            }
        }
    }

    /// <summary>
    /// Lucene's document length as its BM25Similarity sees it: stored as one byte, <c>1/√|d|</c> in SmallFloat 3.15
    /// format, decoded as <c>1/f²</c>. Lengths come out rounded onto a coarse log scale; scores then match Lucene's.
    /// </summary>
    public static float LuceneLength(int length)
    {
        if (length <= 0) return 0;
        var f = Lucene.Net.Util.SmallSingle.Byte315ToSingle(Lucene.Net.Util.SmallSingle.SingleToByte315(1f / MathF.Sqrt(length)));
        return 1f / (f * f);
    }

    private sealed class Postings(int capacity = 2)
    {
        public int[] Slots = new int[Math.Max(2, capacity)];
        public int[] Tfs = new int[Math.Max(2, capacity)];
        public int Count;
        /// <summary>Live documents containing the term.</summary>
        public int Df;

        public void Add(int slot, int tf)
        {
            if (Count == Slots.Length)
            {
                Array.Resize(ref Slots, Count * 2);
                Array.Resize(ref Tfs, Count * 2);
            }
            Slots[Count] = slot;
            Tfs[Count] = tf;
            Count++;
            Df++;
        }
    }
}
