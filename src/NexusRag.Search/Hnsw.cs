using System.Collections.Concurrent;

namespace NexusRag.Search;

/// <summary>
/// Hierarchical navigable small-world graph (Malkov &amp; Yashunin 2018) over a <see cref="VectorStore"/>, maximizing
/// inner product of normalized vectors (= cosine). Layers are drawn with mL = 1/ln M; layer 0 keeps up to 2M links,
/// upper layers M; neighbours are chosen with the paper's diversity heuristic (Algorithm 4), which keeps recall high
/// on clustered data. Removed slots stay in the graph as waypoints and are filtered out of results; the owning index
/// rebuilds the graph when too many accumulate. Inserts need exclusive access from the owner (searches may run
/// concurrently with each other); within <see cref="InsertMany"/> the graph inserts on several threads itself, as hnswlib
/// does: a lock per neighbour list for writers, lists published entries-first so lock-free readers only ever see linked
/// nodes, and the entry point under one lock (held through the insert of a node that raises the top layer).
/// </summary>
internal sealed class Hnsw
{
    private readonly VectorStore _vectors;
    private readonly int _m;
    private readonly int _m0;
    private readonly int _efConstruction;
    private readonly double _levelMult;
    private readonly Random _random;
    // Layer 0 (every node, most of the walking) in one flat array, node n's list at n·(2M+1): [count, n1, n2, …], so
    // expanding a node is one memory access instead of three dependent ones (node → its layers → the list), as in
    // hnswlib. Upper layers (a node has one with probability 1/M) stay per node: _upper[n][l − 1] = [count, n1, …].
    private readonly int _stride0;
    private int[] _level0 = [];
    private byte[] _levels = new byte[16]; // a node's top layer + 1; 0: not in the graph
    private int[][]?[] _upper = new int[16][][];
    private readonly object[] _locks = CreateLocks(); // a node's lists are written under _locks[node % LockCount]
    private const int LockCount = 1024;
    private int _entry = -1;
    private int _maxLayer = -1;
    private readonly ConcurrentBag<Visited> _visitedPool = [];
    private readonly object _entryLock = new();
    private int _count;

    /// <summary>Below this many new nodes, <see cref="InsertMany"/> inserts on the calling thread alone.</summary>
    public const int ParallelMinimum = 2_048;

    public int Count => _count;

    /// <summary>Layers a node can have (its level is capped below this; a level is ~ln(n)/ln(M), 5 for 1M nodes at M = 16).</summary>
    private const int MaxLayers = 64;

    public Hnsw(VectorStore vectors, int m = 16, int efConstruction = 200, int seed = 42)
    {
        _vectors = vectors;
        _m = m;
        _m0 = 2 * m;
        _stride0 = _m0 + 1;
        _level0 = new int[16 * _stride0];
        _efConstruction = Math.Max(efConstruction, m);
        _levelMult = 1 / Math.Log(m);
        _random = new Random(seed);
    }

    public bool Contains(int slot) => slot < _levels.Length && _levels[slot] > 0;

    private static object[] CreateLocks()
    {
        var locks = new object[LockCount];
        for (var i = 0; i < locks.Length; i++) locks[i] = new object();
        return locks;
    }

    private object LockOf(int node) => _locks[node % LockCount];

    /// <summary>Node <paramref name="node"/>'s list on <paramref name="layer"/>: the array and where [count, n1, …] starts in it.</summary>
    private (int[] Array, int Offset) List(int node, int layer) =>
        layer == 0 ? (_level0, node * _stride0) : (_upper[node]![layer - 1], 0);

    private void EnsureCapacity(int nodes)
    {
        if (nodes <= _levels.Length) return;
        var size = Math.Max(nodes, _levels.Length * 2);
        Array.Resize(ref _level0, size * _stride0);
        Array.Resize(ref _levels, size);
        Array.Resize(ref _upper, size);
    }

    /// <summary>The graph as saved in a snapshot, its nodes renumbered by <paramref name="ordinalOf"/> (−1: the slot is gone).</summary>
    public sealed record Graph(int M, int EfConstruction, int Entry, int MaxLayer, int[]?[][] Links);

    /// <summary>
    /// The graph over the live slots only, renumbered: links to removed slots are dropped (they were waypoints), and a
    /// removed entry point is replaced by the live node of the highest layer.
    /// </summary>
    public Graph Export(int[] ordinalOf, int nodes)
    {
        var links = new int[]?[nodes][];
        int entry = -1, maxLayer = -1;
        var kept = new List<int>(_m0);
        for (var slot = 0; slot < Math.Min(_levels.Length, ordinalOf.Length); slot++)
        {
            var layers = _levels[slot];
            if (layers == 0 || ordinalOf[slot] < 0) continue;
            var node = new int[]?[layers];
            for (var l = 0; l < layers; l++)
            {
                var (src, o) = List(slot, l);
                kept.Clear();
                for (var i = 1; i <= src[o]; i++) if (src[o + i] < ordinalOf.Length && ordinalOf[src[o + i]] >= 0) kept.Add(ordinalOf[src[o + i]]);
                node[l] = kept.ToArray();
            }
            links[ordinalOf[slot]] = node;
            if (layers - 1 > maxLayer) { maxLayer = layers - 1; entry = ordinalOf[slot]; }
        }
        if (_entry >= 0 && _entry < ordinalOf.Length && ordinalOf[_entry] >= 0) { entry = ordinalOf[_entry]; maxLayer = _levels[_entry] - 1; }
        return new Graph(_m, _efConstruction, entry, maxLayer, links);
    }

    /// <summary>A graph read back from a snapshot over <paramref name="vectors"/> (slots = the snapshot's ordinals).</summary>
    public static Hnsw Restore(VectorStore vectors, Graph graph)
    {
        var h = new Hnsw(vectors, graph.M, graph.EfConstruction);
        h.EnsureCapacity(Math.Max(16, graph.Links.Length));
        for (var n = 0; n < graph.Links.Length; n++)
        {
            if (graph.Links[n] is not { } layers) continue;
            if (layers.Length is 0 or > MaxLayers) throw new InvalidDataException("index snapshot graph has an invalid node");
            if (layers.Length > 1)
            {
                var upper = new int[layers.Length - 1][];
                for (var l = 1; l < layers.Length; l++) upper[l - 1] = new int[h._m + 1];
                h._upper[n] = upper;
            }
            h._levels[n] = (byte)layers.Length;
            for (var l = 0; l < layers.Length; l++)
            {
                var max = l == 0 ? h._m0 : h._m;
                var saved = layers[l] ?? [];
                if (saved.Length > max) throw new InvalidDataException("index snapshot graph has an invalid link");
                foreach (var x in saved)
                    if ((uint)x >= (uint)graph.Links.Length || graph.Links[x] is not { } other || other.Length <= l)
                        throw new InvalidDataException("index snapshot graph has an invalid link");
                var (links, o) = h.List(n, l);
                links[o] = saved.Length;
                saved.CopyTo(links, o + 1);
            }
            h._count++;
        }
        h._entry = graph.Entry;
        h._maxLayer = graph.MaxLayer;
        if (h.Count > 0 && (h._entry < 0 || h._entry >= graph.Links.Length || graph.Links[h._entry] is null))
            throw new InvalidDataException("index snapshot graph has no valid entry point");
        return h;
    }

    public void Insert(int slot) => InsertMany([slot], 1);

    /// <summary>
    /// Inserts the slots (levels drawn in order from the seeded generator); with more than one thread and at least
    /// <see cref="ParallelMinimum"/> slots, the inserts run in parallel (the graph's shape then depends on timing, its
    /// quality does not). The caller holds the graph exclusively.
    /// </summary>
    public void InsertMany(IReadOnlyList<int> slots, int threads)
    {
        if (slots.Count == 0) return;
        var top = -1;
        foreach (var slot in slots) top = Math.Max(top, slot);
        EnsureCapacity(top + 1);
        var levels = new int[slots.Count];
        for (var i = 0; i < levels.Length; i++) levels[i] = Math.Min(MaxLayers - 1, (int)Math.Floor(-Math.Log(1 - _random.NextDouble()) * _levelMult));
        if (threads <= 1 || slots.Count < ParallelMinimum)
        {
            for (var i = 0; i < slots.Count; i++) InsertAt(slots[i], levels[i]);
            return;
        }
        // A spine first, on one thread, so the parallel inserts start from a connected graph.
        var head = Math.Min(slots.Count, 256);
        for (var i = 0; i < head; i++) InsertAt(slots[i], levels[i]);
        Parallel.For(head, slots.Count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => InsertAt(slots[i], levels[i]));
    }

    private void InsertAt(int slot, int level)
    {
        // The node's lists exist (empty) before any list names it.
        _level0[slot * _stride0] = 0;
        if (level > 0)
        {
            var upper = new int[level][];
            for (var l = 0; l < level; l++) upper[l] = new int[_m + 1];
            _upper[slot] = upper;
        }
        Volatile.Write(ref _levels[slot], (byte)(level + 1));
        Interlocked.Increment(ref _count);

        int ep, maxLayer;
        var holdsEntry = false;
        lock (_entryLock)
        {
            if (_entry < 0) { _entry = slot; _maxLayer = level; return; }
            (ep, maxLayer) = (_entry, _maxLayer);
        }
        if (level > maxLayer)
        {
            // A new top layer: keep the entry point to ourselves until this node, its future replacement, is linked.
            Monitor.Enter(_entryLock);
            holdsEntry = true;
            (ep, maxLayer) = (_entry, _maxLayer);
        }
        try
        {
            var q = _vectors.Get(slot);
            var epSim = _vectors.Similarity(ep, q);
            for (var l = maxLayer; l > level; l--) (ep, epSim) = Greedy(q, ep, epSim, l);

            var visited = RentVisited();
            try
            {
                for (var l = Math.Min(level, maxLayer); l >= 0; l--)
                {
                    var candidates = SearchLayer(q, [(epSim, ep)], _efConstruction, l, visited);
                    var max = l == 0 ? _m0 : _m;
                    var chosen = SelectNeighbours(candidates, _m);
                    var (own, at) = List(slot, l);
                    lock (LockOf(slot)) SetLinks(own, at, chosen);
                    foreach (var (_, n) in chosen)
                    {
                        var (links, o) = List(n, l);
                        lock (LockOf(n)) Connect(n, links, o, slot, max);
                    }
                    (epSim, ep) = candidates[0];
                }
            }
            finally { _visitedPool.Add(visited); }
            if (holdsEntry && level > _maxLayer) { _maxLayer = level; _entry = slot; }
        }
        finally
        {
            if (holdsEntry) Monitor.Exit(_entryLock);
        }
    }

    /// <summary>
    /// Approximate top-k: greedy descent, then a beam of width max(ef, k) on layer 0. Over int8 codes, every node the
    /// beam returns is scored again with the float32 vectors, so results carry (and are ranked by) exact similarities.
    /// </summary>
    public void Search(ReadOnlySpan<float> values, int ef, Func<int, bool> accept, TopK top, int k)
    {
        if (_entry < 0) return;
        var ep = _entry;
        var epSim = _vectors.Similarity(ep, values);
        for (var l = _maxLayer; l > 0; l--) (ep, epSim) = Greedy(values, ep, epSim, l);
        var visited = RentVisited();
        try
        {
            var rescore = _vectors.Quantized;
            foreach (var (sim, n) in SearchLayer(values, [(epSim, ep)], Math.Max(ef, k), 0, visited))
                if (accept(n)) top.Add(rescore ? _vectors.ExactSimilarity(n, values) : sim, n);
        }
        finally { _visitedPool.Add(visited); }
    }

    private (int, float) Greedy(ReadOnlySpan<float> q, int ep, float epSim, int layer)
    {
        var improved = true;
        while (improved)
        {
            improved = false;
            var (links, o) = List(ep, layer);
            var count = Volatile.Read(ref links[o]);
            for (var i = 1; i <= count; i++) _vectors.Prefetch(links[o + i]);
            for (var i = 1; i <= count; i++)
            {
                var n = links[o + i];
                var s = _vectors.Similarity(n, q);
                if (s > epSim) { epSim = s; ep = n; improved = true; }
            }
        }
        return (ep, epSim);
    }

    /// <summary>Algorithm 2: best-first beam search on one layer; returns up to ef nodes, most similar first.</summary>
    private List<(float Sim, int Node)> SearchLayer(ReadOnlySpan<float> q, List<(float Sim, int Node)> entries, int ef, int layer, Visited visited)
    {
        visited.Next(_levels.Length);
        var candidates = new PriorityQueue<int, float>(); // most similar first (priority = −sim)
        var results = new PriorityQueue<int, float>();    // least similar first (priority = sim)
        foreach (var (sim, n) in entries)
        {
            visited.Mark(n);
            candidates.Enqueue(n, -sim);
            results.Enqueue(n, sim);
        }
        while (candidates.TryDequeue(out var c, out var negSim))
        {
            results.TryPeek(out _, out var worst);
            if (-negSim < worst && results.Count >= ef) break;
            if (layer >= _levels[c]) continue;
            var (links, o) = List(c, layer);
            var count = Volatile.Read(ref links[o]);
            // The unvisited neighbours first, their vectors prefetched, then scored (hnswlib's _mm_prefetch).
            var fresh = visited.Fresh;
            var k = 0;
            for (var i = 1; i <= count; i++)
            {
                var n = links[o + i];
                if (!visited.Mark(n)) continue;
                fresh[k++] = n;
                _vectors.Prefetch(n);
            }
            for (var j = 0; j < k; j++)
            {
                var n = fresh[j];
                var s = _vectors.Similarity(n, q);
                results.TryPeek(out _, out worst);
                if (results.Count < ef || s > worst)
                {
                    candidates.Enqueue(n, -s);
                    results.Enqueue(n, s);
                    if (results.Count > ef) results.Dequeue();
                }
            }
        }
        var list = new List<(float, int)>(results.Count);
        while (results.TryDequeue(out var n, out var s)) list.Add((s, n));
        list.Reverse();
        return list;
    }

    /// <summary>Algorithm 4: keep a candidate only if it is closer to the query than to every neighbour already kept.</summary>
    private List<(float Sim, int Node)> SelectNeighbours(List<(float Sim, int Node)> candidates, int max)
    {
        var chosen = new List<(float, int)>(max);
        var skipped = new List<(float, int)>();
        foreach (var (sim, n) in candidates)
        {
            if (chosen.Count >= max) break;
            var keep = true;
            foreach (var (_, c) in chosen)
                if (_vectors.Similarity(n, c) > sim) { keep = false; break; }
            if (keep) chosen.Add((sim, n)); else skipped.Add((sim, n));
        }
        // Fill up with the best of the discarded ones (keepPrunedConnections) so nodes do not end up sparsely linked.
        foreach (var s in skipped) { if (chosen.Count >= max) break; chosen.Add(s); }
        return chosen;
    }

    /// <summary>Rewrites a neighbour list: entries first, then the count, so a lock-free reader sees only linked nodes.</summary>
    private static void SetLinks(int[] links, int o, List<(float Sim, int Node)> neighbours)
    {
        for (var i = 0; i < neighbours.Count; i++) links[o + i + 1] = neighbours[i].Node;
        Volatile.Write(ref links[o], neighbours.Count);
    }

    /// <summary>Adds <paramref name="to"/> to <paramref name="from"/>'s list (held by the caller's lock), pruning by the heuristic when full.</summary>
    private void Connect(int from, int[] links, int o, int to, int max)
    {
        var count = links[o];
        if (count < max)
        {
            links[o + count + 1] = to;
            Volatile.Write(ref links[o], count + 1);
            return;
        }
        var candidates = new List<(float, int)>(max + 1) { (_vectors.Similarity(from, to), to) };
        for (var i = 1; i <= count; i++) candidates.Add((_vectors.Similarity(from, links[o + i]), links[o + i]));
        candidates.Sort((a, b) => b.Item1.CompareTo(a.Item1));
        SetLinks(links, o, SelectNeighbours(candidates, max));
    }

    private Visited RentVisited()
    {
        var v = _visitedPool.TryTake(out var pooled) ? pooled : new Visited();
        if (v.Fresh.Length < _m0) v.Fresh = new int[_m0];
        return v;
    }

    /// <summary>A visited set reset in O(1) by bumping a generation stamp.</summary>
    private sealed class Visited
    {
        private int[] _stamp = new int[16];
        private int _generation;

        /// <summary>Scratch for one neighbour list's unvisited entries (a list holds at most 2M).</summary>
        public int[] Fresh = new int[64];

        public void Next(int size)
        {
            if (_stamp.Length < size) _stamp = new int[Math.Max(size, _stamp.Length * 2)];
            if (++_generation == int.MaxValue) { Array.Clear(_stamp); _generation = 1; }
        }

        /// <summary>Marks the node; false when it was already marked in this generation.</summary>
        public bool Mark(int node)
        {
            if (node >= _stamp.Length) Array.Resize(ref _stamp, Math.Max(node + 1, _stamp.Length * 2));
            if (_stamp[node] == _generation) return false;
            _stamp[node] = _generation;
            return true;
        }
    }
}
