using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Search;

/// <summary>Retrieval settings (section <c>NexusRag:Search</c>).</summary>
public sealed class SearchOptions
{
    public const string Section = "NexusRag:Search";

    /// <summary>
    /// BM25 term-frequency saturation. The grid search on SciFact <em>train</em> (<c>nexusrag eval --split train --tune</c>)
    /// puts k1 = 0.9 only 0.005 nDCG@10 above Lucene's 1.2 (0.698 vs 0.693, well inside the ±0.015 standard error over
    /// 809 queries), so the standard default stays (see README).
    /// </summary>
    [Range(0.0, 10.0)] public double Bm25K1 { get; set; } = 1.2;
    /// <summary>BM25 length normalization (train grid search: b = 0.75 is best).</summary>
    [Range(0.0, 1.0)] public double Bm25B { get; set; } = 0.75;
    /// <summary>
    /// Use Lucene 4.8's one-byte document-length encoding, so BM25 scores match Lucene's (the SciFact reference run).
    /// Off: exact lengths, the textbook formula.
    /// </summary>
    public bool Bm25LuceneNorms { get; set; } = true;
    /// <summary>
    /// Hybrid fusion: <c>Rrf</c> (weighted reciprocal rank) or <c>Convex</c> (weighted min-max normalized scores).
    /// Unset = chosen by embedder (<see cref="FusionFor"/>).
    /// </summary>
    public FusionMethod? Fusion { get; set; }
    /// <summary>Reciprocal rank fusion constant: score = Σ weight / (k + rank).</summary>
    [Range(1, 10_000)] public int RrfK { get; set; } = 60;
    /// <summary>The lexical leg's fusion weight. Unset = chosen by embedder (<see cref="FusionFor"/>).</summary>
    [Range(0.0, 100.0)] public double? LexicalWeight { get; set; }
    /// <summary>
    /// The vector leg's fusion weight. Unset = chosen by embedder: 1.0 for a real model (onnx, openai);
    /// <see cref="HashVectorWeight"/> for the hash embedder, whose vectors are a noisy lexical proxy that adds little to BM25.
    /// </summary>
    [Range(0.0, 100.0)] public double? VectorWeight { get; set; }
    /// <summary>Default vector weight with the hash (or sha256) embedder; tuned on SciFact <em>train</em>.</summary>
    [Range(0.0, 100.0)] public double HashVectorWeight { get; set; } = 0.01;

    /// <summary>
    /// The fusion for a corpus's embedder, where not set explicitly. Lexical proxies (hash, sha256): RRF with the vector leg
    /// at <see cref="HashVectorWeight"/>. Real sentence models: normalized score fusion, lexical 0.5 / vector 0.5 — the best of
    /// the grid (RRF k 10–100 × weights, convex 0.1–0.9) on SciFact <em>train</em> over the configured BM25 (README).
    /// </summary>
    public FusionSettings FusionFor(string embeddingProvider)
    {
        var proxy = embeddingProvider is "hash" or "sha256";
        var method = Fusion ?? (proxy ? FusionMethod.Rrf : FusionMethod.Convex);
        var lexical = LexicalWeight ?? (method == FusionMethod.Convex ? 0.5 : 1.0);
        var vector = VectorWeight ?? (proxy ? HashVectorWeight : method == FusionMethod.Convex ? 0.5 : 1.0);
        return new FusionSettings(method, lexical, vector, RrfK);
    }
    /// <summary>How deep each leg's list goes before fusion (at least top_k).</summary>
    [Range(1, 10_000)] public int CandidatesPerLeg { get; set; } = 100;
    /// <summary>A corpus with more live vectors than this is searched through HNSW; below it, by exact scan.</summary>
    [Range(0, int.MaxValue)] public int HnswThreshold { get; set; } = 20_000;
    [Range(4, 128)] public int HnswM { get; set; } = 16;
    [Range(8, 4096)] public int HnswEfConstruction { get; set; } = 200;
    /// <summary>Threads that build an HNSW graph (a first build, a rebuild, a large catch-up batch); 0: every core.</summary>
    [Range(0, 1024)] public int HnswBuildThreads { get; set; }
    /// <summary>
    /// What the HNSW graph compares while it is built and walked: <c>None</c> — the float32 vectors; <c>Int8</c> — an int8
    /// code per vector (one scale each; +384 B per 384-d vector beside the 1,536 B of floats), a quarter of the memory
    /// traffic, with the beam's results scored again on the floats, so rankings and scores stay exact. The exact scan below
    /// <see cref="HnswThreshold"/> always uses the floats.
    /// </summary>
    public HnswQuantization HnswQuantization { get; set; } = HnswQuantization.None;
    /// <summary>Beam width of an HNSW query (at least top_k). 200: recall@10 ≈ 0.98 at 1M clustered 384-d vectors, p95 ≈ 2 ms (bench/).</summary>
    [Range(8, 4096)] public int HnswEfSearch { get; set; } = 200;
    [Range(1, 1000)] public int MaxTopK { get; set; } = 100;
    [Range(1, 100_000)] public int MaxQueryChars { get; set; } = 4_096;
    /// <summary>How often the background follower polls the change log (searches also catch up on demand).</summary>
    [Range(10, 600_000)] public int SyncIntervalMs { get; set; } = 1_000;
    /// <summary>
    /// Write an index snapshot under the data directory after this many applied changes, or after a tenth of the chunks
    /// the last snapshot held if that is more (0 = only at shutdown).
    /// </summary>
    [Range(0, int.MaxValue)] public int SnapshotEveryChanges { get; set; } = 10_000;
}

/// <summary>The vector representation an HNSW graph is built and walked on (<see cref="SearchOptions.HnswQuantization"/>).</summary>
public enum HnswQuantization { None, Int8 }

/// <summary>How one search fuses its legs.</summary>
public sealed record FusionSettings(FusionMethod Method, double LexicalWeight, double VectorWeight, int RrfK);
