using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Auth;
using NexusRag.Core.Indexing;
using NexusRag.Core.Jobs;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

/// <summary>
/// Index versions end to end: a re-embedding built in the background while searches keep being served by the active
/// version, evaluation against it, the promotion gate, forced promotion, rollback, the registry and the audit trail.
/// </summary>
public class IndexVersionTests
{
    private static readonly (string Id, string Document, string Question)[] Pairs =
    [
        ("cat", "The feline rested on the rug all afternoon.", "Where did my cat nap?"),
        ("flood", "Heavy rainfall caused the river to overflow its banks, flooding nearby towns.", "Which storms made water levels rise and inundate villages?"),
        ("password", "To reset your password, open account settings and choose a new passphrase.", "How do I change my login credentials?"),
        ("exercise", "Regular physical exercise lowers the risk of cardiovascular disease.", "Does jogging protect against heart illness?"),
        ("invoice", "The invoice must be paid within thirty days of delivery.", "What is our billing deadline after shipment arrives?"),
        ("remote", "Employees may work remotely two days per week.", "Can staff telecommute?"),
    ];

    private static readonly string[] Filler =
    [
        "Basalt columns form when thick lava flows cool and contract slowly.",
        "The violin section tuned to the oboe before the symphony began.",
        "Sourdough bread rises because wild yeast ferments the flour.",
        "Jupiter has the shortest day of all the planets in the solar system.",
        "Chess openings such as the Sicilian Defence favour sharp tactics.",
        "Honeybees communicate the direction of flowers with a waggle dance.",
        "The Roman aqueducts carried water across valleys on stone arches.",
        "Origami cranes are folded from a single square sheet of paper.",
        "Glaciers carve U-shaped valleys as they grind through bedrock.",
        "A haiku has three lines of five, seven and five syllables.",
        "Copper turns green as a patina of verdigris forms on its surface.",
        "Penguins huddle together to survive the Antarctic winter.",
        "The printing press spread pamphlets quickly across Europe.",
        "Tea leaves are withered, rolled, oxidised and dried.",
        "Lighthouses used Fresnel lenses to throw beams far out to sea.",
        "Bamboo is among the fastest growing plants on Earth.",
        "Sundials tell the hour from the shadow of a gnomon.",
        "Coral reefs are built by colonies of tiny polyps.",
        "The harpsichord plucks its strings instead of striking them.",
        "Cartographers drew sea monsters in the blank corners of old maps.",
    ];

    [Fact]
    public async Task Re_embedding_under_continuous_search_load_is_evaluated_gated_promoted_forced_and_rolled_back_without_a_failed_or_empty_search()
    {
        using var app = new NexusAppFactory(); // hash is the default model: version 1
        var client = await app.AdminForTenantAsync("t1");
        foreach (var (id, doc, _) in Pairs) await client.IngestTextAsync("docs", doc, id);
        for (var i = 0; i < Filler.Length; i++) await client.IngestTextAsync("docs", Filler[i], $"filler-{i}");
        foreach (var (id, _, _) in Pairs) await client.WaitForDocumentAsync(id);
        for (var i = 0; i < Filler.Length; i++) await client.WaitForDocumentAsync($"filler-{i}");

        // The query set, as BEIR's raw files: paraphrased questions judged against their answers.
        var set = await (await client.PostAsJsonAsync("/v1/corpora/docs/eval-sets", new
        {
            name = "paraphrases",
            queries_jsonl = string.Join("\n", Pairs.Select(p => JsonSerializer.Serialize(new Dictionary<string, string> { ["_id"] = "q-" + p.Id, ["text"] = p.Question }))),
            qrels_tsv = "query-id\tcorpus-id\tscore\n" + string.Join("\n", Pairs.Select(p => $"q-{p.Id}\t{p.Id}\t1")),
        })).DataAsync(201);
        Assert.Equal(Pairs.Length, set.GetProperty("queries").GetInt32());

        var initial = await (await client.GetAsync("/v1/corpora/docs/index-versions")).DataAsync();
        Assert.Equal(1, initial.GetProperty("active_version").GetInt32());
        Assert.Equal("active", initial.GetProperty("items")[0].GetProperty("status").GetString());
        Assert.Equal(Pairs.Length + Filler.Length, initial.GetProperty("items")[0].GetProperty("counts").GetProperty("chunks").GetInt32());

        // Continuous searches with words of the documents, whatever version serves: none may fail or come back empty.
        using var stop = new CancellationTokenSource();
        var failures = new ConcurrentQueue<string>();
        var served = new ConcurrentDictionary<int, int>();
        var total = 0;
        var load = Enumerable.Range(0, 2).Select(worker => Task.Run(async () =>
        {
            var queries = new[] { "rainfall river towns", "basalt lava columns", "invoice delivery", "honeybees dance flowers" };
            for (var n = 0; !stop.IsCancellationRequested; n++)
            {
                var q = queries[(n + worker) % queries.Length];
                try
                {
                    var resp = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = q, mode = n % 2 == 0 ? "hybrid" : "lexical" });
                    var body = await resp.Content.ReadAsStringAsync();
                    if (!resp.IsSuccessStatusCode) { failures.Enqueue($"{(int)resp.StatusCode}: {body}"); continue; }
                    var data = JsonDocument.Parse(body).RootElement.GetProperty("data");
                    if (data.GetProperty("results").GetArrayLength() == 0) failures.Enqueue($"empty for '{q}' on version {data.GetProperty("index_version")}");
                    served.AddOrUpdate(data.GetProperty("index_version").GetInt32(), 1, (_, c) => c + 1);
                    Interlocked.Increment(ref total);
                }
                catch (Exception ex) when (!stop.IsCancellationRequested) { failures.Enqueue(ex.Message); }
            }
        })).ToList();

        // Version 2: the built-in semantic model, built from the stored originals while version 1 serves.
        var accepted = await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { embedding = new { provider = "local" } })).DataAsync(202);
        Assert.Equal(2, accepted.GetProperty("version_id").GetInt32());
        Assert.Equal("building", accepted.GetProperty("status").GetString());
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { embedding = new { provider = "sha256" } })).AssertErrorAsync(409, "INDEX_VERSION_BUILDING");
        var v2 = await WaitReadyAsync(client, 2);
        Assert.Equal("all-minilm-l6-v2", v2.GetProperty("embedding").GetProperty("model").GetString());
        Assert.Equal(Pairs.Length + Filler.Length, v2.GetProperty("counts").GetProperty("documents_indexed").GetInt32());
        Assert.Equal(1.0, v2.GetProperty("progress").GetDouble());

        // Ready is not active: searches are still served by version 1 until a promotion.
        var still = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "Can staff telecommute?", mode = "vector" })).DataAsync();
        Assert.Equal(1, still.GetProperty("index_version").GetInt32());
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/2/promote", new { reason = "semantic model" })).AssertErrorAsync(409, "INDEX_VERSION_NOT_EVALUATED");

        var evaluated = await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/2/evaluate", new { eval_set_id = set.GetProperty("eval_set_id").GetString() })).DataAsync();
        var report = evaluated.GetProperty("evaluation");
        Assert.True(report.TryGetProperty("candidate", out _), evaluated.ToString());
        var semantic = report.GetProperty("candidate").GetProperty("ndcg_at_10").GetDouble();
        var lexicalProxy = report.GetProperty("active").GetProperty("ndcg_at_10").GetDouble();
        Assert.Equal(1, report.GetProperty("active").GetProperty("version").GetInt32());
        Assert.True(semantic > lexicalProxy + 0.1, $"local {semantic} vs hash {lexicalProxy}");
        Assert.True(semantic >= 0.8, $"local nDCG@10 {semantic}");

        var promoted = await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/2/promote", new { reason = "semantic model beats the hash proxy" })).DataAsync();
        Assert.Equal("active", promoted.GetProperty("status").GetString());
        var corpus = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
        Assert.Equal("local", corpus.GetProperty("embedding").GetProperty("provider").GetString());
        var paraphrase = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "Can staff telecommute?", mode = "vector" })).DataAsync();
        Assert.Equal(2, paraphrase.GetProperty("index_version").GetInt32());
        Assert.Equal("remote", paraphrase.GetProperty("results")[0].GetProperty("document_id").GetString());

        // Version 3: a model without meaning (and another chunking). Its evaluation drops: promotion is refused…
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new
        {
            embedding = new { provider = "sha256" }, chunking = new { chunk_size_chars = 200, chunk_overlap_chars = 20 },
        })).DataAsync(202);
        var v3 = await WaitReadyAsync(client, 3);
        Assert.Equal(200, v3.GetProperty("chunking").GetProperty("chunk_size_chars").GetInt32());
        var worse = (await (await client.PostAsync("/v1/corpora/docs/index-versions/3/evaluate", null)).DataAsync()).GetProperty("evaluation");
        Assert.Equal(2, worse.GetProperty("active").GetProperty("version").GetInt32());
        Assert.True(worse.GetProperty("ndcg_delta").GetDouble() < -0.01, worse.ToString());
        var refused = await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/3/promote", new { reason = "try it" });
        var refusal = await refused.JsonAsync();
        Assert.Equal(409, (int)refused.StatusCode);
        Assert.Equal("INDEX_PROMOTION_REFUSED", refusal.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(0.01, refusal.GetProperty("error").GetProperty("details").GetProperty("max_ndcg_drop").GetDouble());
        Assert.Equal(2, (await (await client.GetAsync("/v1/corpora/docs/index-versions")).DataAsync()).GetProperty("active_version").GetInt32());

        // …unless forced, and a forced promotion must say why.
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/3/promote", new { force = true })).AssertErrorAsync(422, "VALIDATION_ERROR");
        var forced = await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/3/promote", new { force = true, reason = "load test of the hash path" })).DataAsync();
        Assert.Equal("active", forced.GetProperty("status").GetString());
        Assert.Equal(3, (await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "basalt lava", mode = "hybrid" })).DataAsync()).GetProperty("index_version").GetInt32());

        // Rollback returns to the previous active version at once (its chunks were kept up to date while retired).
        var back = await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/rollback", new { reason = "semantic quality regressed" })).DataAsync();
        Assert.Equal(2, back.GetProperty("version_id").GetInt32());
        Assert.Equal("active", back.GetProperty("status").GetString());
        var after = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "How do I change my login credentials?", mode = "vector" })).DataAsync();
        Assert.Equal(2, after.GetProperty("index_version").GetInt32());
        Assert.Equal("password", after.GetProperty("results")[0].GetProperty("document_id").GetString());

        await stop.CancelAsync();
        await Task.WhenAll(load);
        Assert.True(failures.IsEmpty, string.Join("\n", failures.Take(5)));
        Assert.True(total >= 20, $"only {total} searches ran");
        Assert.True(served.ContainsKey(1) && served.ContainsKey(2), string.Join(", ", served.Select(kv => $"v{kv.Key}: {kv.Value}")));

        // The append-only registry and the audit trail tell the story.
        var events = (await (await client.GetAsync("/v1/corpora/docs/index-versions/events")).DataAsync()).EnumerateArray()
            .Select(e => $"{e.GetProperty("version_id").GetInt32()}:{e.GetProperty("event_type").GetString()}").ToList();
        Assert.Equal(["2:created", "2:built", "2:evaluated", "2:promoted", "1:retired", "3:created", "3:built", "3:evaluated", "3:promoted", "2:retired", "2:rolled_back", "3:retired"], events);
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var audit = await db.AuditEvents.Where(e => e.TenantId == "t1" && e.EventType.StartsWith("index_versions.")).OrderBy(e => e.Id)
            .Select(e => e.EventType + ":" + e.Outcome).ToListAsync();
        Assert.Contains("index_versions.promoted:denied", audit);
        Assert.Equal(2, audit.Count(a => a == "index_versions.promoted:success"));
        Assert.Contains("index_versions.rolled_back:success", audit);
    }

    [Fact]
    public async Task A_document_ingested_while_a_version_builds_goes_into_both_and_is_found_after_promotion()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" });
        var client = await app.AdminForTenantAsync("t1");
        var queue = app.Service<IJobQueue>();
        var executor = app.Service<JobExecutor>();
        var lease = TimeSpan.FromMinutes(1);
        async Task RunQueuedAsync(string kind)
        {
            while (await queue.TryClaimAsync("test-worker", [kind], lease, default) is { } job) await executor.ExecuteAsync(job, "test-worker", lease, default);
        }

        await client.IngestTextAsync("docs", "Tide tables list high and low water.", "tides");
        await client.IngestTextAsync("docs", "Sextants measure the angle of the sun.", "sextant");
        await RunQueuedAsync(JobKind.Ingest);

        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { embedding = new { provider = "hash", dimensions = 256 } })).DataAsync(202);
        // The build has started (claimed) but has not reached any document yet…
        var build = await queue.TryClaimAsync("builder", [JobKind.IndexBuild], lease, default);
        Assert.NotNull(build);

        // …when a new document arrives: its ingestion writes it into version 1 and into the building version 2.
        await client.IngestTextAsync("docs", "The astrolabe located stars for navigators.", "astrolabe");
        await RunQueuedAsync(JobKind.Ingest);
        var building = await (await client.GetAsync("/v1/corpora/docs/index-versions/2")).DataAsync();
        Assert.Equal("building", building.GetProperty("status").GetString());
        Assert.Equal(1, building.GetProperty("counts").GetProperty("documents_indexed").GetInt32());
        var v1 = await (await client.GetAsync("/v1/corpora/docs/index-versions/1")).DataAsync();
        Assert.Equal(3, v1.GetProperty("counts").GetProperty("documents_indexed").GetInt32());

        // The build goes on and finishes every document.
        Assert.Equal(JobResult.Committed, await executor.ExecuteAsync(build, "builder", lease, default));
        var ready = await (await client.GetAsync("/v1/corpora/docs/index-versions/2")).DataAsync();
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.Equal(3, ready.GetProperty("counts").GetProperty("documents_indexed").GetInt32());
        Assert.Equal(3, ready.GetProperty("counts").GetProperty("documents_done").GetInt32());

        // No query set: only a forced promotion, with a reason, is possible.
        await (await client.PostAsync("/v1/corpora/docs/index-versions/2/evaluate", null)).AssertErrorAsync(409, "EVAL_SET_REQUIRED");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/2/promote", new { reason = "smaller vectors", force = true })).DataAsync();
        var hits = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "astrolabe stars", mode = "vector" })).DataAsync();
        Assert.Equal(2, hits.GetProperty("index_version").GetInt32());
        Assert.Equal("astrolabe", hits.GetProperty("results")[0].GetProperty("document_id").GetString());
        var corpus = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
        Assert.Equal(256, corpus.GetProperty("embedding").GetProperty("dimensions").GetInt32());

        // Documents show the active version's chunks; a document ingested now goes into version 2 and the retained version 1.
        var chunks = await (await client.GetAsync("/v1/documents/astrolabe/chunks")).DataAsync();
        Assert.Equal(1, chunks.GetArrayLength());
        await client.IngestTextAsync("docs", "Compasses point to magnetic north.", "compass");
        await RunQueuedAsync(JobKind.Ingest);
        var list = (await (await client.GetAsync("/v1/corpora/docs/index-versions")).DataAsync()).GetProperty("items");
        Assert.Equal([4, 4], list.EnumerateArray().Select(v => v.GetProperty("counts").GetProperty("documents_indexed").GetInt32()).ToArray());
        Assert.Equal(["active", "retired"], list.EnumerateArray().Select(v => v.GetProperty("status").GetString()!).ToArray());

        // Past the retention window the retired version is dropped: its chunks go, and there is nothing left to roll back to.
        using var shortRetention = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0", ["INDEX_RETIRED_RETENTION_HOURS"] = "0" }, dataDir: app.DataDir);
        await shortRetention.Service<IndexVersionService>().DropExpiredAsync(default); // its janitor may have been first: dropping is idempotent
        var dropped = await Eventually.ReadAsync(async () => await (await client.GetAsync("/v1/corpora/docs/index-versions/1")).DataAsync(),
            v => v.GetProperty("dropped_at").ValueKind != JsonValueKind.Null);
        Assert.Equal(0, dropped.GetProperty("counts").GetProperty("chunks").GetInt32());
        Assert.NotEqual(JsonValueKind.Null, dropped.GetProperty("dropped_at").ValueKind);
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/rollback", new { reason = "undo" })).AssertErrorAsync(409, "INDEX_NO_ROLLBACK_TARGET");
        Assert.Equal("compass", (await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "magnetic north" })).DataAsync())
            .GetProperty("results")[0].GetProperty("document_id").GetString());
    }

    [Fact]
    public async Task A_version_build_survives_a_worker_stopping_mid_build_and_resumes_where_it_stopped()
    {
        using var dir = new TempDir("nexusrag-build-kill");
        string key;
        const int docs = 10;
        using (var seed = new NexusAppFactory(dataDir: dir.Path))
        {
            key = await seed.CreateKeyAsync("t1", Role.Admin);
            var c = seed.ClientWithKey(key);
            (await c.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
            for (var i = 0; i < docs; i++) await c.IngestTextAsync("docs", $"Logbook entry {i}: the ship sailed past headland {i}.", $"log-{i:D2}");
            for (var i = 0; i < docs; i++) await c.WaitForDocumentAsync($"log-{i:D2}");
        }

        // A slow remote model (a real OpenAI-protocol server) as version 2, so the build is caught halfway.
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Behavior = FakeOpenAiServer.Mode.Slow;
        server.SlowMs = 150;
        var settings = new Dictionary<string, string?>
        {
            ["EMBEDDINGS_PROVIDER"] = "openai", ["EMBEDDINGS_BASE_URL"] = server.BaseUrl, ["EMBEDDINGS_MODEL"] = "m1", ["EMBEDDINGS_DIMENSIONS"] = "16",
            ["NexusRag:Ingestion:WorkerConcurrency"] = "0",
        };
        var lease = TimeSpan.FromMilliseconds(600);
        string[] before;
        using (var first = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var client = first.ClientWithKey(key);
            await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { embedding = new { provider = "openai", model = "m1" } })).DataAsync(202);
            var job = await first.Service<IJobQueue>().TryClaimAsync("doomed-worker", [JobKind.IndexBuild], lease, default);
            Assert.NotNull(job);
            using var kill = new CancellationTokenSource();
            var run = first.Service<JobExecutor>().ExecuteAsync(job, "doomed-worker", lease, kill.Token);
            var partial = await Eventually.ReadAsync(async () => (await (await client.GetAsync("/v1/corpora/docs/index-versions/2")).DataAsync())
                .GetProperty("counts").GetProperty("documents_done").GetInt32(), n => n >= 3, timeoutSeconds: 30);
            await kill.CancelAsync(); // the worker stops mid-build (shutdown): it hands the job back, keeping what it committed
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            var v2 = await (await client.GetAsync("/v1/corpora/docs/index-versions/2")).DataAsync();
            Assert.Equal("building", v2.GetProperty("status").GetString());
            Assert.InRange(v2.GetProperty("counts").GetProperty("documents_done").GetInt32(), partial, docs - 1);
            before = await ChunkStampsAsync(first, 2);
            Assert.NotEmpty(before);
        }

        // Another worker (another process on the same store) takes the job over and finishes it.
        using (var second = new NexusAppFactory(new(settings) { ["NexusRag:Ingestion:WorkerConcurrency"] = "1", ["NexusRag:Ingestion:LeaseMs"] = "600" }, dataDir: dir.Path))
        {
            var client = second.ClientWithKey(key);
            var v2 = await Eventually.ReadAsync(async () => await (await client.GetAsync("/v1/corpora/docs/index-versions/2")).DataAsync(),
                v => v.GetProperty("status").GetString() == "ready", timeoutSeconds: 60);
            Assert.Equal("ready", v2.GetProperty("status").GetString());
            Assert.Equal(docs, v2.GetProperty("counts").GetProperty("documents_done").GetInt32());
            Assert.Equal(docs, v2.GetProperty("counts").GetProperty("documents_indexed").GetInt32());
            // Resumed, not restarted: the documents committed before the kill kept their chunks (same ids, same change-log seqs).
            var after = await ChunkStampsAsync(second, 2);
            Assert.All(before, stamp => Assert.Contains(stamp, after));
            await using var db = await second.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            // The first worker handed the job back on shutdown (not an attempt), so this is still attempt 1.
            Assert.Equal(1, await db.Jobs.Where(j => j.Kind == JobKind.IndexBuild).Select(j => j.Attempts).SingleAsync());
            var built = await db.IndexVersionEvents.Where(e => e.Version == 2 && e.EventType == IndexVersionEvents.Built).SingleAsync();
            Assert.Contains("\"attempt\":1", built.DetailsJson);
        }
    }

    [Fact]
    public async Task Index_versions_are_per_tenant_and_promotion_is_for_admins()
    {
        using var app = new NexusAppFactory();
        var a = await app.AdminForTenantAsync("tenant-a", "kb");
        var b = await app.AdminForTenantAsync("tenant-b", "kb-b");
        await a.IngestTextAsync("kb", "Only tenant A knows the harbour code.", "secret");
        await a.WaitForDocumentAsync("secret");
        await (await a.PostAsJsonAsync("/v1/corpora/kb/index-versions", new { embedding = new { provider = "hash", dimensions = 128 } })).DataAsync(202);
        await WaitReadyAsync(a, 2, "kb");
        await (await a.PostAsJsonAsync("/v1/corpora/kb/eval-sets", new
        {
            queries = new[] { new { _id = "q1", text = "harbour code" } }, qrels = new[] { new Dictionary<string, object> { ["query-id"] = "q1", ["corpus-id"] = "secret", ["score"] = 1 } },
        })).DataAsync(201);

        // Tenant B (an admin of its own tenant) sees and touches nothing of tenant A's corpus.
        await (await b.GetAsync("/v1/corpora/kb/index-versions")).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.GetAsync("/v1/corpora/kb/index-versions/2")).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.GetAsync("/v1/corpora/kb/index-versions/events")).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.GetAsync("/v1/corpora/kb/eval-sets")).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.PostAsJsonAsync("/v1/corpora/kb/index-versions", new { })).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.PostAsync("/v1/corpora/kb/index-versions/2/evaluate", null)).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.PostAsJsonAsync("/v1/corpora/kb/index-versions/2/promote", new { reason = "hijack", force = true })).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.PostAsJsonAsync("/v1/corpora/kb/index-versions/rollback", new { reason = "hijack" })).AssertErrorAsync(404, "NOT_FOUND");
        await (await b.PostAsJsonAsync("/v1/corpora/kb/eval-sets", new { queries = new[] { new { _id = "x", text = "x" } }, qrels = new[] { new { query_id = "x", document_id = "secret", score = 1 } } }))
            .AssertErrorAsync(404, "NOT_FOUND");
        Assert.Equal(1, (await (await b.GetAsync("/v1/corpora/kb-b/index-versions")).DataAsync()).GetProperty("items").GetArrayLength());

        // Roles: readers read, editors build and evaluate, only admins switch the active version.
        var reader = app.ClientWithKey(await app.CreateKeyAsync("tenant-a", Role.Reader));
        var editor = app.ClientWithKey(await app.CreateKeyAsync("tenant-a", Role.Editor));
        Assert.Equal(2, (await (await reader.GetAsync("/v1/corpora/kb/index-versions")).DataAsync()).GetProperty("items").GetArrayLength());
        await (await reader.PostAsJsonAsync("/v1/corpora/kb/index-versions", new { })).AssertErrorAsync(403);
        await (await reader.PostAsync("/v1/corpora/kb/index-versions/2/evaluate", null)).AssertErrorAsync(403);
        var eval = (await (await editor.PostAsync("/v1/corpora/kb/index-versions/2/evaluate", null)).DataAsync()).GetProperty("evaluation");
        Assert.Equal(1.0, eval.GetProperty("candidate").GetProperty("ndcg_at_10").GetDouble());
        await (await editor.PostAsJsonAsync("/v1/corpora/kb/index-versions/2/promote", new { reason = "mine" })).AssertErrorAsync(403);
        await (await editor.PostAsJsonAsync("/v1/corpora/kb/index-versions/rollback", new { reason = "mine" })).AssertErrorAsync(403);
        Assert.Equal(1, (await (await a.GetAsync("/v1/corpora/kb/index-versions")).DataAsync()).GetProperty("active_version").GetInt32());
        await (await a.PostAsJsonAsync("/v1/corpora/kb/index-versions/2/promote", new { reason = "same quality, smaller vectors" })).DataAsync();
        Assert.Equal(2, (await (await a.GetAsync("/v1/corpora/kb/index-versions")).DataAsync()).GetProperty("active_version").GetInt32());
    }

    [Fact]
    public async Task Bad_index_version_requests_get_clear_errors()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("t1");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { embedding = new { provider = "openai", model = "text-embedding-3-small" } })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { embedding = new { provider = "local", model = "no-such-model" } })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { embedding = new { model = "x" } })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { chunking = new { chunk_size_chars = 100, chunk_overlap_chars = 100 } })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions", new { bogus = 1 })).AssertErrorAsync(400, "UNKNOWN_FIELD");
        await (await client.PostAsJsonAsync("/v1/corpora/nope/index-versions", new { })).AssertErrorAsync(404, "NOT_FOUND");
        await (await client.GetAsync("/v1/corpora/docs/index-versions/abc")).AssertErrorAsync(404, "NOT_FOUND");
        await (await client.GetAsync("/v1/corpora/docs/index-versions/9")).AssertErrorAsync(404, "NOT_FOUND");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/1/promote", new { reason = "again" })).AssertErrorAsync(409, "INDEX_VERSION_ALREADY_ACTIVE");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/rollback", new { reason = "nothing before" })).AssertErrorAsync(409, "INDEX_NO_ROLLBACK_TARGET");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/index-versions/rollback", new { })).AssertErrorAsync(422, "VALIDATION_ERROR");

        await (await client.PostAsJsonAsync("/v1/corpora/docs/eval-sets", new { queries_jsonl = "{\"_id\":\"q1\",\"text\":\"a\"}\nnot json", qrels_tsv = "q1\td1\t1" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/eval-sets", new { queries_jsonl = "{\"_id\":\"q1\",\"text\":\"a\"}", qrels_tsv = "q1\td1" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/eval-sets", new { queries_jsonl = "{\"_id\":\"q1\",\"text\":\"a\"}", qrels_tsv = "q2\td1\t1" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await client.PostAsJsonAsync("/v1/corpora/docs/eval-sets", new { queries = "not an array", qrels = new object[0] })).AssertErrorAsync(422, "VALIDATION_ERROR");
        var ok = await (await client.PostAsJsonAsync("/v1/corpora/docs/eval-sets", new { queries_jsonl = "{\"_id\":\"q1\",\"text\":\"a\"}", qrels_tsv = "q1\td1\t1" })).DataAsync(201);
        Assert.Equal(1, ok.GetProperty("judgments").GetInt32());
        Assert.Single((await (await client.GetAsync("/v1/corpora/docs/eval-sets")).DataAsync()).EnumerateArray());
    }

    private static async Task<JsonElement> WaitReadyAsync(HttpClient client, int version, string corpus = "docs")
    {
        var v = await Eventually.ReadAsync(async () => await (await client.GetAsync($"/v1/corpora/{corpus}/index-versions/{version}")).DataAsync(),
            e => e.GetProperty("status").GetString() is "ready" or "failed", timeoutSeconds: 120, pollMs: 100);
        Assert.True(v.GetProperty("status").GetString() == "ready", v.ToString());
        return v;
    }

    private static async Task<string[]> ChunkStampsAsync(NexusAppFactory app, int version)
    {
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        return await db.Chunks.Where(c => c.IndexVersion == version).OrderBy(c => c.Seq).Select(c => c.Id + "@" + c.Seq).ToArrayAsync();
    }
}
