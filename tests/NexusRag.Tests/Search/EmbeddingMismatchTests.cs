using System.Net.Http.Json;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

public class EmbeddingMismatchTests
{
    [Fact]
    public async Task A_corpus_keeps_its_first_embedding_model_and_refuses_another_fail_closed()
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

        // The same data served with another embedding model.
        using (var app = new NexusAppFactory(new() { ["EMBEDDINGS_PROVIDER"] = "hash", ["EMBEDDINGS_DIMENSIONS"] = "256" }, dataDir: dir.Path))
        {
            var client = app.ClientWithKey(key);
            foreach (var mode in new[] { "vector", "hybrid" })
            {
                var resp = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "rivers", mode });
                await resp.AssertErrorAsync(409, "EMBEDDING_MODEL_MISMATCH");
                var details = (await resp.JsonAsync()).GetProperty("error").GetProperty("details");
                Assert.Equal(384, details.GetProperty("corpus_embedding").GetProperty("dimensions").GetInt32());
                Assert.Equal(256, details.GetProperty("server_embedding").GetProperty("dimensions").GetInt32());
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

            // A new corpus takes the new model.
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs256" })).EnsureSuccessStatusCode();
            await client.IngestTextAsync("docs256", "Text about lakes.", "lake2");
            await client.WaitForDocumentAsync("lake2");
            var ok = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs256", query = "lakes", mode = "vector" });
            Assert.Equal("lake2", (await ok.DataAsync()).GetProperty("results")[0].GetProperty("document_id").GetString());
        }
    }
}
