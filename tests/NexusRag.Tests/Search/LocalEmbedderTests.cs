using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusRag.Core.Embeddings;
using NexusRag.Embeddings;
using NexusRag.Search;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

/// <summary>Both built-in models, loaded once for the class (each is ~90 MB of weights).</summary>
public sealed class BuiltInModelsFixture : IDisposable
{
    public OnnxEmbedder MiniLm { get; } = BuiltInModels.Create("all-minilm-l6-v2");
    public OnnxEmbedder Arctic { get; } = BuiltInModels.Create("snowflake-arctic-embed-xs");

    public OnnxEmbedder this[string model] => model == MiniLm.Model.ModelId ? MiniLm : Arctic;

    public void Dispose()
    {
        MiniLm.Dispose();
        Arctic.Dispose();
    }
}

public class LocalEmbedderTests(BuiltInModelsFixture models) : IClassFixture<BuiltInModelsFixture>
{
    [Theory]
    [InlineData("all-minilm-l6-v2", Pooling.Mean)]
    [InlineData("snowflake-arctic-embed-xs", Pooling.Cls)]
    public void The_model_loads_from_the_package_assembly_in_the_build_output(string model, Pooling pooling)
    {
        var entry = BuiltInModels.Find(model)!;
        var path = BuiltInModels.AssemblyPath(entry);
        Assert.StartsWith(AppContext.BaseDirectory, path);
        Assert.True(File.Exists(path));
        // The package's code is never loaded: only its resources are read, straight from the file.
        Assert.DoesNotContain(AppDomain.CurrentDomain.GetAssemblies(), a => a.GetName().Name == entry.Assembly);
        var (onnx, vocab) = BuiltInModels.ReadResources(entry);
        Assert.True(onnx.Length > 80_000_000);
        Assert.StartsWith("[PAD]", System.Text.Encoding.UTF8.GetString(vocab, 0, 5));
        Assert.Equal(new EmbeddingIdentity("local", model, 384), EmbeddingIdentity.Of(models[model]));
        Assert.Equal(pooling, models[model].Model.Pooling);
    }

    [Theory]
    [InlineData("all-minilm-l6-v2")]
    [InlineData("snowflake-arctic-embed-xs")]
    public async Task Vectors_match_the_reference_computed_by_the_packages_own_encoder(string model)
    {
        using var reference = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "embeddings", model + ".json")));
        var sentences = reference.RootElement.GetProperty("sentences").EnumerateArray().Select(s => s.GetString()!).ToArray();
        var expected = reference.RootElement.GetProperty("vectors").EnumerateArray()
            .Select(v => v.EnumerateArray().Select(x => x.GetSingle()).ToArray()).ToArray();
        var actual = await models[model].GenerateAsync(sentences);
        for (var i = 0; i < sentences.Length; i++)
        {
            var v = actual[i].Vector.ToArray();
            Assert.Equal(384, v.Length);
            var cosine = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(expected[i], v);
            Assert.True(cosine > 1 - 1e-3, $"{model} '{sentences[i]}': cosine {cosine} with the reference");
        }
        // And the two sentences are not the same vector (a constant output would pass a loose check on one).
        Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(actual[0].Vector.Span, actual[1].Vector.Span) < 0.9);
    }

    [Fact]
    public async Task Arctic_embeds_queries_with_its_instruction_prefix_and_minilm_does_not()
    {
        const string text = "which drug lowers the risk of heart attacks";
        var arcticDoc = (await models.Arctic.GenerateAsync([text]))[0].Vector.ToArray();
        var arcticQuery = (await models.Arctic.GenerateAsync([text], EmbeddingInput.QueryOptionsFor(models.Arctic)))[0].Vector.ToArray();
        var prefixed = (await models.Arctic.GenerateAsync([models.Arctic.Model.QueryPrefix + text]))[0].Vector.ToArray();
        Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(arcticDoc, arcticQuery) < 0.99);
        Assert.Equal(prefixed, arcticQuery);

        var miniDoc = (await models.MiniLm.GenerateAsync([text]))[0].Vector.ToArray();
        var miniQuery = (await models.MiniLm.GenerateAsync([text], EmbeddingInput.QueryOptionsFor(models.MiniLm)))[0].Vector.ToArray();
        Assert.Equal(miniDoc, miniQuery);
    }

    [Fact]
    public async Task Length_sorted_parallel_batches_return_each_vector_in_input_order()
    {
        using var batched = BuiltInModels.Create("all-minilm-l6-v2", batchSize: 3, inferenceSlots: 2);
        var texts = Enumerable.Range(0, 9).Select(i => string.Join(' ', Enumerable.Repeat($"sentence number {i} about topic {i * 7}", 9 - i))).ToArray();
        var together = await batched.GenerateAsync(texts);
        for (var i = 0; i < texts.Length; i++)
        {
            var alone = (await models.MiniLm.GenerateAsync([texts[i]]))[0].Vector.ToArray();
            Assert.True(System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(alone, together[i].Vector.Span) > 0.9999, $"text {i}");
        }
    }

    [Fact]
    public void Inputs_longer_than_the_model_maximum_are_truncated_keeping_cls_and_sep()
    {
        var tokens = models.MiniLm.Tokenize(string.Join(' ', Enumerable.Repeat("word", 1000)));
        Assert.Equal(256, tokens.Length);
        Assert.Equal(101, tokens[0]);  // [CLS]
        Assert.Equal(102, tokens[^1]); // [SEP]
        Assert.Equal(512, models.Arctic.Tokenize(string.Join(' ', Enumerable.Repeat("word", 1000))).Length);
    }

    [Theory]
    [InlineData("word2vec-large", "EMBEDDINGS_MODEL for EMBEDDINGS_PROVIDER=local must be one of")]
    [InlineData("minilm", null)]
    [InlineData("arctic-xs", null)]
    public void The_local_model_name_is_checked_at_start(string model, string? expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EMBEDDINGS_PROVIDER"] = "local", ["EMBEDDINGS_MODEL"] = model,
        }).Build();
        using var sp = new ServiceCollection().AddLogging().AddNexusRagEmbeddings(config).BuildServiceProvider();
        if (expected is null)
        {
            Assert.Equal("local", sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value.Provider);
            return;
        }
        var ex = Assert.Throws<OptionsValidationException>(() => sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value);
        Assert.Contains(expected, string.Join("; ", ex.Failures));
    }
}

/// <summary>Semantic retrieval through the server with the built-in model: questions that share no word with their answers.</summary>
public class LocalSemanticSearchTests
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

    [Fact]
    public async Task Paraphrased_questions_with_no_word_in_common_find_their_answer()
    {
        using var analyzer = new EnglishTextAnalyzer();
        foreach (var (_, doc, question) in Pairs)
            Assert.Empty(analyzer.Analyze(doc).Intersect(analyzer.Analyze(question))); // truly no shared term

        using var app = new NexusAppFactory(new() { ["EMBEDDINGS_PROVIDER"] = "local" });
        var client = await app.AdminForTenantAsync("t1");
        foreach (var (id, doc, _) in Pairs) await client.IngestTextAsync("docs", doc, id);
        foreach (var (id, _, _) in Pairs) await client.WaitForDocumentAsync(id, timeoutMs: 60_000);

        var corpus = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
        Assert.Equal("local", corpus.GetProperty("embedding").GetProperty("provider").GetString());
        Assert.Equal("all-minilm-l6-v2", corpus.GetProperty("embedding").GetProperty("model").GetString());
        foreach (var (id, _, question) in Pairs)
        {
            var lexical = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = question, mode = "lexical" })).DataAsync();
            Assert.True(lexical.GetProperty("results").GetArrayLength() == 0, $"{question}: {lexical}"); // BM25 finds nothing at all
            foreach (var mode in new[] { "vector", "hybrid" })
            {
                var hits = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = question, mode })).DataAsync();
                Assert.Equal(id, hits.GetProperty("results")[0].GetProperty("document_id").GetString());
            }
        }
    }
}

/// <summary>Re-ingesting unchanged text reuses the stored vectors: counted at a real (fake) embeddings server.</summary>
public class EmbeddingReuseTests
{
    /// <summary>A server whose embedder is the OpenAI-compatible one at <paramref name="server"/>, which counts every input it embeds.</summary>
    private static NexusAppFactory AppEmbeddingAt(FakeOpenAiServer server) => new(new()
    {
        ["EMBEDDINGS_PROVIDER"] = "openai", ["EMBEDDINGS_BASE_URL"] = server.BaseUrl, ["EMBEDDINGS_MODEL"] = "m1",
        ["EMBEDDINGS_DIMENSIONS"] = "16", ["EMBEDDINGS_MAX_RETRIES"] = "0",
    });

    [Fact]
    public async Task A_reindex_or_reupload_embeds_only_the_chunks_whose_text_changed()
    {
        await using var server = await FakeOpenAiServer.StartAsync();
        using var app = AppEmbeddingAt(server);
        var client = await app.AdminForTenantAsync("t1");
        int Inputs() => server.Requests.Sum(r => r.Inputs);
        var paragraphs = Enumerable.Range(0, 6).Select(i => $"Paragraph {i} talks about subject {i} in enough words to fill its own chunk of text. " +
                                                           string.Join(' ', Enumerable.Repeat($"detail{i}", 30))).ToList();
        async Task Put(IEnumerable<string> ps)
        {
            var body = new Dictionary<string, object?> { ["corpus_id"] = "docs", ["document_id"] = "d1", ["text"] = string.Join("\n\n", ps), ["overwrite"] = true, ["chunk_size_chars"] = 300, ["chunk_overlap_chars"] = 0 };
            await (await client.PostAsJsonAsync("/v1/documents/text", body)).DataAsync(202);
            await client.WaitForDocumentAsync("d1");
        }

        await Put(paragraphs);
        var first = Inputs();
        var chunks = (await (await client.GetAsync("/v1/documents/d1")).DataAsync()).GetProperty("num_chunks").GetInt32();
        Assert.Equal(chunks, first);
        Assert.True(chunks >= 6, $"{chunks} chunks");

        await (await client.PostAsJsonAsync("/v1/documents/d1/reindex", new { })).DataAsync(202);
        await client.WaitForDocumentAsync("d1");
        Assert.Equal(first, Inputs()); // same text: nothing embedded again

        paragraphs[2] = "A rewritten second paragraph about something else entirely, with new words and a new meaning.";
        await Put(paragraphs);
        var embeddedAgain = Inputs() - first;
        Assert.InRange(embeddedAgain, 1, 2); // only the changed chunk (and at most its neighbour, if a boundary moved)

        var hits = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "rewritten paragraph something else", mode = "vector" })).DataAsync();
        Assert.Contains("rewritten", hits.GetProperty("results")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_batch_re_upload_reuses_each_documents_own_vectors_and_embeds_a_new_document_in_full()
    {
        // Jobs claimed together read their documents, and which of them have vectors to reuse, once per batch.
        await using var server = await FakeOpenAiServer.StartAsync();
        using var app = AppEmbeddingAt(server);
        var client = await app.AdminForTenantAsync("t1");
        int Inputs() => server.Requests.Sum(r => r.Inputs);
        List<string> Paragraphs(string doc) => Enumerable.Range(0, 5).Select(i => $"Document {doc} paragraph {i} covers topic {doc}{i} in words enough to fill a chunk. " +
                                                                                 string.Join(' ', Enumerable.Repeat($"note{doc}{i}", 30))).ToList();
        object Item(string id, IEnumerable<string> ps) => new Dictionary<string, object?>
        {
            ["corpus_id"] = "docs", ["document_id"] = id, ["text"] = string.Join("\n\n", ps), ["overwrite"] = true,
            ["chunk_size_chars"] = 300, ["chunk_overlap_chars"] = 0,
        };
        async Task<List<string>> Texts(string id) =>
            (await (await client.GetAsync($"/v1/documents/{id}/chunks")).DataAsync()).EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToList();

        var docs = new[] { "a", "b", "c" }.ToDictionary(d => d, Paragraphs);
        Assert.Equal(3, (await (await client.PostAsJsonAsync("/v1/documents/batch", docs.Select(d => Item(d.Key, d.Value)).ToArray())).DataAsync()).GetProperty("accepted").GetInt32());
        foreach (var d in docs.Keys) await client.WaitForDocumentAsync(d);
        var first = Inputs();
        var before = new Dictionary<string, List<string>> { ["a"] = await Texts("a"), ["b"] = await Texts("b"), ["c"] = await Texts("c") };
        Assert.Equal(before.Values.Sum(t => t.Count), first);

        docs["a"][1] = "A rewritten paragraph of document a, now about harbours and cranes.";
        docs["b"][3] = "A rewritten paragraph of document b, now about orchards and bees.";
        var second = await (await client.PostAsJsonAsync("/v1/documents/batch", new[] { Item("a", docs["a"]), Item("b", docs["b"]), Item("d", Paragraphs("d")) })).DataAsync();
        Assert.Equal(3, second.GetProperty("accepted").GetInt32());
        foreach (var d in new[] { "a", "b", "d" }) await client.WaitForDocumentAsync(d);
        // Embedded again: exactly the chunks of a and b whose text is new to that document, and every chunk of d.
        var changed = 0;
        foreach (var d in new[] { "a", "b" })
        {
            var now = await Texts(d);
            var fresh = now.Count(t => !before[d].Contains(t));
            Assert.InRange(fresh, 1, now.Count - 1); // some chunks changed, some were reused
            changed += fresh;
        }
        var newChunks = (await Texts("d")).Count;
        Assert.True(newChunks >= 5, $"{newChunks} chunks");
        Assert.Equal(changed + newChunks, Inputs() - first);
    }
}
