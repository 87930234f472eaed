using System.Diagnostics;
using NexusRag.Core.Embeddings;
using NexusRag.Embeddings;

/// <summary>
/// `embeddings`: the built-in local models on this machine — load time, query embedding latency p50/p95 (single queries,
/// as a search makes them), and document throughput (chunks/s) for inference batch sizes and pool sizes, on chunk-sized
/// texts (~1,200 characters, the default chunk) and on mixed lengths. Baseline in the same run: batch 1 on one slot.
/// </summary>
public static class EmbeddingBench
{
    public static async Task RunAsync(string[] args)
    {
        var texts = SampleTexts();
        var mixed = texts.Select((t, i) => t[..Math.Max(40, t.Length * (1 + i % 8) / 8)]).ToList();
        Console.WriteLine($"{Environment.ProcessorCount} cores; {texts.Count} chunk-sized texts (~{texts.Average(t => t.Length):F0} chars), same count of mixed lengths");
        foreach (var model in BuiltInModels.All.Select(e => e.Model.ModelId))
        {
            var sw = Stopwatch.StartNew();
            using (BuiltInModels.Create(model)) { }
            Console.WriteLine($"\n{model}: load {sw.ElapsedMilliseconds} ms");

            using var e = BuiltInModels.Create(model);
            var query = EmbeddingInput.QueryOptionsFor(e);
            for (var i = 0; i < 20; i++) await e.GenerateAsync([$"warm-up query {i}"], query);
            var latencies = new List<double>();
            for (var i = 0; i < 300; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await e.GenerateAsync([Queries[i % Queries.Length] + (i / Queries.Length == 0 ? "" : $" ({i})")], query);
                latencies.Add(Stopwatch.GetElapsedTime(t).TotalMilliseconds);
            }
            latencies.Sort();
            Console.WriteLine($"  query embedding: p50 {latencies[150]:F2} ms, p95 {latencies[285]:F2} ms");

            double? baseline = null;
            foreach (var (batch, slots) in new[] { (1, 1), (1, 2), (4, 2), (8, 2), (32, 2) })
            {
                using var g = BuiltInModels.Create(model, batchSize: batch, inferenceSlots: slots);
                await g.GenerateAsync(texts.Take(8).ToList());
                foreach (var (name, set) in new[] { ("chunk-sized", texts), ("mixed", mixed) })
                {
                    var t = Stopwatch.GetTimestamp();
                    await g.GenerateAsync(set);
                    var rate = set.Count / Stopwatch.GetElapsedTime(t).TotalSeconds;
                    if (name == "chunk-sized") baseline ??= rate;
                    Console.WriteLine($"  batch {batch,2}, {slots} slot(s), {name,-11}: {rate,6:F1} chunks/s" + (name == "chunk-sized" ? $"  ({rate / baseline:F2}x batch 1 on 1 slot)" : ""));
                }
            }
        }
    }

    private static readonly string[] Queries =
    [
        "what lowers the risk of heart attacks", "how do I reset my password", "remote work policy for engineers",
        "side effects of vitamin D supplements", "when is the invoice due", "quarterly revenue growth in Europe",
    ];

    /// <summary>Deterministic English-like text cut to chunk size (no files needed).</summary>
    private static List<string> SampleTexts()
    {
        string[] words = ("the patients who received treatment showed a significant reduction in symptoms compared with the control group " +
                          "while researchers measured protein expression across several cell lines and reported that the effect depended on dose " +
                          "policy employees remote office quarterly revenue growth margin customers contract invoice delivery payment terms").Split(' ');
        var rng = new Random(42);
        return Enumerable.Range(0, 256).Select(_ =>
        {
            var sb = new System.Text.StringBuilder();
            while (sb.Length < 1200) sb.Append(words[rng.Next(words.Length)]).Append(rng.Next(12) == 0 ? ". " : " ");
            return sb.ToString(0, 1200);
        }).ToList();
    }
}
