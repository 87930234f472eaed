using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace NexusRag.Core.Search;

/// <summary>A reranker's verdict on one candidate: its position in the list sent, and its relevance.</summary>
public sealed record RerankScore(int Index, double RelevanceScore);

/// <summary>A cross-encoder (or any model) that scores candidates against the query (port).</summary>
public interface IReranker
{
    /// <summary>Scores for some or all of <paramref name="documents"/>, best first; throws <see cref="RerankerException"/> on any failure.</summary>
    Task<IReadOnlyList<RerankScore>> RerankAsync(string query, IReadOnlyList<string> documents, int topN, CancellationToken ct);
}

/// <summary>The reranker failed or answered something unusable.</summary>
public sealed class RerankerException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Optional reranking of the top hits (section <c>NexusRag:Rerank</c>; flat names <c>RERANK_PROVIDER</c>, <c>RERANK_BASE_URL</c>,
/// <c>RERANK_MODEL</c>, <c>RERANK_API_KEY</c>, <c>RERANK_TOP_N</c>, <c>RERANK_TIMEOUT_MS</c>).
/// </summary>
public sealed class RerankOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Rerank";
    public static readonly string[] Providers = ["none", "http"];

    /// <summary><c>none</c> (default) or <c>http</c>: the common <c>POST {base}/rerank</c> shape of Cohere, Jina, vLLM and TEI-compatible servers.</summary>
    public string Provider { get; set; } = "none";
    public string? BaseUrl { get; set; }
    public string? Model { get; set; }
    public string? ApiKey { get; set; }
    /// <summary>How many of the best fused hits are sent to the reranker (at least top_k).</summary>
    [Range(1, 1000)] [FlatName("RERANK_TOP_N")] public int Candidates { get; set; } = 20;
    /// <summary>After this the search answers in the un-reranked order.</summary>
    [Range(10, 120_000)] [FlatName("RERANK_TIMEOUT_MS")] public int TimeoutMs { get; set; } = 2_000;

    public bool Enabled => Provider != "none";
    public List<string> ParseErrors { get; } = [];
}

/// <summary>What happened to a search's order: reranked, or kept because the reranker failed (the search still answers).</summary>
public enum RerankOutcome { Applied, Fallback }

/// <summary>
/// Reorders the first <see cref="RerankOptions.Candidates"/> results by the reranker's scores. Any failure (timeout, 5xx,
/// an answer that is not the protocol) leaves the fused order as it was: reranking can improve a search, never break it.
/// </summary>
public sealed class RerankStage(IOptions<RerankOptions> options, ILogger<RerankStage> logger, IReranker? reranker = null)
{
    public bool Enabled => reranker is not null && options.Value.Enabled;

    /// <summary>How many fused hits to fetch so the reranker sees its candidates.</summary>
    public int Depth(int topK) => Enabled ? Math.Max(topK, options.Value.Candidates) : topK;

    public async Task<(List<SearchResult> Results, RerankOutcome Outcome)> ApplyAsync(string query, List<SearchResult> results, int topK, CancellationToken ct)
    {
        var candidates = results.Take(Math.Max(topK, options.Value.Candidates)).ToList();
        if (reranker is null) return (results.Take(topK).ToList(), RerankOutcome.Fallback);
        if (candidates.Count == 0) return ([], RerankOutcome.Applied); // nothing to reorder
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.Value.TimeoutMs);
        try
        {
            var scores = await reranker.RerankAsync(query, candidates.Select(c => c.Chunk.Text).ToList(), candidates.Count, timeout.Token).ConfigureAwait(false);
            var seen = new HashSet<int>();
            var reranked = new List<SearchResult>(candidates.Count);
            foreach (var s in scores.OrderByDescending(s => s.RelevanceScore))
            {
                if (s.Index < 0 || s.Index >= candidates.Count || !seen.Add(s.Index) || !double.IsFinite(s.RelevanceScore))
                    throw new RerankerException($"the reranker answered an unusable result (index {s.Index}, score {s.RelevanceScore})");
                reranked.Add(candidates[s.Index] with { RerankScore = s.RelevanceScore });
            }
            // Candidates the reranker did not score keep their fused order, after the scored ones.
            reranked.AddRange(candidates.Where((_, i) => !seen.Contains(i)));
            return (reranked.Take(topK).ToList(), RerankOutcome.Applied);
        }
        catch (Exception ex) when (ex is RerankerException || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            var reason = ex is OperationCanceledException ? $"no answer within {options.Value.TimeoutMs} ms" : Errors.Text.Clip(ex.Message, 200);
            logger.LogWarning("Reranker failed ({Reason}); answering in the fused order", reason);
            return (results.Take(topK).ToList(), RerankOutcome.Fallback);
        }
    }
}
