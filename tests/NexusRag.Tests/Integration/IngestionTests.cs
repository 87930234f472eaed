using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NexusRag.Core.Auth;
using NexusRag.Core.Documents;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Jobs;
using NexusRag.Storage;
using NexusRag.Storage.Entities;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public sealed class IngestionTests : IClassFixture<IngestionTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public NexusAppFactory App { get; } = new();
        public HttpClient Admin { get; private set; } = null!;
        public async Task InitializeAsync()
        {
            Admin = await App.AdminForTenantAsync("ing", "c1");
            await App.SetPlanAsync("ing", "pro"); // provider-config patches need feature.corpora_patch_provider_config
        }
        public Task DisposeAsync()
        {
            App.Dispose();
            return Task.CompletedTask;
        }
    }

    private readonly Fixture _f;
    public IngestionTests(Fixture f) => _f = f;

    private static string LongText(int paragraphs, string seed = "alpha") =>
        string.Join("\n\n", Enumerable.Range(0, paragraphs).Select(i => $"{seed} paragraph {i}: " + string.Join(" ", Enumerable.Range(0, 40).Select(w => $"{seed}{w}"))));

    [Fact]
    public async Task Multipart_upload_goes_queued_to_succeeded_with_chunks_and_timestamps()
    {
        var text = LongText(12);
        var form = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" } };
        var file = new ByteArrayContent(System.Text.Encoding.UTF8.GetBytes(text));
        file.Headers.ContentType = new MediaTypeHeaderValue("text/markdown");
        form.Add(file, "file", "notes.md");
        var resp = await _f.Admin.PostAsync("/v1/documents", form);
        var accepted = await resp.DataAsync(202);
        var id = accepted.GetProperty("document_id").GetString()!;
        Assert.StartsWith("job_", accepted.GetProperty("job_id").GetString(), StringComparison.Ordinal);
        Assert.Equal($"/v1/documents/{id}", accepted.GetProperty("status_url").GetString());
        Assert.Equal("queued", accepted.GetProperty("status").GetString());

        var doc = await _f.Admin.WaitForDocumentAsync(id);
        Assert.Equal("notes.md", doc.GetProperty("filename").GetString());
        Assert.Equal("text/markdown", doc.GetProperty("content_type").GetString());
        foreach (var ts in new[] { "created_at", "queued_at", "processing_started_at", "completed_at" })
            Assert.Equal(JsonValueKind.String, doc.GetProperty(ts).ValueKind);
        var chunks = await (await _f.Admin.GetAsync($"/v1/documents/{id}/chunks")).DataAsync();
        Assert.Equal(doc.GetProperty("num_chunks").GetInt32(), chunks.GetArrayLength());
        Assert.True(chunks.GetArrayLength() > 1);
        foreach (var c in chunks.EnumerateArray())
        {
            var (s, e) = (c.GetProperty("start_offset").GetInt32(), c.GetProperty("end_offset").GetInt32());
            Assert.Equal(text[s..e], c.GetProperty("text").GetString());
            Assert.Equal(s, c.GetProperty("metadata").GetProperty("start_offset").GetInt32());
        }
    }

    [Fact]
    public async Task Json_file_upload_with_text_field_is_ingested()
    {
        var form = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" }, { new StringContent("json-doc"), "document_id" } };
        form.Add(new StringContent("""{"text": "Hello from a JSON file."}""", System.Text.Encoding.UTF8, "application/json"), "file", "doc.json");
        await (await _f.Admin.PostAsync("/v1/documents", form)).DataAsync(202);
        await _f.Admin.WaitForDocumentAsync("json-doc");
        var chunks = await (await _f.Admin.GetAsync("/v1/documents/json-doc/chunks")).DataAsync();
        Assert.Equal("Hello from a JSON file.", chunks[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Reingesting_the_same_content_is_idempotent_and_overwrite_replaces()
    {
        var text = LongText(8);
        await _f.Admin.IngestTextAsync("c1", text, "idem");
        await _f.Admin.WaitForDocumentAsync("idem");
        var first = await ChunkIds("idem");

        // Same id, same content, no overwrite: nothing is queued.
        var again = await _f.Admin.IngestTextAsync("c1", text, "idem");
        Assert.True(again.GetProperty("deduplicated").GetBoolean());
        Assert.Equal("succeeded", again.GetProperty("status").GetString());

        // Same content with overwrite: processed again, identical chunks and ids, no duplicates.
        var rerun = await _f.Admin.IngestTextAsync("c1", text, "idem", overwrite: true);
        Assert.False(rerun.GetProperty("deduplicated").GetBoolean());
        await _f.Admin.WaitForDocumentAsync("idem");
        Assert.Equal(first, await ChunkIds("idem"));
        Assert.Equal(first.Count, await CountChunkRows("idem"));

        // Different content without overwrite: conflict, old data intact.
        var conflict = await _f.Admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "c1", text = "other", document_id = "idem" });
        await conflict.AssertErrorAsync(409, "DOCUMENT_EXISTS");
        Assert.Equal(first, await ChunkIds("idem"));

        // New content with overwrite replaces the old chunks entirely.
        await _f.Admin.IngestTextAsync("c1", LongText(3, "omega"), "idem", overwrite: true);
        await _f.Admin.WaitForDocumentAsync("idem");
        var replaced = await (await _f.Admin.GetAsync("/v1/documents/idem/chunks")).DataAsync();
        Assert.All(replaced.EnumerateArray(), c => Assert.StartsWith("omega", c.GetProperty("text").GetString(), StringComparison.Ordinal));
        Assert.Empty(first.Intersect(replaced.EnumerateArray().Select(c => c.GetProperty("id").GetString()!)));
        Assert.Equal(replaced.GetArrayLength(), await CountChunkRows("idem"));
    }

    [Fact]
    public async Task Reindex_rechunks_with_new_parameters()
    {
        await _f.Admin.IngestTextAsync("c1", LongText(10), "reidx");
        var before = (await _f.Admin.WaitForDocumentAsync("reidx")).GetProperty("num_chunks").GetInt32();
        var resp = await _f.Admin.PostAsJsonAsync("/v1/documents/reidx/reindex", new { chunk_size_chars = 200, chunk_overlap_chars = 20 });
        await resp.DataAsync(202);
        var doc = await _f.Admin.WaitForDocumentAsync("reidx");
        Assert.True(doc.GetProperty("num_chunks").GetInt32() > before);
        Assert.Equal(200, doc.GetProperty("chunk_size_chars").GetInt32());
        Assert.Equal(JsonValueKind.String, doc.GetProperty("last_reindexed_at").ValueKind);
        Assert.Equal(doc.GetProperty("num_chunks").GetInt32(), await CountChunkRows("reidx"));
    }

    [Fact]
    public async Task Delete_removes_the_document_and_its_chunks()
    {
        await _f.Admin.IngestTextAsync("c1", "To be deleted.", "gone");
        await _f.Admin.WaitForDocumentAsync("gone");
        await (await _f.Admin.DeleteAsync("/v1/documents/gone")).DataAsync();
        await (await _f.Admin.GetAsync("/v1/documents/gone")).AssertErrorAsync(404, "NOT_FOUND");
        Assert.Equal(0, await CountChunkRows("gone"));
        await (await _f.Admin.DeleteAsync("/v1/documents/gone")).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task Listing_paginates_with_cursors_and_filters()
    {
        var client = await _f.App.AdminForTenantAsync("pager", "p1");
        await (await client.PostAsJsonAsync("/v1/corpora", new { id = "p2" })).DataAsync(201);
        for (var i = 0; i < 7; i++) await client.IngestTextAsync(i < 5 ? "p1" : "p2", $"doc {i}", $"d{i}");
        var seen = new List<string>();
        string? cursor = null;
        do
        {
            var page = await (await client.GetAsync("/v1/documents?corpus_id=p1&limit=2" + (cursor is null ? "" : $"&cursor={cursor}"))).DataAsync();
            seen.AddRange(page.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()!));
            cursor = page.GetProperty("page").GetProperty("next_cursor").GetString();
            Assert.Equal(cursor is not null, page.GetProperty("page").GetProperty("has_more").GetBoolean());
        } while (cursor is not null);
        Assert.Equal(["d4", "d3", "d2", "d1", "d0"], seen);

        foreach (var id in new[] { "d5", "d6" }) await client.WaitForDocumentAsync(id);
        var succeeded = await (await client.GetAsync("/v1/documents?corpus_id=p2&status=succeeded")).DataAsync();
        Assert.Equal(2, succeeded.GetProperty("items").GetArrayLength());
        // A cursor is bound to its filters.
        var p1 = await (await client.GetAsync("/v1/documents?corpus_id=p1&limit=1")).DataAsync();
        var c = p1.GetProperty("page").GetProperty("next_cursor").GetString();
        await (await client.GetAsync($"/v1/documents?corpus_id=p2&limit=1&cursor={c}")).AssertErrorAsync(400, "INVALID_CURSOR");
    }

    [Fact]
    public async Task Corpus_patch_normalizes_and_delete_cascades()
    {
        await (await _f.Admin.PostAsJsonAsync("/v1/corpora", new { id = "tmp", name = "Temp", provider_config_json = new { } })).DataAsync(201);
        var patched = await (await _f.Admin.PatchAsJsonAsync("/v1/corpora/tmp", new { name = "Renamed", provider_config_json = new { retrieval = new { top_k_default = 9 } } })).DataAsync();
        Assert.Equal("Renamed", patched.GetProperty("name").GetString());
        Assert.Equal("local", patched.GetProperty("provider_config_json").GetProperty("retrieval").GetProperty("provider").GetString());
        Assert.Equal(9, patched.GetProperty("provider_config_json").GetProperty("retrieval").GetProperty("top_k_default").GetInt32());
        await (await _f.Admin.PostAsJsonAsync("/v1/corpora", new { id = "tmp" })).AssertErrorAsync(409, "CORPUS_EXISTS");

        await _f.Admin.IngestTextAsync("tmp", "in tmp", "tmp-doc");
        await _f.Admin.WaitForDocumentAsync("tmp-doc");
        await (await _f.Admin.DeleteAsync("/v1/corpora/tmp")).DataAsync();
        await (await _f.Admin.GetAsync("/v1/corpora/tmp")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _f.Admin.GetAsync("/v1/documents/tmp-doc")).AssertErrorAsync(404, "NOT_FOUND");
        Assert.Equal(0, await CountChunkRows("tmp-doc"));
    }

    private async Task<List<string>> ChunkIds(string documentId)
    {
        var chunks = await (await _f.Admin.GetAsync($"/v1/documents/{documentId}/chunks")).DataAsync();
        return chunks.EnumerateArray().Select(c => c.GetProperty("id").GetString()!).ToList();
    }

    private async Task<int> CountChunkRows(string documentId)
    {
        await using var db = await _f.App.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        return await db.Chunks.CountAsync(c => c.DocumentId == documentId);
    }
}

/// <summary>Queue behaviour that needs its own server: no worker, a failing extractor, an orphaned lease.</summary>
public sealed class DurableQueueTests
{
    private static readonly string[] Kinds = [JobKind.Ingest, JobKind.Reindex];

    [Fact]
    public async Task Delete_and_corpus_delete_are_409_while_in_flight_and_nothing_is_lost()
    {
        using var tmp = new TempDir("nexusrag-queue");
        var dir = tmp.Path;
        string key;
        using (var idle = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" }, dataDir: dir))
        {
            key = await idle.CreateKeyAsync("q", Core.Auth.Role.Admin);
            var client = idle.ClientWithKey(key);
            await (await client.PostAsJsonAsync("/v1/corpora", new { id = "c1" })).DataAsync(201);
            await client.IngestTextAsync("c1", "Queued while no worker runs.", "waiting");
            await (await client.DeleteAsync("/v1/documents/waiting")).AssertErrorAsync(409, "DOCUMENT_IN_FLIGHT");
            await (await client.PostAsJsonAsync("/v1/documents/waiting/reindex", new { })).AssertErrorAsync(409, "DOCUMENT_IN_FLIGHT");
            await (await client.DeleteAsync("/v1/corpora/c1")).AssertErrorAsync(409, "CORPUS_HAS_DOCUMENTS_IN_FLIGHT");
            await (await client.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "c1", text = "new", document_id = "waiting", overwrite = true }))
                .AssertErrorAsync(409, "DOCUMENT_IN_FLIGHT");
            var doc = await (await client.GetAsync("/v1/documents/waiting")).DataAsync();
            Assert.Equal("queued", doc.GetProperty("status").GetString());
        } // the process "stops" with the job still queued

        using var restarted = new NexusAppFactory(dataDir: dir);
        var after = restarted.ClientWithKey(key);
        await after.WaitForDocumentAsync("waiting");
        var chunks = await (await after.GetAsync("/v1/documents/waiting/chunks")).DataAsync();
        Assert.Equal("Queued while no worker runs.", chunks[0].GetProperty("text").GetString());
    }

    private sealed class ThrowingExtractor : IContentExtractor
    {
        public int Calls;
        public IReadOnlyCollection<string> MediaTypes { get; } = ["text/plain", "text/markdown"];
        public Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
        {
            // Upload-time validation calls the extractor once; every worker attempt after that fails with an I/O error,
            // which may be transient (a shared original store), so it is retried.
            if (Interlocked.Increment(ref Calls) == 1) return Task.FromResult(ExtractedDocument.PlainText("text", "ok"));
            throw new IOException("simulated storage hiccup");
        }
    }

    [Fact]
    public async Task An_extractor_that_throws_ends_failed_with_the_reason_after_the_retries()
    {
        var extractor = new ThrowingExtractor();
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:MaxAttempts"] = "3" },
            services => services.AddSingleton<IContentExtractor>(extractor));
        var client = await app.AdminForTenantAsync("fail", "c1");
        await client.IngestTextAsync("c1", "boom", "doomed");
        var doc = await client.WaitForDocumentAsync("doomed", expected: "failed");
        Assert.Equal("IOException: simulated storage hiccup", doc.GetProperty("failure_reason").GetString());
        Assert.Equal(JsonValueKind.String, doc.GetProperty("failed_at").ValueKind);
        Assert.Equal(4, extractor.Calls); // 1 validation + 3 attempts

        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var job = await db.Jobs.SingleAsync(j => j.DocumentId == "doomed");
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal(3, job.Attempts);
        Assert.Equal("IOException: simulated storage hiccup", job.LastError);

        // A failed document can be deleted (not in flight) and re-ingested with overwrite.
        await (await client.DeleteAsync("/v1/documents/doomed")).DataAsync();
    }

    [Fact]
    public async Task A_job_whose_lease_expired_is_finished_by_another_worker()
    {
        using var tmp = new TempDir("nexusrag-lease");
        var dir = tmp.Path;
        string key;
        using (var idle = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" }, dataDir: dir))
        {
            key = await idle.CreateKeyAsync("lease", Core.Auth.Role.Admin);
            var client = idle.ClientWithKey(key);
            await (await client.PostAsJsonAsync("/v1/corpora", new { id = "c1" })).DataAsync(201);
            await client.IngestTextAsync("c1", "Claimed by a worker that then died.", "orphan");

            // Simulate a worker that claimed the job and died: processing, lease held by a dead owner, expired.
            await using var db = await idle.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            var past = DateTime.UtcNow.AddMinutes(-1);
            Assert.Equal(1, await db.Jobs.Where(j => j.DocumentId == "orphan").ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Processing).SetProperty(j => j.LeaseOwner, "dead-worker")
                .SetProperty(j => j.LeaseExpiresAt, past).SetProperty(j => j.Attempts, 1)));
            await db.Documents.Where(d => d.Id == "orphan").ExecuteUpdateAsync(s => s.SetProperty(d => d.Status, DocumentStatus.Processing));
        }

        using var live = new NexusAppFactory(dataDir: dir);
        var after = live.ClientWithKey(key);
        await after.WaitForDocumentAsync("orphan");
        await using var check = await live.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var job = await check.Jobs.SingleAsync(j => j.DocumentId == "orphan");
        Assert.Equal(JobStatus.Succeeded, job.Status);
        Assert.Equal(2, job.Attempts);
        Assert.Null(job.LeaseOwner);
        Assert.Equal(1, await check.Chunks.CountAsync(c => c.DocumentId == "orphan"));
    }

    [Fact]
    public async Task A_worker_that_lost_its_lease_cannot_commit()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" });
        var client = await app.AdminForTenantAsync("race", "c1");
        await client.IngestTextAsync("c1", "contested", "contested");
        var queue = app.Service<Core.Jobs.IJobQueue>();
        var first = await queue.TryClaimAsync("worker-a", Kinds, TimeSpan.FromMilliseconds(1), default);
        Assert.NotNull(first);
        await Task.Delay(20);
        var second = await queue.TryClaimAsync("worker-b", Kinds, TimeSpan.FromMinutes(1), default);
        Assert.NotNull(second);
        Assert.Equal(first.Id, second.Id);
        Assert.Null(await queue.TryClaimAsync("worker-c", Kinds, TimeSpan.FromMinutes(1), default));

        var draft = new ChunkDraft("chk_x", 0, "contested", 0, 9, "{}");
        var ingestion = app.Service<Core.Jobs.IIngestionJobStore>();
        Assert.False(await ingestion.CompleteIngestionAsync(first, "worker-a", [new Core.Indexing.VersionChunks(1, null, [draft])], null, default));
        Assert.False(await queue.RenewLeaseAsync(first.Id, "worker-a", TimeSpan.FromMinutes(1), default));
        Assert.True(await ingestion.CompleteIngestionAsync(second, "worker-b", [new Core.Indexing.VersionChunks(1, null, [draft])], null, default));
        var doc = await (await client.GetAsync("/v1/documents/contested")).DataAsync();
        Assert.Equal("succeeded", doc.GetProperty("status").GetString());
        Assert.Equal(1, doc.GetProperty("num_chunks").GetInt32());
    }

    [Fact]
    public async Task Concurrent_batch_claims_never_hand_one_job_to_two_workers()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" });
        var client = await app.AdminForTenantAsync("batch-claims", "c1");
        var batch = Enumerable.Range(0, 60).Select(i => new { corpus_id = "c1", document_id = $"b{i}", text = $"text {i}" }).ToArray();
        Assert.Equal(60, (await (await client.PostAsJsonAsync("/v1/documents/batch", batch)).DataAsync()).GetProperty("accepted").GetInt32());
        var queue = app.Service<IJobQueue>();
        var claimed = new System.Collections.Concurrent.ConcurrentBag<(string Worker, Job Job)>();
        await Task.WhenAll(Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            while (await queue.TryClaimManyAsync($"w{w}", Kinds, TimeSpan.FromMinutes(5), 7, default) is { Count: > 0 } jobs)
            {
                Assert.InRange(jobs.Count, 1, 7);
                foreach (var job in jobs) claimed.Add(($"w{w}", job));
            }
        })));
        Assert.Equal(60, claimed.Count);
        Assert.Equal(60, claimed.Select(c => c.Job.Id).Distinct().Count());
        Assert.All(claimed, c =>
        {
            Assert.Equal(c.Worker, c.Job.LeaseOwner);
            Assert.Equal(JobStatus.Processing, c.Job.Status);
            Assert.Equal(1, c.Job.Attempts);
        });
        Assert.Empty(await queue.TryClaimManyAsync("late", Kinds, TimeSpan.FromMinutes(5), 7, default));
    }

    /// <summary>Fails (for good) every worker attempt at a text that contains "poison"; upload-time validation passes.</summary>
    private sealed class PoisonExtractor : IContentExtractor
    {
        private int _poisonCalls;
        public IReadOnlyCollection<string> MediaTypes { get; } = ["text/plain", "text/markdown"];
        public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
        {
            var text = await new StreamReader(content).ReadToEndAsync(ct);
            if (text.Contains("poison", StringComparison.Ordinal) && Interlocked.Increment(ref _poisonCalls) > 1)
                throw new ExtractionException(ExtractionCodes.Corrupt, "poisoned on purpose");
            return ExtractedDocument.PlainText("text", text);
        }
    }

    [Fact]
    public async Task A_batch_of_jobs_commits_together_and_a_bad_or_stolen_job_gets_its_own_outcome()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" },
            services => services.AddSingleton<IContentExtractor>(new PoisonExtractor()));
        var client = await app.AdminForTenantAsync("batch-run", "c1");
        var texts = new Dictionary<string, string>
        {
            ["good-1"] = "Mitochondria produce ATP.", ["bad"] = "poison pill", ["good-2"] = "Ribosomes build proteins.",
            ["stolen"] = "Chloroplasts capture light.", ["good-3"] = "Nuclei hold chromosomes.",
        };
        foreach (var (id, text) in texts) await client.IngestTextAsync("c1", text, id);
        var queue = app.Service<IJobQueue>();
        var executor = app.Service<JobExecutor>();
        Assert.NotNull(executor.BatchHandlerFor(JobKind.Ingest));

        // Worker A claims all five with a lease that runs out at once; worker B then takes one of them.
        var mine = await queue.TryClaimManyAsync("worker-a", Kinds, TimeSpan.FromMilliseconds(1), 10, default);
        Assert.Equal(5, mine.Count);
        await Task.Delay(20);
        var stolen = mine.Single(j => j.DocumentId == "stolen");
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id != stolen.Id).ExecuteUpdateAsync(s => s.SetProperty(j => j.LeaseExpiresAt, DateTime.UtcNow.AddMinutes(5)));
        var theirs = await queue.TryClaimAsync("worker-b", Kinds, TimeSpan.FromMinutes(5), default);
        Assert.Equal(stolen.Id, theirs?.Id);

        // A's batch: the poisoned job fails alone; the batch commit cannot take the stolen job, so each commits alone.
        await executor.ExecuteManyAsync(mine, "worker-a", TimeSpan.FromMinutes(1), default);
        foreach (var id in new[] { "good-1", "good-2", "good-3" })
        {
            var doc = await (await client.GetAsync($"/v1/documents/{id}")).DataAsync();
            Assert.Equal("succeeded", doc.GetProperty("status").GetString());
            Assert.Equal(1, doc.GetProperty("num_chunks").GetInt32());
            var chunks = await (await client.GetAsync($"/v1/documents/{id}/chunks")).DataAsync();
            Assert.Equal(texts[id], chunks[0].GetProperty("text").GetString());
        }
        var bad = await (await client.GetAsync("/v1/documents/bad")).DataAsync();
        Assert.Equal("failed", bad.GetProperty("status").GetString());
        Assert.Contains("poisoned on purpose", bad.GetProperty("failure_reason").GetString());
        Assert.Equal("processing", (await (await client.GetAsync("/v1/documents/stolen")).DataAsync()).GetProperty("status").GetString());

        // B still holds the stolen job and commits it.
        await executor.ExecuteAsync(theirs!, "worker-b", TimeSpan.FromMinutes(1), default);
        Assert.Equal("succeeded", (await (await client.GetAsync("/v1/documents/stolen")).DataAsync()).GetProperty("status").GetString());
        var hits = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "c1", query = "chloroplasts light ribosomes", top_k = 5, mode = "lexical" })).DataAsync();
        var found = hits.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()).ToHashSet();
        Assert.Contains("stolen", found);
        Assert.Contains("good-2", found);

        await using var check = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var jobs = await check.Jobs.Where(j => j.TenantId == "batch-run").ToListAsync();
        Assert.Equal(4, jobs.Count(j => j.Status == JobStatus.Succeeded && j.LeaseOwner == null));
        Assert.Equal(JobStatus.Failed, jobs.Single(j => j.DocumentId == "bad").Status);
    }

    /// <summary>Extracts text, moving the app's clock on by a millisecond, or by two seconds for a text containing "slow".</summary>
    private sealed class SlowExtractor(ManualClock clock) : IContentExtractor
    {
        public IReadOnlyCollection<string> MediaTypes { get; } = ["text/plain", "text/markdown"];
        public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
        {
            var text = await new StreamReader(content).ReadToEndAsync(ct);
            clock.Advance(text.Contains("slow", StringComparison.Ordinal) ? TimeSpan.FromSeconds(2) : TimeSpan.FromMilliseconds(1));
            return ExtractedDocument.PlainText("text", text);
        }
    }

    [Fact]
    public async Task A_batch_commits_what_it_has_prepared_once_the_commit_window_has_passed()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" }, services =>
        {
            services.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock));
            services.AddSingleton<IContentExtractor>(new SlowExtractor(clock));
        });
        var client = await app.AdminForTenantAsync("window", "c1");
        foreach (var (id, text) in new[] { ("fast-1", "quick one"), ("slow-1", "a slow one"), ("fast-2", "quick two"), ("fast-3", "quick three") })
        {
            await client.IngestTextAsync("c1", text, id);
            clock.Advance(TimeSpan.FromMilliseconds(1)); // claimed in this order
        }
        var queue = app.Service<IJobQueue>();
        var jobs = await queue.TryClaimManyAsync("worker", Kinds, TimeSpan.FromMinutes(5), 32, default);
        Assert.Equal(["fast-1", "slow-1", "fast-2", "fast-3"], jobs.Select(j => j.DocumentId));
        await app.Service<JobExecutor>().ExecuteManyAsync(jobs, "worker", TimeSpan.FromMinutes(5), default);

        // fast-1 and slow-1 commit together once slow-1 has used up the window; fast-2 and fast-3 together after them.
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var done = await db.Jobs.Where(j => j.TenantId == "window").ToDictionaryAsync(j => j.DocumentId!, j => j.CompletedAt);
        Assert.All(done.Values, t => Assert.NotNull(t));
        Assert.Equal(done["fast-1"], done["slow-1"]);
        Assert.Equal(done["fast-2"], done["fast-3"]);
        Assert.True(done["fast-2"] > done["slow-1"]);
    }

    [Fact]
    public async Task A_batch_whose_jobs_all_commit_together_writes_every_chunk_once_with_fresh_seqs()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" });
        var client = await app.AdminForTenantAsync("batch-all", "c1");
        var text = string.Join(' ', Enumerable.Range(0, 400).Select(i => $"word{i}"));
        for (var i = 0; i < 8; i++) await client.IngestTextAsync("c1", $"doc {i} " + text, $"d{i}");
        var queue = app.Service<IJobQueue>();
        var jobs = await queue.TryClaimManyAsync("worker", Kinds, TimeSpan.FromMinutes(5), 32, default);
        Assert.Equal(8, jobs.Count);
        await app.Service<JobExecutor>().ExecuteManyAsync(jobs, "worker", TimeSpan.FromMinutes(5), default);
        // Re-ingest two with new text: their old chunks are logged as deleted and replaced, in one more batch.
        await client.IngestTextAsync("c1", "replaced " + text, "d0", overwrite: true);
        await client.IngestTextAsync("c1", "replaced too " + text, "d1", overwrite: true);
        await app.Service<JobExecutor>().ExecuteManyAsync(await queue.TryClaimManyAsync("worker", Kinds, TimeSpan.FromMinutes(5), 32, default), "worker", TimeSpan.FromMinutes(5), default);

        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var chunks = await db.Chunks.Where(c => c.TenantId == "batch-all").ToListAsync();
        Assert.All(chunks, c => Assert.NotNull(c.Embedding));
        Assert.Equal(chunks.Count, chunks.Select(c => c.Seq).Distinct().Count());
        foreach (var id in Enumerable.Range(0, 8).Select(i => $"d{i}"))
        {
            var doc = await (await client.GetAsync($"/v1/documents/{id}")).DataAsync();
            Assert.Equal("succeeded", doc.GetProperty("status").GetString());
            Assert.True(doc.GetProperty("num_chunks").GetInt32() > 1);
            Assert.Equal(doc.GetProperty("num_chunks").GetInt32(), chunks.Count(c => c.DocumentId == id));
        }
        Assert.All(chunks.Where(c => c.DocumentId == "d0"), c => Assert.True(c.CreatedAt > DateTime.UtcNow.AddMinutes(-5) && c.CreatedAt.Kind == DateTimeKind.Utc));
        var d0 = await (await client.GetAsync("/v1/documents/d0/chunks")).DataAsync();
        Assert.StartsWith("replaced word0", d0[0].GetProperty("text").GetString());
        var deleted = await db.ChunkDeletions.Where(d => d.TenantId == "batch-all").ToListAsync();
        Assert.Equal(2, deleted.Select(d => d.DocumentId).Distinct().Count());
        Assert.True(deleted.Min(d => d.Seq) > chunks.Where(c => c.DocumentId is not "d0" and not "d1").Max(c => c.Seq));
    }

    [Fact]
    public async Task Concurrent_claims_never_hand_one_job_to_two_workers()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" });
        var client = await app.AdminForTenantAsync("claims", "c1");
        for (var i = 0; i < 30; i++) await client.IngestTextAsync("c1", $"text {i}", $"j{i}");
        var queue = app.Service<Core.Jobs.IJobQueue>();
        var claimed = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
        {
            while (await queue.TryClaimAsync($"w{w}", Kinds, TimeSpan.FromMinutes(5), default) is { } job) claimed.Add(job.Id);
        })));
        Assert.Equal(30, claimed.Count);
        Assert.Equal(30, claimed.Distinct().Count());
    }
}
