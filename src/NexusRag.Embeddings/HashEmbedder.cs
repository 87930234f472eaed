using System.Security.Cryptography;
using System.Text;
using Lucene.Net.Analysis.En;
using Microsoft.Extensions.AI;
using NexusRag.Search;

namespace NexusRag.Embeddings;

/// <summary>
/// The default, offline, deterministic embedder: <b>signed feature hashing</b> (the "hashing trick",
/// Weinberger et al. 2009) of two kinds of features into <c>D</c> dimensions.
/// <list type="number">
/// <item>Word unigrams, normalized by Lucene's English analysis chain (Unicode-aware tokenization, lowercase,
/// possessives, English stop words removed, Porter stemming) — so "cells", "Cell's" and "cell" meet.</item>
/// <item>Character n-grams (n = 3…5) of every lowercased non-stop word with boundary marks (<c>&lt;cell&gt;</c> →
/// <c>&lt;ce</c>, <c>cel</c>, …), which match spelling variants, compounds and morphology the stemmer misses.
/// Each word's n-grams share a fixed total weight (<see cref="NgramWeight"/>), so long words do not dominate.</item>
/// </list>
/// A feature's weight is sublinear in its count, <c>1 + ln(tf)</c>. Each feature is hashed with 64-bit FNV-1a:
/// the low bits pick the dimension, bit 63 the sign (+/−), so collisions cancel in expectation instead of piling
/// up. The vector is L2-normalized, so the dot product of two vectors is their cosine similarity — in effect a
/// TF-weighted lexical overlap with fuzzy sub-word matching, computed without any model or network.
/// </summary>
public sealed class HashEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    public const string ModelId = "hash-v1-stem-char3to5";  // change the id whenever the algorithm or its weights change
    internal const float NgramWeight = 0.25f;
    private readonly int _dimensions;
    private readonly EnglishTextAnalyzer _analyzer = new();
    private readonly EmbeddingGeneratorMetadata _metadata;
    /// <summary>Each thread's feature table, kept between texts (cleared, not reallocated and regrown for every chunk).</summary>
    private readonly ThreadLocal<Dictionary<ulong, Feature>> _tables = new(() => new Dictionary<ulong, Feature>(4096));

    public HashEmbedder(int dimensions = 384)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dimensions, 1);
        _dimensions = dimensions;
        _metadata = new EmbeddingGeneratorMetadata("hash", null, ModelId, dimensions);
    }

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var text in values)
        {
            cancellationToken.ThrowIfCancellationRequested();
            result.Add(new Embedding<float>(Embed(text)) { ModelId = ModelId });
        }
        return Task.FromResult(result);
    }

    public float[] Embed(string text)
    {
        // Features are aggregated by their 64-bit FNV-1a hash (of the feature string, "w:stem" or "c:gram", computed over
        // spans without building it) in first-seen order, which is the order the vector's sums are taken in.
        var counts = _tables.Value!;
        counts.Clear();
        try
        {
            Count(counts, text);
            return Vector(counts);
        }
        finally
        {
            if (counts.Count > 65_536) _tables.Value = new Dictionary<ulong, Feature>(4096); // a huge text does not pin its table
        }
    }

    private void Count(Dictionary<ulong, Feature> counts, string text)
    {
        foreach (var stem in _analyzer.Analyze(text)) Add(counts, Fnv1a64(WordSeed, stem), 1f, word: true);
        char[]? rented = null;
        Span<char> buffer = stackalloc char[128];
        try
        {
            foreach (var word in Words(text))
            {
                var length = word.Length + 2;
                if (length > buffer.Length)
                {
                    if (rented is not null) System.Buffers.ArrayPool<char>.Shared.Return(rented);
                    rented = System.Buffers.ArrayPool<char>.Shared.Rent(length);
                    buffer = rented;
                }
                var marked = buffer[..length];
                marked[0] = '<';
                word.CopyTo(marked[1..]);
                marked[^1] = '>';
                var grams = 0;
                for (var n = 3; n <= 5; n++) grams += Math.Max(0, length - n + 1);
                if (grams == 0) continue;
                var each = NgramWeight / grams;
                for (var n = 3; n <= 5; n++)
                    for (var i = 0; i + n <= length; i++) Add(counts, Fnv1a64(GramSeed, marked.Slice(i, n)), each, word: false);
            }
        }
        finally
        {
            if (rented is not null) System.Buffers.ArrayPool<char>.Shared.Return(rented);
        }
    }

    private float[] Vector(Dictionary<ulong, Feature> counts)
    {
        var v = new float[_dimensions];
        foreach (var (h, feature) in counts)
        {
            // Sublinear TF: an n-gram's "count" is fractional, so apply 1 + ln to the multiple of its unit weight.
            var weight = feature.Word ? 1f + MathF.Log(feature.Mass) : feature.Mass;
            var index = (int)(h % (ulong)_dimensions);
            v[index] += (h >> 63) == 0 ? weight : -weight;
        }
        var norm = MathF.Sqrt(System.Numerics.Tensors.TensorPrimitives.SumOfSquares(v));
        if (norm > 0) System.Numerics.Tensors.TensorPrimitives.Divide(v, norm, v);
        return v;
    }

    private record struct Feature(float Mass, bool Word);

    private static void Add(Dictionary<ulong, Feature> counts, ulong key, float w, bool word)
    {
        ref var f = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(counts, key, out var exists);
        f = exists ? f with { Mass = f.Mass + w } : new Feature(w, word);
    }

    /// <summary>FNV-1a states after the feature kinds' prefixes, "w:" and "c:" (each feature's hash continues from one).</summary>
    private static readonly ulong WordSeed = Fnv1a64(OffsetBasis, "w:"), GramSeed = Fnv1a64(OffsetBasis, "c:");
    private const ulong OffsetBasis = 14695981039346656037UL;

    /// <summary>Lowercased letter/digit runs that are not English stop words.</summary>
    private static IEnumerable<string> Words(string text)
    {
        var sb = new StringBuilder();
        foreach (var ch in text.Normalize(NormalizationForm.FormKC))
        {
            if (char.IsLetterOrDigit(ch)) { sb.Append(char.ToLowerInvariant(ch)); continue; }
            if (sb.Length > 0) { var w = sb.ToString(); sb.Clear(); if (!IsStopWord(w)) yield return w; }
        }
        if (sb.Length > 0) { var w = sb.ToString(); if (!IsStopWord(w)) yield return w; }
    }

    private static bool IsStopWord(string w) => EnglishAnalyzer.DefaultStopSet.Contains(w);

    /// <summary>64-bit FNV-1a continued from state <paramref name="h"/> over <paramref name="s"/>, each char as its two bytes (low first).</summary>
    private static ulong Fnv1a64(ulong h, ReadOnlySpan<char> s)
    {
        foreach (var ch in s) h = Step(h, ch);
        return h;

        static ulong Step(ulong h, char ch)
        {
            h ^= (byte)ch; h *= 1099511628211UL;
            h ^= (byte)(ch >> 8); h *= 1099511628211UL;
            return h;
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => Core.AiServices.Resolve(serviceType, serviceKey, _metadata, this);

    public void Dispose()
    {
        _analyzer.Dispose();
        _tables.Dispose();
    }
}

/// <summary>
/// The seed's "deterministic fake embedding" (seed 001, Notes): a vector expanded from the SHA-256 of the whole
/// text. Identical texts get identical vectors; anything else is unrelated noise. Kept only as the baseline the
/// hash embedder is measured against (<c>nexusrag eval --embedder sha256</c>).
/// </summary>
public sealed class Sha256Embedder(int dimensions = 384) : IEmbeddingGenerator<string, Embedding<float>>
{
    public const string ModelId = "sha256-expand-v1";
    private readonly EmbeddingGeneratorMetadata _metadata = new("sha256", null, ModelId, dimensions);

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var result = new GeneratedEmbeddings<Embedding<float>>();
        foreach (var text in values) result.Add(new Embedding<float>(Embed(text)));
        return Task.FromResult(result);
    }

    public float[] Embed(string text)
    {
        var v = new float[dimensions];
        var seed = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        var block = seed;
        for (int i = 0, counter = 0; i < dimensions; counter++)
        {
            if (counter > 0) block = SHA256.HashData([.. seed, .. BitConverter.GetBytes(counter)]);
            for (var j = 0; j < block.Length && i < dimensions; j++, i++) v[i] = block[j] / 127.5f - 1f;
        }
        return Core.Embeddings.EmbeddingBatches.Normalize(v);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => Core.AiServices.Resolve(serviceType, serviceKey, _metadata, this);

    public void Dispose() { }
}
