using Microsoft.Extensions.AI;

namespace NexusRag.Core.Embeddings;

/// <summary>
/// Which model produced a corpus's vectors. A corpus records it at its first ingest; vectors of another
/// identity are never mixed into it, and a server that cannot run it refuses vector work on the corpus
/// (<see cref="Errors.ErrorCodes.EmbeddingModelMismatch"/>).
/// </summary>
public sealed record EmbeddingIdentity(string Provider, string Model, int Dimensions)
{
    public static EmbeddingIdentity Of(IEmbeddingGenerator<string, Embedding<float>> generator)
    {
        var meta = generator.GetService<EmbeddingGeneratorMetadata>()
                   ?? throw new InvalidOperationException("The embedding generator does not describe itself (no EmbeddingGeneratorMetadata).");
        if (meta.DefaultModelDimensions is not > 0)
            throw new InvalidOperationException("The embedding generator does not declare its dimensions.");
        return new EmbeddingIdentity(meta.ProviderName ?? "unknown", meta.DefaultModelId ?? "default", meta.DefaultModelDimensions.Value);
    }

    public override string ToString() => $"{Provider}:{Model}:{Dimensions}";
}

/// <summary>An embedding provider failed or answered something unusable (wrong count, wrong size, non-finite values).</summary>
public sealed class EmbeddingProviderException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Implemented by embedders whose model embeds queries and documents differently (an instruction prefix for queries,
/// as snowflake-arctic-embed was trained with). Others never see the query marker: a remote API could refuse an unknown parameter.
/// </summary>
public interface IDistinguishesQueries;

/// <summary>Marks an embedding call as one for search queries (documents are the default).</summary>
public static class EmbeddingInput
{
    public const string InputTypeKey = "nexusrag.input_type";
    public const string Query = "query";

    /// <summary>Options marking a query, for a generator that distinguishes them; null otherwise.</summary>
    public static EmbeddingGenerationOptions? QueryOptionsFor(IEmbeddingGenerator<string, Embedding<float>> generator) =>
        generator.GetService<IDistinguishesQueries>() is null ? null
            : new EmbeddingGenerationOptions { AdditionalProperties = new AdditionalPropertiesDictionary { [InputTypeKey] = Query } };

    public static bool IsQuery(EmbeddingGenerationOptions? options) =>
        options?.AdditionalProperties?.TryGetValue(InputTypeKey, out var v) == true && v as string == Query;
}

public static class EmbeddingBatches
{
    /// <summary>
    /// Embeds <paramref name="texts"/> in batches of <paramref name="batchSize"/> and checks every answer:
    /// one vector per input, the declared dimensions, finite values. Vectors come back L2-normalized, so a dot
    /// product is their cosine similarity.
    /// </summary>
    public static async Task<float[][]> EmbedAsync(
        IEmbeddingGenerator<string, Embedding<float>> generator, IReadOnlyList<string> texts, int batchSize, int dimensions, CancellationToken ct,
        EmbeddingGenerationOptions? options = null)
    {
        var result = new float[texts.Count][];
        for (var start = 0; start < texts.Count; start += batchSize)
        {
            var batch = texts.Skip(start).Take(batchSize).ToList();
            GeneratedEmbeddings<Embedding<float>> answer;
            try
            {
                answer = await generator.GenerateAsync(batch, options, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (ex is EmbeddingProviderException) throw;
                throw new EmbeddingProviderException($"embedding provider failed: {ex.GetType().Name}: {Errors.Text.Clip(ex.Message, 300)}", ex);
            }
            if (answer.Count != batch.Count)
                throw new EmbeddingProviderException($"embedding provider returned {answer.Count} vectors for {batch.Count} inputs");
            for (var i = 0; i < batch.Count; i++)
            {
                var v = answer[i].Vector.ToArray();
                if (v.Length != dimensions)
                    throw new EmbeddingProviderException($"embedding provider returned {v.Length} dimensions, expected {dimensions}");
                result[start + i] = Normalize(v);
            }
        }
        return result;
    }

    /// <summary>L2-normalizes in place; rejects NaN/∞. An all-zero vector stays zero (it matches nothing).</summary>
    public static float[] Normalize(float[] v)
    {
        double sum = 0;
        foreach (var x in v)
        {
            if (!float.IsFinite(x)) throw new EmbeddingProviderException("embedding provider returned a non-finite value");
            sum += (double)x * x;
        }
        if (sum <= 0) return v;
        var inv = (float)(1.0 / Math.Sqrt(sum));
        for (var i = 0; i < v.Length; i++) v[i] *= inv;
        return v;
    }
}

public static class EmbeddingMismatch
{
    public static Errors.NexusException Error(string corpusId, EmbeddingIdentity recorded, EmbeddingIdentity current) =>
        Errors.NexusException.Conflict(Errors.ErrorCodes.EmbeddingModelMismatch,
            $"corpus '{corpusId}' holds vectors of {recorded}, a model this server cannot run (it is configured with {current}). " +
            "Configure that embedding model, or ingest into a new corpus.",
            new Dictionary<string, object?>
            {
                ["corpus_id"] = corpusId,
                ["corpus_embedding"] = new Dictionary<string, object?> { ["provider"] = recorded.Provider, ["model"] = recorded.Model, ["dimensions"] = recorded.Dimensions },
                ["server_embedding"] = new Dictionary<string, object?> { ["provider"] = current.Provider, ["model"] = current.Model, ["dimensions"] = current.Dimensions },
            });
}

/// <summary>
/// The embedding models this server can run (port). A corpus keeps the model it was first ingested with; searches and
/// ingests of that corpus use it, whatever the server's configured default is now. New corpora get <see cref="Default"/>.
/// </summary>
public interface IEmbedderRegistry
{
    /// <summary>The configured model (<c>EMBEDDINGS_PROVIDER</c> / <c>EMBEDDINGS_MODEL</c>): what a new corpus gets.</summary>
    EmbeddingIdentity Default { get; }

    /// <summary>The generator for a model, or null when this server cannot run it (a remote or folder model it is not configured for).</summary>
    IEmbeddingGenerator<string, Embedding<float>>? Find(EmbeddingIdentity identity);

    /// <summary>
    /// The identity of a model this server can run, named by provider and model (null: the provider's default model) and,
    /// for sized models, dimensions; null when it cannot run it.
    /// </summary>
    EmbeddingIdentity? Resolve(string provider, string? model, int? dimensions);
}

public static class EmbedderRegistryExtensions
{
    /// <summary>The model of a corpus (its recorded one, else the default) and its generator; fails closed when this server cannot run it.</summary>
    public static (EmbeddingIdentity Identity, IEmbeddingGenerator<string, Embedding<float>> Generator) ForCorpus(
        this IEmbedderRegistry registry, string corpusId, EmbeddingIdentity? recorded)
    {
        var identity = recorded ?? registry.Default;
        var generator = registry.Find(identity) ?? throw EmbeddingMismatch.Error(corpusId, identity, registry.Default);
        return (identity, generator);
    }
}
