namespace NexusRag.Core.Evaluation;

/// <summary>Standard ranked-retrieval metrics as BEIR/pytrec_eval compute them (graded gains, log2 discount).</summary>
public static class RetrievalMetrics
{
    /// <summary>nDCG@k: Σ_{i≤k} rel_i / log2(i + 1) over the ideal ordering's value.</summary>
    public static double NdcgAt(int k, IReadOnlyList<string> ranked, IReadOnlyDictionary<string, int> relevance)
    {
        double dcg = 0;
        for (var i = 0; i < Math.Min(k, ranked.Count); i++)
            if (relevance.TryGetValue(ranked[i], out var rel) && rel > 0) dcg += rel / Math.Log2(i + 2);
        var ideal = relevance.Values.Where(r => r > 0).OrderByDescending(r => r).Take(k).Select((r, i) => r / Math.Log2(i + 2)).Sum();
        return ideal == 0 ? 0 : dcg / ideal;
    }

    /// <summary>Recall@k: the share of relevant documents found in the first k.</summary>
    public static double RecallAt(int k, IReadOnlyList<string> ranked, IReadOnlyDictionary<string, int> relevance)
    {
        var relevant = relevance.Count(r => r.Value > 0);
        if (relevant == 0) return 0;
        return ranked.Take(k).Count(d => relevance.TryGetValue(d, out var r) && r > 0) / (double)relevant;
    }

    /// <summary>MRR@k: 1 / rank of the first relevant document within the first k (0 when none).</summary>
    public static double MrrAt(int k, IReadOnlyList<string> ranked, IReadOnlyDictionary<string, int> relevance)
    {
        for (var i = 0; i < Math.Min(k, ranked.Count); i++)
            if (relevance.TryGetValue(ranked[i], out var r) && r > 0) return 1.0 / (i + 1);
        return 0;
    }

    /// <summary>Nearest-rank percentile of a sample (p in 0..100).</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }
}
