using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

public class SearchApiTests
{
    private const string Photosynthesis = "Photosynthesis converts light energy into chemical energy in chloroplasts of plant cells.";
    private const string Volcano = "Volcanic eruptions release magma, ash and sulfur dioxide from the mantle through the crust.";
    private const string Tides = "Ocean tides are caused by the gravitational pull of the moon and the sun on the oceans.";

    private static async Task<JsonElement> SearchAsync(HttpClient client, object body, int status = 200)
    {
        var resp = await client.PostAsJsonAsync("/v1/search", body);
        return await resp.DataAsync(status);
    }

    private static async Task SeedAsync(HttpClient client, string corpus = "docs")
    {
        foreach (var (id, text, topic) in new[] { ("photo", Photosynthesis, "biology"), ("volcano", Volcano, "geology"), ("tides", Tides, "physics") })
        {
            var resp = await client.PostAsJsonAsync("/v1/documents/text", new { corpus_id = corpus, document_id = id, text, metadata = new { topic, year = 2024, tags = new[] { "science", topic } } });
            await resp.DataAsync(202);
        }
        foreach (var id in new[] { "photo", "volcano", "tides" }) await client.WaitForDocumentAsync(id);
    }

    [Fact]
    public async Task Every_mode_ranks_the_matching_document_first_with_citations_and_explain()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("t1");
        await SeedAsync(client);

        foreach (var mode in new[] { "hybrid", "lexical", "vector" })
        {
            var data = await SearchAsync(client, new { corpus_id = "docs", query = "How do chloroplasts turn light into chemical energy?", mode, top_k = 3, explain = true });
            Assert.Equal(mode, data.GetProperty("mode").GetString());
            var results = data.GetProperty("results");
            Assert.True(results.GetArrayLength() >= 1, $"{mode}: {data}");
            var top = results[0];
            Assert.Equal("photo", top.GetProperty("document_id").GetString());
            Assert.Equal("document://photo", top.GetProperty("source").GetString());
            Assert.Equal(0, top.GetProperty("chunk_index").GetInt32());
            Assert.Equal(Photosynthesis, top.GetProperty("text").GetString());
            Assert.Equal(0, top.GetProperty("start_offset").GetInt32());
            Assert.Equal(Photosynthesis.Length, top.GetProperty("end_offset").GetInt32());
            Assert.Equal("biology", top.GetProperty("metadata").GetProperty("document").GetProperty("topic").GetString());
            Assert.True(top.GetProperty("score").GetDouble() > 0);
            var explain = top.GetProperty("explain");
            if (mode != "vector") Assert.Equal(1, explain.GetProperty("lexical_rank").GetInt32());
            if (mode != "lexical") Assert.Equal(JsonValueKind.Number, explain.GetProperty("vector_rank").ValueKind);
        }

        // Without explain there is no explain block; top_k defaults to the corpus's top_k_default (5).
        var plain = await SearchAsync(client, new { corpus_id = "docs", query = "moon gravity tides" });
        Assert.Equal(5, plain.GetProperty("top_k").GetInt32());
        Assert.Equal("tides", plain.GetProperty("results")[0].GetProperty("document_id").GetString());
        Assert.Equal(JsonValueKind.Null, plain.GetProperty("results")[0].GetProperty("explain").ValueKind);
    }

    [Fact]
    public async Task Filters_on_metadata_and_document_ids()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("t1");
        await SeedAsync(client);
        const string query = "energy magma moon";

        var geo = await SearchAsync(client, new { corpus_id = "docs", query, top_k = 10, filters = new { metadata = new { topic = "geology" } } });
        Assert.Equal(["volcano"], geo.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()));

        var anyOf = await SearchAsync(client, new { corpus_id = "docs", query, top_k = 10, mode = "lexical", filters = new { metadata = new { tags = new[] { "physics", "biology" } }, document_ids = new[] { "tides", "volcano" } } });
        Assert.Equal(["tides"], anyOf.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()));

        var number = await SearchAsync(client, new { corpus_id = "docs", query, top_k = 10, filters = new { metadata = new { year = 2023 } } });
        Assert.Equal(0, number.GetProperty("results").GetArrayLength());
    }

    [Fact]
    public async Task The_index_follows_ingest_delete_reingest_and_survives_a_restart()
    {
        using var dir = new TempDir("nexusrag-search-restart");
        var settings = new Dictionary<string, string?> { ["NexusRag:Search:SyncIntervalMs"] = "60000" }; // only on-demand catch-up
        string key;
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            key = await app.CreateKeyAsync("t1", Role.Admin);
            var client = app.ClientWithKey(key);
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
            await SeedAsync(client);
            var hit = await SearchAsync(client, new { corpus_id = "docs", query = "volcanic magma", mode = "lexical" });
            Assert.Equal("volcano", hit.GetProperty("results")[0].GetProperty("document_id").GetString());

            // Delete: its chunks leave the results at once.
            (await client.DeleteAsync("/v1/documents/volcano")).EnsureSuccessStatusCode();
            var gone = await SearchAsync(client, new { corpus_id = "docs", query = "volcanic magma", mode = "lexical" });
            Assert.DoesNotContain(gone.GetProperty("results").EnumerateArray(), r => r.GetProperty("document_id").GetString() == "volcano");

            // Re-ingest with new content: only the new text is found.
            await client.IngestTextAsync("docs", "Glaciers carve valleys as compacted snow flows downhill.", "tides", overwrite: true);
            await client.WaitForDocumentAsync("tides");
            var old = await SearchAsync(client, new { corpus_id = "docs", query = "ocean tides moon", mode = "lexical" });
            Assert.DoesNotContain(old.GetProperty("results").EnumerateArray(), r => r.GetProperty("document_id").GetString() == "tides");
            var fresh = await SearchAsync(client, new { corpus_id = "docs", query = "glaciers valleys", mode = "hybrid" });
            Assert.Equal("tides", fresh.GetProperty("results")[0].GetProperty("document_id").GetString());
        }

        // Graceful stop wrote a snapshot; a new process starts from it and catches up from the log.
        var snapshot = Path.Combine(dir.Path, "index", "search.snapshot");
        Assert.True(File.Exists(snapshot), "no snapshot written at shutdown");
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var client = app.ClientWithKey(key);
            var hybrid = app.Service<NexusRag.Search.HybridSearchIndex>();
            var fresh = await SearchAsync(client, new { corpus_id = "docs", query = "glaciers valleys" });
            Assert.Equal("tides", fresh.GetProperty("results")[0].GetProperty("document_id").GetString());
            var stats = hybrid.Stats()[("t1", "docs", 1)];
            Assert.Equal(2, stats.Chunks);
            await client.IngestTextAsync("docs", "Earthquakes follow the slip of tectonic faults.", "quake");
            await client.WaitForDocumentAsync("quake");
            var quake = await SearchAsync(client, new { corpus_id = "docs", query = "tectonic faults", mode = "lexical" });
            Assert.Equal("quake", quake.GetProperty("results")[0].GetProperty("document_id").GetString());
        }

        // A corrupt snapshot is discarded and the index is rebuilt from the store.
        await File.WriteAllBytesAsync(snapshot, [1, 2, 3]);
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var client = app.ClientWithKey(key);
            var quake = await SearchAsync(client, new { corpus_id = "docs", query = "tectonic faults" });
            Assert.Equal("quake", quake.GetProperty("results")[0].GetProperty("document_id").GetString());
        }
    }

    [Fact]
    public async Task A_second_tenant_can_neither_search_nor_see_the_first_tenants_chunks()
    {
        using var app = new NexusAppFactory();
        var alice = await app.AdminForTenantAsync("alice");
        await SeedAsync(alice);
        var bob = await app.AdminForTenantAsync("bob", corpus: null);

        var resp = await bob.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "photosynthesis" });
        await resp.AssertErrorAsync(404, "NOT_FOUND");

        // Bob's own corpus with the same id holds only Bob's documents.
        (await bob.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
        var empty = await SearchAsync(bob, new { corpus_id = "docs", query = "photosynthesis chloroplasts" });
        Assert.Equal(0, empty.GetProperty("results").GetArrayLength());
        await bob.IngestTextAsync("docs", "Bob's notes on chloroplasts.", "bob-note");
        await bob.WaitForDocumentAsync("bob-note");
        var own = await SearchAsync(bob, new { corpus_id = "docs", query = "photosynthesis chloroplasts", top_k = 10 });
        Assert.Equal(["bob-note"], own.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()));
        // Filtering on another tenant's document id finds nothing either.
        var foreign = await SearchAsync(bob, new { corpus_id = "docs", query = "photosynthesis", filters = new { document_ids = new[] { "photo" } } });
        Assert.Equal(0, foreign.GetProperty("results").GetArrayLength());
    }

    [Fact]
    public async Task Readers_may_search_and_anonymous_callers_may_not()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        await SeedAsync(admin);
        var reader = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        var data = await SearchAsync(reader, new { corpus_id = "docs", query = "tides" });
        Assert.Equal("tides", data.GetProperty("results")[0].GetProperty("document_id").GetString());
        await (await app.CreateClient().PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "tides" })).AssertErrorAsync(401);
    }

    public static TheoryData<string, int, string> BadBodies => new()
    {
        { """{"corpus_id":"docs","query":""}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"   "}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs"}""", 422, "VALIDATION_ERROR" },
        { """{"query":"x"}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","top_k":0}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","top_k":101}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","top_k":"ten"}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","mode":"semantic"}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","mode":"1"}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","filters":[1,2]}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","filters":{"document_ids":"photo"}}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","filters":{"metadata":{"topic":{"nested":1}}}}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","filters":{"metadata":{"topic":[]}}}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","filters":{"owner":"me"}}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","query":"x","surprise":true}""", 400, "UNKNOWN_FIELD" },
        { """{"corpus_id":"docs","query":"x" """, 400, "INVALID_JSON" },
        { """{"corpus_id":"nope","query":"x"}""", 404, "NOT_FOUND" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_gets_a_4xx_envelope(string body, int status, string code)
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("t1");
        var resp = await client.PostAsync("/v1/search", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await resp.AssertErrorAsync(status, code);
    }

    [Fact]
    public async Task A_huge_query_or_wrong_media_type_is_refused_cleanly()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("t1");
        var huge = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = new string('a', 5000) });
        Assert.Contains("4096", (await huge.JsonAsync()).GetProperty("error").GetProperty("message").GetString());
        await huge.AssertErrorAsync(422, "VALIDATION_ERROR");
        var form = await client.PostAsync("/v1/search", new StringContent("query=x", System.Text.Encoding.UTF8, "application/x-www-form-urlencoded"));
        await form.AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
    }
}
