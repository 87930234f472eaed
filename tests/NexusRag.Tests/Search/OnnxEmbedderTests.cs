using System.Diagnostics;
using System.Net.Http.Json;
using NexusRag.Core.Embeddings;
using NexusRag.Embeddings;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

/// <summary>The tiny BERT-shaped model, generated once per test run by Fixtures/make_tiny_bert.py with Debian's python3-onnx.</summary>
public sealed class TinyBertFixture : IDisposable
{
    private readonly TempDir _dir = new("nexusrag-tinybert");
    public string Folder => _dir.Path;

    public TinyBertFixture()
    {
        var script = Path.Combine(AppContext.BaseDirectory, "Fixtures", "make_tiny_bert.py");
        var psi = new ProcessStartInfo("/usr/bin/python3", [script, Folder]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"generating the tiny ONNX model failed (needs Debian's python3-onnx: apt-get install python3-onnx; scripts/test.sh installs it as root): {stderr}");
    }

    public void Dispose() => _dir.Dispose();
}

public class OnnxEmbedderTests(TinyBertFixture model) : IClassFixture<TinyBertFixture>
{
    private static readonly string[] Vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "ran",
        "fast", "slow", "a", "b", "c", "d", "e", "f", "play", "##ing", "##s", "run", "jump", "##ed", "hello", "world"];

    /// <summary>The model's function, recomputed by hand: mean over real tokens of E[id] + T[0], then L2-normalized.</summary>
    private static float[] Expected(params string[] tokens)
    {
        var ids = new[] { 2 }.Concat(tokens.Select(t => Array.IndexOf(Vocab, t))).Append(3).ToArray();
        var v = new float[8];
        foreach (var id in ids)
            for (var j = 0; j < 8; j++) v[j] += ((id * 7 + j * 3) % 11 - 5) / 5f + 0.1f;
        for (var j = 0; j < 8; j++) v[j] /= ids.Length;
        return EmbeddingBatches.Normalize(v);
    }

    private static void Near(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
    }

    [Fact]
    public void Shapes_identity_and_wordpiece_tokenization()
    {
        using var e = new OnnxEmbedder(model.Folder, "tiny-bert");
        Assert.Equal(8, e.Dimensions);
        Assert.Equal(new EmbeddingIdentity("onnx", "tiny-bert", 8), EmbeddingIdentity.Of(e));
        Assert.Equal([2, 20, 21, 23, 22, 3], e.Tokenize("Playing runs")); // [CLS] play ##ing run ##s [SEP], lowercased
        Assert.Equal([2, 1, 3], e.Tokenize("zebra")); // out of vocabulary → [UNK]
    }

    [Fact]
    public async Task Mean_pooling_over_real_tokens_normalized()
    {
        using var e = new OnnxEmbedder(model.Folder);
        var v = (await e.GenerateAsync(["the cat sat"]))[0].Vector.ToArray();
        Near(Expected("the", "cat", "sat"), v);
        Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 5);
    }

    [Fact]
    public async Task Padding_in_a_batch_does_not_change_a_vector_and_batches_split_correctly()
    {
        using var e = new OnnxEmbedder(model.Folder, batchSize: 2);
        var texts = new[] { "the cat", "the dog ran fast on the mat", "hello", "hello world", "a b c d e f" };
        var batched = await e.GenerateAsync(texts);
        Assert.Equal(5, batched.Count);
        Near(Expected("the", "cat"), batched[0].Vector.ToArray()); // padded to the longer second text
        for (var i = 0; i < texts.Length; i++)
            Near((await e.GenerateAsync([texts[i]]))[0].Vector.ToArray(), batched[i].Vector.ToArray());
    }

    [Fact]
    public async Task Long_input_is_truncated_to_the_maximum_sequence_length_keeping_cls_and_sep()
    {
        using var e = new OnnxEmbedder(model.Folder, maxSequenceLength: 4);
        Assert.Equal([2, 5, 6, 3], e.Tokenize("the cat sat on the mat"));
        Near(Expected("the", "cat"), (await e.GenerateAsync(["the cat sat on the mat"]))[0].Vector.ToArray());
    }

    [Fact]
    public async Task A_tokenizer_json_vocabulary_works_like_vocab_txt()
    {
        using var dir = new TempDir("nexusrag-tokjson");
        File.Copy(Path.Combine(model.Folder, "model.onnx"), Path.Combine(dir.Path, "model.onnx"));
        var vocab = string.Join(",", Vocab.Select((t, i) => $"\"{t}\":{i}"));
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "tokenizer.json"),
            "{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{" + vocab + "}}}");
        using var e = new OnnxEmbedder(dir.Path);
        Near(Expected("the", "cat", "sat"), (await e.GenerateAsync(["The cat sat"]))[0].Vector.ToArray());
    }

    [Fact]
    public async Task The_server_ingests_and_searches_with_the_onnx_embedder()
    {
        using var app = new NexusAppFactory(new() { ["EMBEDDINGS_PROVIDER"] = "onnx", ["EMBEDDINGS_MODEL_PATH"] = model.Folder, ["EMBEDDINGS_MODEL"] = "tiny-bert" });
        var client = await app.AdminForTenantAsync("t1");
        await client.IngestTextAsync("docs", "hello world", "hw");
        await client.IngestTextAsync("docs", "the cat sat on the mat", "cat");
        await client.WaitForDocumentAsync("hw");
        await client.WaitForDocumentAsync("cat");
        var corpus = await (await client.GetAsync("/v1/corpora/docs")).DataAsync();
        Assert.Equal("tiny-bert", corpus.GetProperty("embedding").GetProperty("model").GetString());
        var resp = await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "hello world", mode = "vector" });
        Assert.Equal("hw", (await resp.DataAsync()).GetProperty("results")[0].GetProperty("document_id").GetString());
    }
}
