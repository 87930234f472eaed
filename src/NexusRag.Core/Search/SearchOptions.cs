using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Search;

/// <summary>Retrieval settings (section <c>NexusRag:Search</c>).</summary>
public sealed class SearchOptions
{
    public const string Section = "NexusRag:Search";

    /// <summary>BM25 term-frequency saturation. Default tuned on SciFact <em>train</em> (see README).</summary>
    [Range(0.0, 10.0)] public double Bm25K1 { get; set; } = 1.2;
    /// <summary>BM25 length normalization. Default tuned on SciFact <em>train</em> (see README).</summary>
    [Range(0.0, 1.0)] public double Bm25B { get; set; } = 0.75;
    /// <summary>Reciprocal rank fusion constant: score = Σ weight / (k + rank).</summary>
    [Range(1, 10_000)] public int RrfK { get; set; } = 60;
    [Range(0.0, 100.0)] public double LexicalWeight { get; set; } = 1.0;
    [Range(0.0, 100.0)] public double VectorWeight { get; set; } = 1.0;
    /// <summary>How deep each leg's list goes before fusion (at least top_k).</summary>
    [Range(1, 10_000)] public int CandidatesPerLeg { get; set; } = 100;
    /// <summary>A corpus with more live vectors than this is searched through HNSW; below it, by exact scan.</summary>
    [Range(0, int.MaxValue)] public int HnswThreshold { get; set; } = 20_000;
    [Range(4, 128)] public int HnswM { get; set; } = 16;
    [Range(8, 4096)] public int HnswEfConstruction { get; set; } = 200;
    [Range(8, 4096)] public int HnswEfSearch { get; set; } = 96;
    [Range(1, 1000)] public int MaxTopK { get; set; } = 100;
    [Range(1, 100_000)] public int MaxQueryChars { get; set; } = 4_096;
    /// <summary>How often the background follower polls the change log (searches also catch up on demand).</summary>
    [Range(10, 600_000)] public int SyncIntervalMs { get; set; } = 1_000;
    /// <summary>Write an index snapshot under the data directory after this many applied changes (0 = only at shutdown).</summary>
    [Range(0, int.MaxValue)] public int SnapshotEveryChanges { get; set; } = 10_000;
}
