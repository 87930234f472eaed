using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusRag.Core.Embeddings;
using NexusRag.Embeddings;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

public class HashEmbedderTests
{
    [Fact]
    public void Vectors_are_deterministic_unit_length_and_lexically_meaningful()
    {
        using var e = new HashEmbedder(384);
        var a = e.Embed("Mitochondria produce ATP in eukaryotic cells");
        Assert.Equal(384, a.Length);
        Assert.Equal(a, new HashEmbedder(384).Embed("Mitochondria produce ATP in eukaryotic cells"));
        Assert.Equal(1.0, Math.Sqrt(a.Sum(x => (double)x * x)), 5);
        float Cos(float[] x, float[] y) => System.Numerics.Tensors.TensorPrimitives.Dot(x, y);
        var related = e.Embed("How do mitochondrial cells produce ATP?");   // stems and n-grams overlap
        var unrelated = e.Embed("Stock markets fell sharply on Tuesday");
        Assert.True(Cos(a, related) > 0.3, $"related {Cos(a, related)}");
        Assert.True(Cos(a, related) > Cos(a, unrelated) + 0.2, $"related {Cos(a, related)} vs unrelated {Cos(a, unrelated)}");
        Assert.All(e.Embed(""), x => Assert.Equal(0f, x));
    }

    [Fact]
    public void It_describes_itself_for_the_corpus_embedding_identity()
    {
        using var e = new HashEmbedder(128);
        Assert.Equal(new EmbeddingIdentity("hash", HashEmbedder.ModelId, 128), EmbeddingIdentity.Of(e));
        Assert.Equal(new EmbeddingIdentity("sha256", "sha256-expand-v1", 384), EmbeddingIdentity.Of(new Sha256Embedder()));
    }
}

public class OpenAiEmbedderTests
{
    private static ServiceProvider Build(FakeOpenAiServer server, Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["EMBEDDINGS_PROVIDER"] = "openai",
            ["EMBEDDINGS_BASE_URL"] = server.BaseUrl,
            ["EMBEDDINGS_MODEL"] = "text-embedding-3-small",
            ["EMBEDDINGS_DIMENSIONS"] = "16",
            ["EMBEDDINGS_API_KEY"] = "sk-test-123",
            ["EMBEDDINGS_TIMEOUT_MS"] = "500",
            ["EMBEDDINGS_MAX_RETRIES"] = "2",
        };
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        var config = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging().AddNexusRagEmbeddings(config);
        return services.BuildServiceProvider();
    }

    private static Task<float[][]> Embed(ServiceProvider sp, IReadOnlyList<string> texts, int batch = 64) =>
        EmbeddingBatches.EmbedAsync(sp.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>(), texts, batch, 16, CancellationToken.None);

    [Fact]
    public async Task Embeds_in_batches_with_model_dimensions_and_key()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        using var sp = Build(server);
        var texts = new[] { "alpha beta", "gamma", "delta epsilon", "zeta", "eta theta" };
        var vectors = await Embed(sp, texts, batch: 2);

        Assert.Equal(5, vectors.Length);
        for (var i = 0; i < texts.Length; i++)
            Assert.Equal(EmbeddingBatches.Normalize(FakeOpenAiServer.VectorFor(texts[i], 16)), vectors[i]);
        var requests = server.Requests.ToList();
        Assert.Equal([2, 2, 1], requests.Select(r => r.Inputs));
        Assert.All(requests, r => Assert.Equal(("text-embedding-3-small", (int?)16, "Bearer sk-test-123"), (r.Model, r.Dimensions, r.Authorization)));
        Assert.Equal(new EmbeddingIdentity("openai", "text-embedding-3-small", 16),
            EmbeddingIdentity.Of(sp.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>()));
    }

    [Fact]
    public async Task A_transient_5xx_is_retried_and_succeeds()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Behavior = FakeOpenAiServer.Mode.ServerError;
        server.FailuresLeft = 1;
        using var sp = Build(server);
        var vectors = await Embed(sp, ["retry me"]);
        Assert.Single(vectors);
        Assert.Equal(2, server.Requests.Count);
    }

    [Fact]
    public async Task A_provider_that_keeps_failing_gives_a_clear_error_after_the_retries()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Behavior = FakeOpenAiServer.Mode.ServerError;
        using var sp = Build(server);
        var ex = await Assert.ThrowsAsync<EmbeddingProviderException>(() => Embed(sp, ["x"]));
        Assert.Contains("embedding provider failed", ex.Message);
        Assert.Equal(3, server.Requests.Count); // first try + 2 retries
    }

    [Fact]
    public async Task A_provider_that_hangs_times_out()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        server.Behavior = FakeOpenAiServer.Mode.Slow;
        using var sp = Build(server, new() { ["EMBEDDINGS_MAX_RETRIES"] = "0", ["EMBEDDINGS_TIMEOUT_MS"] = "300" });
        var sw = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<EmbeddingProviderException>(() => Embed(sp, ["x"]));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(4), $"took {sw.Elapsed}");
        Assert.Contains("Timeout", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Garbage_or_a_wrong_vector_count_is_refused()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        using var sp = Build(server);
        server.Behavior = FakeOpenAiServer.Mode.Garbage;
        await Assert.ThrowsAsync<EmbeddingProviderException>(() => Embed(sp, ["x"]));
        server.Behavior = FakeOpenAiServer.Mode.WrongCount;
        var ex = await Assert.ThrowsAsync<EmbeddingProviderException>(() => Embed(sp, ["x", "y"]));
        Assert.Contains("1 vectors for 2 inputs", ex.Message);
    }

    [Fact]
    public async Task The_server_ingests_and_searches_with_the_openai_embedder_and_reports_provider_outages()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        using var app = new NexusAppFactory(new()
        {
            ["EMBEDDINGS_PROVIDER"] = "openai", ["EMBEDDINGS_BASE_URL"] = server.BaseUrl, ["EMBEDDINGS_MODEL"] = "m1",
            ["EMBEDDINGS_DIMENSIONS"] = "32", ["EMBEDDINGS_MAX_RETRIES"] = "0", ["EMBEDDINGS_TIMEOUT_MS"] = "2000",
        });
        var client = await app.AdminForTenantAsync("t1");
        await client.IngestTextAsync("docs", "zebra stripes savanna", "zebra");
        await client.IngestTextAsync("docs", "penguin ice antarctica", "penguin");
        await client.WaitForDocumentAsync("zebra");
        await client.WaitForDocumentAsync("penguin");

        var corpus = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
        Assert.Equal("openai", corpus.GetProperty("embedding").GetProperty("provider").GetString());
        Assert.Equal(32, corpus.GetProperty("embedding").GetProperty("dimensions").GetInt32());

        var resp = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "penguin antarctica", mode = "vector" });
        Assert.Equal("penguin", (await resp.DataAsync()).GetProperty("results")[0].GetProperty("document_id").GetString());

        server.Behavior = FakeOpenAiServer.Mode.ServerError;
        var down = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "penguin", mode = "hybrid" });
        await down.AssertErrorAsync(502, "EMBEDDING_PROVIDER_ERROR");
        var lexical = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "penguin", mode = "lexical" });
        Assert.Equal("penguin", (await lexical.DataAsync()).GetProperty("results")[0].GetProperty("document_id").GetString());
    }

    [Theory]
    [InlineData("openai", null, "EMBEDDINGS_BASE_URL")]
    [InlineData("onnx", null, "EMBEDDINGS_MODEL_PATH")]
    [InlineData("word2vec", null, "EMBEDDINGS_PROVIDER must be one of")]
    [InlineData("hash", "lots", "EMBEDDINGS_DIMENSIONS must be an integer")]
    public void Bad_embedding_settings_refuse_to_start(string provider, string? dims, string expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EMBEDDINGS_PROVIDER"] = provider, ["EMBEDDINGS_DIMENSIONS"] = dims,
        }).Build();
        using var sp = new ServiceCollection().AddLogging().AddNexusRagEmbeddings(config).BuildServiceProvider();
        var ex = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value);
        Assert.Contains(expected, string.Join("; ", ex.Failures));
    }
}
