using System.Collections.Concurrent;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using NexusRag.Core.Embeddings;

namespace NexusRag.Embeddings;

/// <summary>
/// The configured embedder, plus every model that needs nothing but this process: the hash and sha256 embedders at any
/// size and the built-in <c>local</c> models, created on first use and kept for the process. Remote (openai) and folder
/// (onnx) models are served only when they are the configured one.
/// </summary>
public sealed class EmbedderRegistry : IEmbedderRegistry, IDisposable
{
    private readonly IEmbeddingGenerator<string, Embedding<float>> _configured;
    private readonly IOptions<EmbeddingOptions> _options;
    private readonly ConcurrentDictionary<EmbeddingIdentity, Lazy<IEmbeddingGenerator<string, Embedding<float>>>> _created = new();

    public EmbedderRegistry(IEmbeddingGenerator<string, Embedding<float>> configured, IOptions<EmbeddingOptions> options)
    {
        _configured = configured;
        _options = options;
        Default = EmbeddingIdentity.Of(configured);
    }

    public EmbeddingIdentity Default { get; }

    public IEmbeddingGenerator<string, Embedding<float>>? Find(EmbeddingIdentity identity)
    {
        if (identity == Default) return _configured;
        if (!CanCreate(identity)) return null;
        return _created.GetOrAdd(identity, id => new Lazy<IEmbeddingGenerator<string, Embedding<float>>>(() => Create(id))).Value;
    }

    public EmbeddingIdentity? Resolve(string provider, string? model, int? dimensions)
    {
        provider = provider.Trim().ToLowerInvariant();
        if (provider == Default.Provider && (model is null || model == Default.Model) && (dimensions is null || dimensions == Default.Dimensions))
            return Default;
        EmbeddingIdentity? id = provider switch
        {
            "hash" when model is null or HashEmbedder.ModelId => new("hash", HashEmbedder.ModelId, dimensions ?? SizedDefault("hash")),
            "sha256" when model is null or Sha256Embedder.ModelId => new("sha256", Sha256Embedder.ModelId, dimensions ?? SizedDefault("sha256")),
            "local" when BuiltInModels.Find(model) is { } entry && dimensions is null or 384 => new("local", entry.Model.ModelId, 384),
            _ => null,
        };
        return id is not null && (id == Default || CanCreate(id)) ? id : null;

        int SizedDefault(string p) => Default.Provider == p ? Default.Dimensions : _options.Value.Dimensions ?? 384;
    }

    private static bool CanCreate(EmbeddingIdentity id) => id.Provider switch
    {
        "hash" => id.Model == HashEmbedder.ModelId && id.Dimensions is >= 1 and <= 8192,
        "sha256" => id.Model == Sha256Embedder.ModelId && id.Dimensions is >= 1 and <= 8192,
        "local" => BuiltInModels.All.Any(e => e.Model.ModelId == id.Model) && id.Dimensions == 384,
        _ => false,
    };

    private IEmbeddingGenerator<string, Embedding<float>> Create(EmbeddingIdentity id)
    {
        var o = _options.Value;
        return EmbeddingsServiceCollectionExtensions.Instrumented(id.Provider switch
        {
            "hash" => new HashEmbedder(id.Dimensions),
            "sha256" => new Sha256Embedder(id.Dimensions),
            _ => BuiltInModels.Create(id.Model, o.MaxSequenceLength, o.InferenceBatchSize, o.InferenceThreads),
        });
    }

    public void Dispose()
    {
        foreach (var lazy in _created.Values)
            if (lazy.IsValueCreated) lazy.Value.Dispose();
    }
}
