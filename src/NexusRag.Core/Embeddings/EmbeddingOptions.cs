using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Embeddings;

/// <summary>
/// Which embedding model the pipeline and the query path use (section <c>NexusRag:Embeddings</c>; the flat
/// environment names <c>EMBEDDINGS_PROVIDER</c>, <c>EMBEDDINGS_MODEL</c>, <c>EMBEDDINGS_DIMENSIONS</c>,
/// <c>EMBEDDINGS_BASE_URL</c>, <c>EMBEDDINGS_API_KEY</c>, <c>EMBEDDINGS_MODEL_PATH</c>, <c>EMBEDDINGS_BATCH_SIZE</c>,
/// <c>EMBEDDINGS_TIMEOUT_MS</c>, <c>EMBEDDINGS_MAX_RETRIES</c>, <c>EMBEDDINGS_MAX_SEQUENCE_LENGTH</c> override it).
/// </summary>
public sealed class EmbeddingOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Embeddings";
    public static readonly string[] Providers = ["hash", "local", "openai", "onnx", "sha256"];

    /// <summary><c>local</c> (default: a built-in sentence model shipped with NexusRag, offline; <see cref="Model"/> picks it), <c>hash</c> (offline lexical proxy, fast), <c>openai</c> (any OpenAI-compatible /v1/embeddings), <c>onnx</c> (local model folder), <c>sha256</c> (the seed's content-hash baseline; for comparison only).</summary>
    public string Provider { get; set; } = "local";
    /// <summary>Model name (local: <c>all-minilm-l6-v2</c> (default) or <c>snowflake-arctic-embed-xs</c>; openai: required; onnx: defaults to the folder name; hash: fixed).</summary>
    public string? Model { get; set; }
    /// <summary>Vector size (hash and sha256: default 384; openai: required, sent as <c>dimensions</c> when the model supports it; onnx: read from the model).</summary>
    [Range(1, 8192)] [FlatName("EMBEDDINGS_DIMENSIONS")] public int? Dimensions { get; set; }
    public string? BaseUrl { get; set; }
    public string? ApiKey { get; set; }
    /// <summary>onnx: a folder with <c>model.onnx</c> and <c>vocab.txt</c> (or <c>tokenizer.json</c> with a WordPiece vocabulary).</summary>
    public string? ModelPath { get; set; }
    [Range(1, 2048)] [FlatName("EMBEDDINGS_BATCH_SIZE")] public int BatchSize { get; set; } = 64;
    [Range(100, 600_000)] [FlatName("EMBEDDINGS_TIMEOUT_MS")] public int TimeoutMs { get; set; } = 30_000;
    [Range(0, 10)] [FlatName("EMBEDDINGS_MAX_RETRIES")] public int MaxRetries { get; set; } = 3;
    /// <summary>Longest input in tokens, longer ones are truncated (local: the model's own, 256 or 512, and never more; onnx: 256).</summary>
    [Range(8, 8192)] [FlatName("EMBEDDINGS_MAX_SEQUENCE_LENGTH")] public int? MaxSequenceLength { get; set; }
    /// <summary>local and onnx: inferences run at once, one core each (default: the cores). Document batches leave one for queries.</summary>
    [Range(1, 256)] [FlatName("EMBEDDINGS_INFERENCE_THREADS")] public int? InferenceThreads { get; set; }
    /// <summary>local and onnx: inputs per inference run, sorted by length. 1 is fastest on CPU (bench/); raise it for accelerators.</summary>
    [Range(1, 1024)] [FlatName("EMBEDDINGS_INFERENCE_BATCH")] public int InferenceBatchSize { get; set; } = 1;

    /// <summary>Problems found while reading the flat environment names.</summary>
    public List<string> ParseErrors { get; } = [];
}
