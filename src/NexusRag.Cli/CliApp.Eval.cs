using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Evaluation;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Search;
using NexusRag.Core.Services;
using Spectre.Console;

namespace NexusRag.Cli;

public sealed partial class CliApp
{
    private const string EvalTenant = "eval";
    private const string EvalCorpus = "beir";

    private Command EvalCommand()
    {
        var dataset = new Option<string>("--dataset") { Description = "A BEIR-format folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)", Required = true };
        var split = new Option<string>("--split") { Description = "Which qrels to score: test, train, dev", DefaultValueFactory = _ => "test" };
        var mode = new Option<string>("--mode") { Description = "hybrid | lexical | vector | all (one ingest, one report per mode)", DefaultValueFactory = _ => "hybrid" };
        var embedder = new Option<string?>("--embedder") { Description = "hash | local | onnx | openai | sha256 (default: EMBEDDINGS_PROVIDER, else local; EMBEDDINGS_MODEL picks the local model)" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var chunkSize = new Option<int>("--chunk-size") { Description = "Chunk size in characters (BEIR scores whole documents; the default keeps nearly every abstract in one chunk)", DefaultValueFactory = _ => 12_000 };
        var maxQueries = new Option<int?>("--max-queries") { Description = "Score only the first N queries of the split" };
        var tune = new Option<bool>("--tune") { Description = "Grid-search BM25 k1/b, then the hybrid fusion weights and RRF k, by nDCG@10 on this split (tune on train, never on test)" };
        var cmd = new Command("eval", "Measure retrieval quality on a BEIR dataset: ingests it into a throwaway store through the real pipeline, prints nDCG@10, Recall@100, MRR@10 and query latency")
            { dataset, split, mode, embedder, json, chunkSize, maxQueries, tune };
        cmd.SetAction(async (pr, ct) =>
        {
            SearchMode[]? m = pr.GetValue(mode)?.ToLowerInvariant() switch
            {
                "hybrid" => [SearchMode.Hybrid], "lexical" => [SearchMode.Lexical], "vector" => [SearchMode.Vector],
                "all" => [SearchMode.Lexical, SearchMode.Vector, SearchMode.Hybrid], _ => null,
            };
            if (m is null) { _console.MarkupLine("[red]--mode must be hybrid, lexical, vector or all[/]"); return 2; }
            var dir = Directory.CreateTempSubdirectory("nexusrag-eval-");
            try
            {
                // Always a throwaway embedded store, whatever DATABASE_URL says.
                var config = new Dictionary<string, string?> { ["NEXUSRAG_DATA_DIR"] = dir.FullName, ["DATABASE_URL"] = "", ["NexusRag:Search:SnapshotEveryChanges"] = "0" };
                if (pr.GetValue(embedder) is { Length: > 0 } e) config["EMBEDDINGS_PROVIDER"] = e;
                return await WithServices(ct, (sp, ct2) => RunEvalAsync(sp, pr.GetValue(dataset)!, pr.GetValue(split)!, m,
                    pr.GetValue(json), pr.GetValue(chunkSize), pr.GetValue(maxQueries), pr.GetValue(tune), ct2), extraConfig: config);
            }
            finally { dir.Delete(recursive: true); }
        });
        return cmd;
    }

    private async Task<int> RunEvalAsync(IServiceProvider sp, string datasetDir, string split, IReadOnlyList<SearchMode> modes, bool json,
        int chunkSize, int? maxQueries, bool tune, CancellationToken ct)
    {
        var ds = BeirDataset.Load(datasetDir, split);
        var embedderId = Core.Embeddings.EmbeddingIdentity.Of(sp.GetRequiredService<Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>>());
        await sp.GetRequiredService<IIdentityStore>().EnsureTenantAsync(EvalTenant, ct);
        await sp.GetRequiredService<ICorpusStore>().CreateAsync(EvalTenant, EvalCorpus, "BEIR evaluation", "{}", ct);

        // Ingest through the real pipeline: the document service enqueues, ingestion workers extract, chunk, embed and write.
        var ingestWatch = Stopwatch.StartNew();
        var toBeir = new Dictionary<string, string>(StringComparer.Ordinal);
        var documents = sp.GetRequiredService<DocumentService>();
        var principal = new Principal(EvalTenant, Role.Admin, null, "cli-eval");
        async Task Ingest(Action<int> progress)
        {
            for (var i = 0; i < ds.Corpus.Count; i++)
            {
                var (id, title, text) = ds.Corpus[i];
                var docId = Identifiers.IsValid(id) ? id : $"d{i}";
                toBeir[docId] = id;
                var content = Encoding.UTF8.GetBytes(string.IsNullOrEmpty(title) ? text : title + "\n\n" + text);
                if (content.Length == 0) continue;
                await documents.IngestBytesAsync(principal, EvalCorpus, docId, null, "text/plain", content, false, chunkSize, 0, null, null, ct);
            }
            var executor = sp.GetRequiredService<Core.Jobs.JobExecutor>();
            var queue = sp.GetRequiredService<Core.Jobs.IJobQueue>();
            var kinds = executor.Handlers.SelectMany(h => h.Kinds).ToList();
            var done = 0;
            async Task Worker(string name)
            {
                while (await queue.TryClaimAsync(name, kinds, TimeSpan.FromMinutes(5), ct) is { } job)
                {
                    await executor.ExecuteAsync(job, name, TimeSpan.FromMinutes(5), ct);
                    progress(Interlocked.Increment(ref done));
                }
            }
            await Task.WhenAll(Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(i => Task.Run(() => Worker($"eval-{i}"), ct)));
        }

        if (json)
        {
            var last = 0;
            await Ingest(n => { if (n - Volatile.Read(ref last) >= 500 || n == ds.Corpus.Count) { Volatile.Write(ref last, n); Console.Error.WriteLine($"ingested {n}/{ds.Corpus.Count}"); } });
        }
        else
        {
            await _console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async p =>
                {
                    var task = p.AddTask($"Ingesting {ds.Corpus.Count} documents ({embedderId})", maxValue: ds.Corpus.Count);
                    await Ingest(n => task.Value = n);
                });
        }
        var index = sp.GetRequiredService<ISearchIndex>();
        await index.CatchUpAsync(ct);
        ingestWatch.Stop();

        var search = sp.GetRequiredService<SearchService>();
        var queries = ds.Qrels.Keys.Where(ds.Queries.ContainsKey).OrderBy(q => q, StringComparer.Ordinal).Take(maxQueries ?? int.MaxValue).ToList();
        if (tune) return await TuneAsync(sp, ds, queries, toBeir, embedderId, ct);
        foreach (var mode in modes) await ReportModeAsync(mode);
        return 0;

        async Task ReportModeAsync(SearchMode mode)
        {
            foreach (var q in queries.Take(20)) // warm-up (JIT, caches); not measured
                await search.SearchAsync(EvalTenant, new SearchRequest(EvalCorpus, ds.Queries[q], 100, mode, null), ct);

            // Index-only latency: the ranking itself (analysis, BM25, vector scan/graph, fusion), query vector precomputed.
            var embedder = sp.GetRequiredService<Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>>();
            var searchOptions = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<SearchOptions>>().Value;
            var indexLatencies = new List<double>(queries.Count);
            foreach (var pass in new[] { "warm-up", "measured" })
            foreach (var q in queries)
            {
                var vector = mode == SearchMode.Lexical ? null
                    : (await Core.Embeddings.EmbeddingBatches.EmbedAsync(embedder, [ds.Queries[q]], 1, embedderId.Dimensions, ct, Core.Embeddings.EmbeddingInput.QueryOptionsFor(embedder)))[0];
                var sw = Stopwatch.GetTimestamp();
                var fusion = searchOptions.FusionFor(embedderId.Provider);
                index.Search(new IndexQuery(EvalTenant, EvalCorpus, ds.Queries[q], vector, 100, mode, null, fusion.LexicalWeight, fusion.VectorWeight, Fusion: fusion.Method, RrfK: fusion.RrfK));
                if (pass == "measured") indexLatencies.Add(Stopwatch.GetElapsedTime(sw).TotalMilliseconds);
            }


            double ndcg = 0, recall = 0, mrr = 0;
            var latencies = new List<double>(queries.Count);
            foreach (var q in queries)
            {
                var sw = Stopwatch.GetTimestamp();
                var results = (await search.SearchAsync(EvalTenant, new SearchRequest(EvalCorpus, ds.Queries[q], 100, mode, null), ct)).Results;
                latencies.Add(Stopwatch.GetElapsedTime(sw).TotalMilliseconds);
                var ranked = results.Select(r => toBeir.GetValueOrDefault(r.Chunk.DocumentId, r.Chunk.DocumentId)).Distinct().ToList();
                var rel = ds.Qrels[q];
                ndcg += RetrievalMetrics.NdcgAt(10, ranked, rel);
                recall += RetrievalMetrics.RecallAt(100, ranked, rel);
                mrr += RetrievalMetrics.MrrAt(10, ranked, rel);
            }
            var n = Math.Max(queries.Count, 1);
            var report = new Dictionary<string, object>
            {
                ["dataset"] = Path.GetFileName(Path.GetFullPath(datasetDir).TrimEnd(Path.DirectorySeparatorChar)),
                ["split"] = split,
                ["mode"] = mode.ToString().ToLowerInvariant(),
                ["embedder"] = embedderId.ToString(),
                ["fusion"] = mode != SearchMode.Hybrid ? "-" : searchOptions.FusionFor(embedderId.Provider) is var f && f.Method == FusionMethod.Rrf
                    ? $"rrf k={f.RrfK} lexical={f.LexicalWeight} vector={f.VectorWeight}" : $"convex lexical={f.LexicalWeight} vector={f.VectorWeight}",
                ["documents"] = ds.Corpus.Count,
                ["queries"] = queries.Count,
                ["ndcg_at_10"] = Math.Round(ndcg / n, 4),
                ["recall_at_100"] = Math.Round(recall / n, 4),
                ["mrr_at_10"] = Math.Round(mrr / n, 4),
                ["latency_ms_p50"] = Math.Round(RetrievalMetrics.Percentile(latencies, 50), 3),
                ["latency_ms_p95"] = Math.Round(RetrievalMetrics.Percentile(latencies, 95), 3),
                ["index_latency_ms_p50"] = Math.Round(RetrievalMetrics.Percentile(indexLatencies, 50), 3),
                ["index_latency_ms_p95"] = Math.Round(RetrievalMetrics.Percentile(indexLatencies, 95), 3),
                ["ingest_seconds"] = Math.Round(ingestWatch.Elapsed.TotalSeconds, 1),
            };
            if (json)
            {
                _console.Profile.Out.Writer.WriteLine(JsonSerializer.Serialize(report)); // raw: the console would wrap long lines
                return;
            }
            var table = new Table().AddColumns("metric", "value");
            foreach (var (k, v) in report) table.AddRow(k, Markup.Escape(Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? ""));
            _console.Write(table);
        }
    }

    private async Task<int> TuneAsync(IServiceProvider sp, BeirDataset ds, List<string> queries, Dictionary<string, string> toBeir,
        Core.Embeddings.EmbeddingIdentity embedderId, CancellationToken ct)
    {
        var index = sp.GetRequiredService<ISearchIndex>();
        var o = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<SearchOptions>>().Value; // read only: the grid travels with each query
        var embedder = sp.GetRequiredService<Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>>>();
        var vectors = await Core.Embeddings.EmbeddingBatches.EmbedAsync(embedder, queries.Select(q => ds.Queries[q]).ToList(), 64, embedderId.Dimensions, ct, Core.Embeddings.EmbeddingInput.QueryOptionsFor(embedder));
        double Ndcg(SearchMode mode, Bm25Parameters bm25, double lexicalWeight, double vectorWeight, FusionMethod? fusion = null, int? rrfK = null) => queries.Select((q, i) =>
        {
            var hits = index.Search(new IndexQuery(EvalTenant, EvalCorpus, ds.Queries[q], vectors[i], 100, mode, null, lexicalWeight, vectorWeight, bm25, fusion, rrfK));
            return RetrievalMetrics.NdcgAt(10, hits.Select(h => toBeir.GetValueOrDefault(h.DocumentId, h.DocumentId)).Distinct().ToList(), ds.Qrels[q]);
        }).Average();

        var table = new Table().AddColumns("setting", "nDCG@10");
        var configured = o.FusionFor(embedderId.Provider);
        var best = (K1: o.Bm25K1, B: o.Bm25B, Score: -1.0);
        foreach (var k1 in new[] { 0.5, 0.7, 0.9, 1.2, 1.5, 1.8 })
            foreach (var b in new[] { 0.3, 0.5, 0.6, 0.75, 0.9, 1.0 })
            {
                var score = Ndcg(SearchMode.Lexical, new Bm25Parameters(k1, b), configured.LexicalWeight, configured.VectorWeight);
                if (score > best.Score) best = (k1, b, score);
            }
        table.AddRow($"lexical k1={best.K1} b={best.B} (best of the grid)", $"{best.Score:F4}");
        // The vector leg and the fusion are tuned over the BM25 that is deployed (the configured k1/b), so the chosen fusion is the one that runs.
        var bestBm25 = new Bm25Parameters(o.Bm25K1, o.Bm25B);
        table.AddRow($"lexical k1={o.Bm25K1} b={o.Bm25B} (configured)", $"{Ndcg(SearchMode.Lexical, bestBm25, configured.LexicalWeight, configured.VectorWeight):F4}");
        table.AddRow("vector", $"{Ndcg(SearchMode.Vector, bestBm25, configured.LexicalWeight, configured.VectorWeight):F4}");
        // Fusion: weighted RRF over k and the vector leg's weight, and a normalized score fusion over its weight.
        var bestHybrid = (Setting: "", Score: -1.0);
        void Try(string setting, double score)
        {
            table.AddRow(setting, $"{score:F4}");
            if (score > bestHybrid.Score) bestHybrid = (setting, score);
        }
        foreach (var k in new[] { 10, 20, 40, 60, 100 })
            foreach (var w in new[] { 0.005, 0.01, 0.05, 0.1, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0 })
                Try($"fusion=rrf rrf_k={k} lexical_weight=1 vector_weight={w}", Ndcg(SearchMode.Hybrid, bestBm25, 1.0, w, FusionMethod.Rrf, k));
        foreach (var w in new[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9 })
            Try($"fusion=convex lexical_weight={1 - w:0.0} vector_weight={w}", Ndcg(SearchMode.Hybrid, bestBm25, 1 - w, w, FusionMethod.Convex, null));
        table.AddRow($"[bold]best hybrid: {bestHybrid.Setting}[/]", $"{bestHybrid.Score:F4}");
        _console.Write(table);
        return 0;
    }
}
