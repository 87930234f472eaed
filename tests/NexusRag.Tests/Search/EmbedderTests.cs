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

    /// <summary>
    /// The embedder aggregates features by hash over spans (no strings per n-gram); its vectors must stay bit for bit those
    /// of the string-keyed algorithm the model id names, or stored vectors of <c>hash-v1-stem-char3to5</c> would drift.
    /// </summary>
    [Fact]
    public void Vectors_are_bit_identical_to_the_string_keyed_reference_algorithm()
    {
        using var e = new HashEmbedder(384);
        using var reference = new ReferenceHashEmbedder(384);
        var texts = new List<string>
        {
            "", "a", "The cells' mitochondria produce ATP; cell, cells, Cell's.", "Ünïcödé façade naïve Straße ﬁle ①②③ 東京 2024-11-25",
            new string('x', 300) + " " + string.Concat(Enumerable.Repeat("antidisestablishmentarianism ", 40)),
            string.Join(' ', Enumerable.Range(0, 2000).Select(i => $"w{i % 97:x}{(char)('a' + i % 26)}")),
        };
        foreach (var name in new[] { "deck.md", "page.md", "inventory.csv", "handbook.html", "migration.eml" })
            texts.Add(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "documents", name)));
        foreach (var text in texts)
        {
            var expected = reference.Embed(text);
            var actual = e.Embed(text);
            Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), actual.Select(BitConverter.SingleToInt32Bits));
        }
        Assert.Contains(texts, t => e.Embed(t).Any(x => x != 0)); // not all empty
    }

    /// <summary>The embedder as first written: a dictionary of feature strings ("w:stem", "c:gram").</summary>
    private sealed class ReferenceHashEmbedder(int dimensions) : IDisposable
    {
        private readonly NexusRag.Search.EnglishTextAnalyzer _analyzer = new();

        public float[] Embed(string text)
        {
            var counts = new Dictionary<string, float>(StringComparer.Ordinal);
            foreach (var stem in _analyzer.Analyze(text)) Add(counts, "w:" + stem, 1f);
            foreach (var word in Words(text))
            {
                var marked = "<" + word + ">";
                var grams = new List<string>();
                for (var n = 3; n <= 5; n++)
                    for (var i = 0; i + n <= marked.Length; i++) grams.Add(marked.Substring(i, n));
                if (grams.Count == 0) continue;
                var each = HashEmbedder.NgramWeight / grams.Count;
                foreach (var g in grams) Add(counts, "c:" + g, each);
            }
            var v = new float[dimensions];
            foreach (var (feature, mass) in counts)
            {
                var weight = feature[0] == 'w' ? 1f + MathF.Log(mass) : mass;
                var h = Fnv1a64(feature);
                v[(int)(h % (ulong)dimensions)] += (h >> 63) == 0 ? weight : -weight;
            }
            var norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(v));
            if (norm > 0) System.Numerics.Tensors.TensorPrimitives.Divide(v, norm, v);
            return v;
        }

        private static void Add(Dictionary<string, float> counts, string key, float w) => counts[key] = counts.TryGetValue(key, out var c) ? c + w : w;

        private static IEnumerable<string> Words(string text)
        {
            var sb = new System.Text.StringBuilder();
            foreach (var ch in text.Normalize(System.Text.NormalizationForm.FormKC))
            {
                if (char.IsLetterOrDigit(ch)) { sb.Append(char.ToLowerInvariant(ch)); continue; }
                if (sb.Length > 0) { var w = sb.ToString(); sb.Clear(); if (!Stop(w)) yield return w; }
            }
            if (sb.Length > 0) { var w = sb.ToString(); if (!Stop(w)) yield return w; }
        }

        private static bool Stop(string w) => Lucene.Net.Analysis.En.EnglishAnalyzer.DefaultStopSet.Contains(w);

        private static ulong Fnv1a64(string s)
        {
            var h = 14695981039346656037UL;
            foreach (var ch in s)
            {
                h ^= (byte)ch; h *= 1099511628211UL;
                h ^= (byte)(ch >> 8); h *= 1099511628211UL;
            }
            return h;
        }

        public void Dispose() => _analyzer.Dispose();
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
            // Generous: a busy test machine must not turn a slow attempt into an extra retry (the hang test sets its own).
            ["EMBEDDINGS_TIMEOUT_MS"] = "10000",
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
