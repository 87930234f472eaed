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
