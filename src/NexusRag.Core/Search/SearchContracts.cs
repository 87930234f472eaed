namespace NexusRag.Core.Search;

public enum SearchMode { Hybrid, Lexical, Vector }

/// <summary>
/// Restricts a search to some documents: <see cref="DocumentIds"/> (any of) and <see cref="Metadata"/>
/// (every key must match; a key matches when the document's value, or one of its array values, is among the given ones).
/// </summary>
public sealed record SearchFilters(IReadOnlyList<string>? DocumentIds, IReadOnlyDictionary<string, IReadOnlyList<string>>? Metadata)
{
    public bool IsEmpty => DocumentIds is null && (Metadata is null || Metadata.Count == 0);
}

/// <summary>One query against one corpus's index. <see cref="QueryVector"/> is required for the vector leg.</summary>
public sealed record IndexQuery(
    string TenantId, string CorpusId, string Text, float[]? QueryVector, int TopK, SearchMode Mode, SearchFilters? Filters,
    double LexicalWeight = 1.0, double VectorWeight = 1.0, Bm25Parameters? Bm25 = null, FusionMethod? Fusion = null, int? RrfK = null,
    int IndexVersion = 1, Func<string, bool>? Readable = null);

/// <summary>How the hybrid search merges its lexical and vector lists.</summary>
public enum FusionMethod
{
    /// <summary>Weighted reciprocal rank fusion: Σ weight / (k + rank).</summary>
    Rrf,
    /// <summary>Weighted sum of min-max normalized scores.</summary>
    Convex,
}

/// <summary>BM25 parameters for one query (evaluation grids); null means the configured <c>Bm25K1</c> / <c>Bm25B</c>.</summary>
public sealed record Bm25Parameters(double K1, double B);

/// <summary>A ranked chunk. Ranks are 1-based positions in each leg's list (null when the leg did not return it).</summary>
public sealed record IndexHit(
    string ChunkId, string DocumentId, int ChunkIndex, double Score,
    int? LexicalRank, double? LexicalScore, int? VectorRank, double? VectorScore);

/// <summary>
/// The derived search index (port). Built from the chunk change log and always rebuildable from the store.
/// </summary>
public interface ISearchIndex
{
    /// <summary>Applies every change committed before this call; on return, the index reflects them.</summary>
    Task CatchUpAsync(CancellationToken ct);
    IReadOnlyList<IndexHit> Search(IndexQuery query);
    long AppliedSeq { get; }
}
