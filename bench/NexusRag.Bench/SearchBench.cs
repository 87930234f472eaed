using System.Diagnostics;
using NexusRag.Core.Search;
using NexusRag.Search;

/// <summary>
/// In-process search benchmark: the real <see cref="CorpusIndex"/> (BM25 + vectors + fusion) over synthetic chunks —
/// 384-d vectors drawn around random topic centroids (clustered like real embeddings) and Zipf-distributed text.
/// Reports build time, memory, exact vs HNSW latency/QPS (one thread) and HNSW recall@10 against exact search.
/// </summary>
static class SearchBench
{
    public static void Run(string[] args)
    {
        string? Val(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        var sizes = (Val("--sizes") ?? "10000,100000").Split(',').Select(int.Parse).ToArray();
        var dims = int.Parse(Val("--dims") ?? "384");
        var queries = int.Parse(Val("--queries") ?? "200");
        var efs = (Val("--ef") ?? "64,128,256").Split(',').Select(int.Parse).ToArray();
        var m = int.Parse(Val("--m") ?? "16");
        var efc = int.Parse(Val("--efc") ?? "100");
        var buildThreads = int.Parse(Val("--build-threads") ?? "0"); // 0: every core
        var modes = (Val("--modes") ?? "exact,hnsw").Split(',');
        var quantization = Enum.Parse<HnswQuantization>(Val("--quantization") ?? "None", ignoreCase: true);
        var noise = float.Parse(Val("--noise") ?? "1.0", System.Globalization.CultureInfo.InvariantCulture);
        var clusters = int.Parse(Val("--clusters") ?? "2048");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; dims={dims}, queries={queries}, HNSW M={m} efConstruction={efc} build threads={(buildThreads > 0 ? buildThreads : Environment.ProcessorCount)}, quantization {quantization}, {clusters} clusters, noise {noise}");
        foreach (var n in sizes) RunSize(n, dims, queries, efs, m, efc, modes, noise, clusters, buildThreads, quantization);
    }

    private static void RunSize(int n, int dims, int queryCount, int[] efs, int m, int efc, string[] modes, float noise, int clusters, int buildThreads, HnswQuantization quantization)
    {
        var rng = new Random(7);
        var centroids = Enumerable.Range(0, clusters).Select(_ => Gaussian(rng, dims, 1f)).ToArray();
        var vocab = Enumerable.Range(0, 50_000).Select(i => $"t{i}").ToArray();
        // Zipf(1) over the vocabulary via the inverse CDF of a harmonic-like distribution.
        var cdf = new double[vocab.Length];
        double acc = 0;
        for (var i = 0; i < vocab.Length; i++) { acc += 1.0 / (i + 1); cdf[i] = acc; }
        string Word(Random r) { var x = r.NextDouble() * acc; var i = Array.BinarySearch(cdf, x); return vocab[i < 0 ? ~i : i]; }
        float[] Vec(Random r) { var c = centroids[r.Next(centroids.Length)]; var v = Gaussian(r, dims, noise); for (var d = 0; d < dims; d++) v[d] += c[d]; return Normalize(v); }

        var qrng = new Random(99);
        var qs = Enumerable.Range(0, queryCount).Select(_ => (Text: string.Join(' ', Enumerable.Range(0, 3).Select(_ => Word(qrng))), Vector: Vec(qrng))).ToArray();
        Dictionary<string, string[]> noFields = [];
        IEnumerable<IndexedChunk> Chunks()
        {
            var r = new Random(11);
            for (var i = 0; i < n; i++)
                yield return new IndexedChunk($"c{i}", $"d{i / 4}", i % 4, i + 1, noFields, Enumerable.Range(0, 40).Select(_ => Word(r)).ToList(), Vec(r));
        }

        List<string>[]? truth = null;
        foreach (var mode in modes)
        {
            var options = new SearchOptions { HnswThreshold = mode == "hnsw" ? 0 : int.MaxValue, HnswM = m, HnswEfConstruction = efc, HnswBuildThreads = buildThreads, HnswQuantization = quantization, CandidatesPerLeg = 100 };
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            var before = GC.GetTotalMemory(true);
            var index = new CorpusIndex(options);
            var sw = Stopwatch.StartNew();
            foreach (var batch in Chunks().Chunk(10_000)) index.Apply(batch.Select(c => (c.ChunkId, (IndexedChunk?)c)));
            var build = sw.Elapsed;
            var memory = GC.GetTotalMemory(true) - before;
            Console.WriteLine($"n={n:N0} {mode}: built in {build.TotalSeconds:F1} s ({n / build.TotalSeconds:F0} chunks/s, BM25 + vectors{(mode == "hnsw" ? " + HNSW" : "")}), managed memory {memory / 1048576.0:F0} MiB ({memory / (double)n:F0} B/chunk; vectors alone {dims * 4} B)");

            if (mode == "exact")
            {
                truth = qs.Select(q => Search(index, q, SearchMode.Vector, 10).Select(h => h.ChunkId).ToList()).ToArray();
                Report($"n={n:N0} exact  vector ", index, qs, SearchMode.Vector, n, dims, bandwidth: true);
                Report($"n={n:N0} exact  lexical", index, qs, SearchMode.Lexical, n, dims);
                Report($"n={n:N0} exact  hybrid ", index, qs, SearchMode.Hybrid, n, dims);
            }
            else
            {
                foreach (var ef in efs)
                {
                    options.HnswEfSearch = ef;
                    var recall = truth is null ? double.NaN
                        : qs.Select((q, i) => Search(index, q, SearchMode.Vector, 10).Count(h => truth[i].Contains(h.ChunkId)) / 10.0).Average();
                    Report($"n={n:N0} hnsw ef={ef,-4} vector ", index, qs, SearchMode.Vector, n, dims, recall: recall);
                }
                options.HnswEfSearch = efs[0];
                Report($"n={n:N0} hnsw ef={efs[0],-4} hybrid ", index, qs, SearchMode.Hybrid, n, dims);
                RestartFromSnapshot(index, options, qs, build, n);
            }
            GC.KeepAlive(index);
        }
    }

    /// <summary>A restart: the snapshot (chunks, vectors, HNSW graph, SHA-256) written, read back and loaded, against the build.</summary>
    private static void RestartFromSnapshot(CorpusIndex index, SearchOptions options, (string Text, float[] Vector)[] qs, TimeSpan build, int n)
    {
        var path = Path.Combine(Path.GetTempPath(), $"nexusrag-bench-{Guid.NewGuid():N}.snapshot");
        try
        {
            var sw = Stopwatch.StartNew();
            var exported = index.ExportSnapshot();
            using (var file = File.Create(path)) IndexSnapshot.Write(file, "bench", 1, [new IndexSnapshot.Corpus("t", "c", 1, exported)]);
            var write = sw.Elapsed;
            exported = null;
            GC.Collect();
            sw.Restart();
            IndexSnapshot.Content content;
            using (var file = File.OpenRead(path)) content = IndexSnapshot.Read(file);
            var read = sw.Elapsed;
            var restored = new CorpusIndex(options);
            restored.LoadSnapshot(content.Corpora[0].Index);
            var load = sw.Elapsed;
            var same = qs.Count(q => Search(index, q, SearchMode.Vector, 10).Select(h => h.ChunkId).SequenceEqual(Search(restored, q, SearchMode.Vector, 10).Select(h => h.ChunkId)));
            Console.WriteLine($"  n={n:N0} restart: snapshot {new FileInfo(path).Length / 1048576.0:F0} MiB written in {write.TotalSeconds:F1} s; " +
                              $"read + load {load.TotalSeconds:F1} s (read {read.TotalSeconds:F1} s, load {(load - read).TotalSeconds:F1} s; graph restored: {restored.GraphRestored}) vs build {build.TotalSeconds:F1} s ({build / load:F0}x faster); " +
                              $"identical top-10 for {same}/{qs.Length} queries");
        }
        finally { File.Delete(path); }
    }

    private static List<IndexHit> Search(CorpusIndex index, (string Text, float[] Vector) q, SearchMode mode, int k) =>
        index.Search(new IndexQuery("t", "c", q.Text, q.Vector, k, mode, null, 1.0, 1.0), q.Text.Split(' '));

    private static void Report(string label, CorpusIndex index, (string Text, float[] Vector)[] qs, SearchMode mode, int n, int dims,
        bool bandwidth = false, double recall = double.NaN)
    {
        foreach (var q in qs.Take(20)) Search(index, q, mode, 10); // warm-up
        var lat = new List<double>(qs.Length);
        var wall = Stopwatch.StartNew();
        foreach (var q in qs)
        {
            var t = Stopwatch.GetTimestamp();
            Search(index, q, mode, 10);
            lat.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
        }
        var qps = qs.Length / wall.Elapsed.TotalSeconds;
        lat.Sort();
        double P(double p) => lat[Math.Clamp((int)Math.Ceiling(p * lat.Count) - 1, 0, lat.Count - 1)];
        var extra = bandwidth ? $", scan {(double)n * dims * 4 / (P(0.5) / 1000) / 1e9:F1} GB/s" : "";
        if (!double.IsNaN(recall)) extra += $", recall@10 {recall:F3}";
        Console.WriteLine($"  {label}: p50 {P(0.5):F2} ms, p95 {P(0.95):F2} ms, {qps:F0} QPS (1 thread){extra}");
    }

    internal static float[] Gaussian(Random r, int dims, float scale)
    {
        var v = new float[dims];
        for (var i = 0; i < dims; i++)
        {
            var u1 = 1 - r.NextDouble(); var u2 = r.NextDouble();
            v[i] = scale * (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return v;
    }

    internal static float[] Normalize(float[] v)
    {
        var norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(v));
        System.Numerics.Tensors.TensorPrimitives.Divide(v, norm, v);
        return v;
    }
}
