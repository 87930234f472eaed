using System.Net.Http.Json;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

public class EmbeddingMismatchTests
{
    [Fact]
    public async Task A_corpus_keeps_its_first_embedding_model_when_the_server_default_changes()
    {
        using var dir = new TempDir("nexusrag-mismatch");
        string key;
        using (var app = new NexusAppFactory(dataDir: dir.Path))
        {
            key = await app.CreateKeyAsync("t1", Role.Admin);
            var client = app.ClientWithKey(key);
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
            var before = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
            Assert.Equal(System.Text.Json.JsonValueKind.Null, before.GetProperty("embedding").ValueKind);
            await client.IngestTextAsync("docs", "Hash-embedded text about rivers.", "river");
            await client.WaitForDocumentAsync("river");
            var corpus = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
            Assert.Equal("hash", corpus.GetProperty("embedding").GetProperty("provider").GetString());
            Assert.Equal(384, corpus.GetProperty("embedding").GetProperty("dimensions").GetInt32());
        }

        // The same data on a server whose default is another model this process can also run: the corpus goes on with its own.
        using (var app = new NexusAppFactory(new() { ["EMBEDDINGS_PROVIDER"] = "hash", ["EMBEDDINGS_DIMENSIONS"] = "256" }, dataDir: dir.Path))
        {
            var client = app.ClientWithKey(key);
            foreach (var mode in new[] { "vector", "hybrid" })
            {
                var hits = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "rivers", mode })).DataAsync();
                Assert.Equal("river", hits.GetProperty("results")[0].GetProperty("document_id").GetString());
            }
            await client.IngestTextAsync("docs", "Another text about lakes.", "lake");
            await client.WaitForDocumentAsync("lake");
            var corpus = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
            Assert.Equal(384, corpus.GetProperty("embedding").GetProperty("dimensions").GetInt32()); // never mixed

            // A new corpus takes the new default.
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs256" })).EnsureSuccessStatusCode();
            await client.IngestTextAsync("docs256", "Text about lakes.", "lake2");
            await client.WaitForDocumentAsync("lake2");
            var ok = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs256", query = "lakes", mode = "vector" });
            Assert.Equal("lake2", (await ok.DataAsync()).GetProperty("results")[0].GetProperty("document_id").GetString());
            Assert.Equal(256, (await (await client.GetAsync("/v1/corpora/docs256")).DataAsync()).GetProperty("embedding").GetProperty("dimensions").GetInt32());
        }
    }

    [Fact]
    public async Task A_corpus_whose_model_this_server_cannot_run_refuses_vector_work_fail_closed()
    {
        using var dir = new TempDir("nexusrag-mismatch");
        await using var server = await FakeOpenAiServer.StartAsync();
        string key;
        using (var app = new NexusAppFactory(new()
               {
                   ["EMBEDDINGS_PROVIDER"] = "openai", ["EMBEDDINGS_BASE_URL"] = server.BaseUrl, ["EMBEDDINGS_MODEL"] = "m1", ["EMBEDDINGS_DIMENSIONS"] = "16",
               }, dataDir: dir.Path))
        {
            key = await app.CreateKeyAsync("t1", Role.Admin);
            var client = app.ClientWithKey(key);
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
            await client.IngestTextAsync("docs", "Remote-embedded text about rivers.", "river");
            await client.WaitForDocumentAsync("river");
        }

        // The remote model is no longer configured: this server cannot embed queries or documents for the corpus.
        using (var app = new NexusAppFactory(dataDir: dir.Path))
        {
            var client = app.ClientWithKey(key);
            foreach (var mode in new[] { "vector", "hybrid" })
            {
                var resp = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "rivers", mode });
                await resp.AssertErrorAsync(409, "EMBEDDING_MODEL_MISMATCH");
                var details = (await resp.JsonAsync()).GetProperty("error").GetProperty("details");
                Assert.Equal("openai", details.GetProperty("corpus_embedding").GetProperty("provider").GetString());
                Assert.Equal(16, details.GetProperty("corpus_embedding").GetProperty("dimensions").GetInt32());
                Assert.Equal("hash", details.GetProperty("server_embedding").GetProperty("provider").GetString());
            }
            // Lexical search needs no vectors and keeps working.
            var lexical = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "rivers", mode = "lexical" });
            Assert.Equal("river", (await lexical.DataAsync()).GetProperty("results")[0].GetProperty("document_id").GetString());

            // Ingesting fails at once, without retries, and writes no mixed vectors.
            await client.IngestTextAsync("docs", "Another text about lakes.", "lake");
            var failed = await client.WaitForDocumentAsync("lake", expected: "failed");
            Assert.StartsWith("EMBEDDING_MODEL_MISMATCH", failed.GetProperty("failure_reason").GetString());
            var chunks = await (await client.GetAsync("/v1/documents/lake/chunks")).DataAsync();
            Assert.Equal(0, chunks.GetArrayLength());
        }
    }
}
