namespace NexusRag.Search;

/// <summary>
/// Reciprocal rank fusion (Cormack, Clarke &amp; Büttcher 2009) with per-list weights:
/// <c>score(d) = Σ_lists weight / (k + rank(d))</c>, ranks 1-based; a list that lacks d contributes nothing.
/// </summary>
public static class Rrf
{
    public static Dictionary<T, double> Fuse<T>(int k, params (IReadOnlyList<T> Ranked, double Weight)[] lists) where T : notnull
    {
        var scores = new Dictionary<T, double>();
        foreach (var (ranked, weight) in lists)
        {
            if (weight <= 0) continue;
            for (var i = 0; i < ranked.Count; i++)
                scores[ranked[i]] = scores.GetValueOrDefault(ranked[i]) + weight / (k + i + 1);
        }
        return scores;
    }
}

/// <summary>
/// Normalized score fusion (a convex combination): each list's scores are min-max scaled to [0, 1] over its own
/// candidates, then <c>score(d) = Σ_lists weight · scaled(d)</c>; a list that lacks d contributes 0.
/// </summary>
public static class ConvexFusion
{
    public static Dictionary<T, double> Fuse<T>(params (IReadOnlyList<(T Item, double Score)> Ranked, double Weight)[] lists) where T : notnull
    {
        var scores = new Dictionary<T, double>();
        foreach (var (ranked, weight) in lists)
        {
            if (weight <= 0 || ranked.Count == 0) continue;
            double min = double.MaxValue, max = double.MinValue;
            foreach (var (_, score) in ranked) { min = Math.Min(min, score); max = Math.Max(max, score); }
            var span = max - min;
            foreach (var (item, score) in ranked)
                scores[item] = scores.GetValueOrDefault(item) + weight * (span > 0 ? (score - min) / span : 1.0);
        }
        return scores;
    }
}
