using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;
using NexusRag.Core.Embeddings;

namespace NexusRag.Embeddings;

/// <summary>How a sentence vector is made from the token vectors.</summary>
public enum Pooling
{
    /// <summary>Attention-masked mean of the token vectors (sentence-transformers' default; all-MiniLM-L6-v2).</summary>
    Mean,
    /// <summary>The [CLS] token's vector (snowflake-arctic-embed).</summary>
    Cls,
}

/// <summary>
/// What a sentence model needs besides its weights: identity, pooling, the prefixes its training used for
/// queries and documents, and the longest input it was trained on.
/// </summary>
public sealed record SentenceModel(
    string Provider, string ModelId, Pooling Pooling, int MaxSequenceLength, string QueryPrefix = "", string DocumentPrefix = "");

/// <summary>
/// A sentence-transformers model run with ONNX Runtime: WordPiece tokenization (Microsoft.ML.Tokenizers), the model's
/// query or document prefix, truncation to the maximum sequence length with [CLS]/[SEP], inference, pooling over the
/// attention mask (padding never counts), L2 normalization.
/// <para>Speed: one <see cref="InferenceSession"/> for the process (ONNX Runtime sessions are thread-safe); inputs sorted
/// by token length before batching, so a batch pads only to its own longest member; each run uses one intra-op thread,
/// and a bounded pool of <c>inferenceSlots</c> (default: the cores) runs document batches side by side. Queries bypass
/// the pool, so a search never waits behind an ingestion. On CPU one input per run is fastest (bench/: batch 1 beats 8
/// even at equal lengths), hence <c>batchSize</c> 1 by default; larger batches suit accelerators.</para>
/// </summary>
public sealed class OnnxEmbedder : IEmbeddingGenerator<string, Embedding<float>>, IDistinguishesQueries
{
    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer;
    private readonly SentenceModel _model;
    private readonly int _maxSequenceLength;
    private readonly int _batchSize;
    private readonly string _outputName;
    private readonly bool _wantsTokenTypes;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly SemaphoreSlim _slots;
    private readonly int _slotCount;

    public int Dimensions { get; }
    public SentenceModel Model => _model;

    /// <summary>A model folder: <c>model.onnx</c> and <c>vocab.txt</c> (or a <c>tokenizer.json</c> with a WordPiece vocabulary); mean pooling, no prefixes.</summary>
    public OnnxEmbedder(string modelFolder, string? modelId = null, int maxSequenceLength = 256, int batchSize = 1, int? inferenceSlots = null)
        : this(ReadModel(modelFolder), LoadTokenizer(modelFolder),
               new SentenceModel("onnx", modelId ?? new DirectoryInfo(modelFolder).Name, Pooling.Mean, maxSequenceLength),
               maxSequenceLength, batchSize, inferenceSlots)
    {
    }

    public OnnxEmbedder(byte[] onnxModel, BertTokenizer tokenizer, SentenceModel model, int? maxSequenceLength = null, int batchSize = 1, int? inferenceSlots = null)
    {
        _tokenizer = tokenizer;
        _model = model;
        _maxSequenceLength = Math.Min(maxSequenceLength ?? model.MaxSequenceLength, model.MaxSequenceLength);
        _batchSize = Math.Max(1, batchSize);
        var slots = _slotCount = Math.Max(1, inferenceSlots ?? Environment.ProcessorCount);
        _slots = new SemaphoreSlim(slots, slots);

        using var so = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
        };
        _session = new InferenceSession(onnxModel, so);
        foreach (var required in new[] { "input_ids", "attention_mask" })
            if (!_session.InputMetadata.ContainsKey(required))
                throw new InvalidOperationException($"ONNX model has no '{required}' input (inputs: {string.Join(", ", _session.InputMetadata.Keys)})");
        _wantsTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
        _outputName = _session.OutputMetadata.ContainsKey("last_hidden_state") ? "last_hidden_state" : _session.OutputMetadata.Keys.First();

        var dims = _session.OutputMetadata[_outputName].Dimensions;
        Dimensions = dims.Length == 3 && dims[2] > 0 ? dims[2] : EmbedBatch([Tokenize("dimension probe")])[0].Length;
        _metadata = new EmbeddingGeneratorMetadata(model.Provider, null, model.ModelId, Dimensions);
    }

    private static byte[] ReadModel(string folder)
    {
        var modelPath = Path.Combine(folder, "model.onnx");
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"ONNX model not found: {modelPath}");
        return File.ReadAllBytes(modelPath);
    }

    private static BertTokenizer LoadTokenizer(string folder)
    {
        var vocab = Path.Combine(folder, "vocab.txt");
        if (File.Exists(vocab)) return BertTokenizer.Create(vocab, new BertOptions { LowerCaseBeforeTokenization = true });
        var json = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(json)) throw new FileNotFoundException($"neither vocab.txt nor tokenizer.json in {folder}");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
        var model = doc.RootElement.GetProperty("model");
        if (model.TryGetProperty("type", out var type) && type.GetString() != "WordPiece")
            throw new NotSupportedException($"tokenizer.json uses {type.GetString()}; only WordPiece (BERT-style) vocabularies are supported");
        var lower = !doc.RootElement.TryGetProperty("normalizer", out var n) || n.ValueKind != JsonValueKind.Object
                    || !n.TryGetProperty("lowercase", out var lc) || lc.GetBoolean();
        var lines = model.GetProperty("vocab").EnumerateObject().OrderBy(p => p.Value.GetInt32()).Select(p => p.Name);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n"));
        return BertTokenizer.Create(stream, new BertOptions { LowerCaseBeforeTokenization = lower });
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var isQuery = EmbeddingInput.IsQuery(options);
        var prefix = isQuery ? _model.QueryPrefix : _model.DocumentPrefix;
        var tokens = values.Select(v => Tokenize(prefix.Length == 0 ? v : prefix + v)).ToArray();

        // Shortest first: each batch pads only to its own longest member.
        var order = Enumerable.Range(0, tokens.Length).OrderBy(i => tokens[i].Length).ToArray();
        var vectors = new float[tokens.Length][];
        var batches = new List<int[]>();
        for (var start = 0; start < order.Length; start += _batchSize)
            batches.Add(order[start..Math.Min(order.Length, start + _batchSize)]);

        void Run(int[] batch)
        {
            var result = EmbedBatch(batch.Select(i => tokens[i]).ToArray());
            for (var j = 0; j < batch.Length; j++) vectors[batch[j]] = result[j];
        }

        if (isQuery)
        {
            // Queries skip the pool and run inline: a few tokens, milliseconds, and a search must not queue behind an ingestion.
            foreach (var batch in batches) { cancellationToken.ThrowIfCancellationRequested(); Run(batch); }
        }
        else
        {
            await Parallel.ForEachAsync(batches, new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = _slotCount },
                async (batch, ct) =>
                {
                    await _slots.WaitAsync(ct).ConfigureAwait(false);
                    try { Run(batch); }
                    finally { _slots.Release(); }
                }).ConfigureAwait(false);
        }

        var generated = new GeneratedEmbeddings<Embedding<float>>(vectors.Length);
        foreach (var v in vectors) generated.Add(new Embedding<float>(v) { ModelId = _metadata.DefaultModelId });
        return generated;
    }

    /// <summary>Token ids with [CLS] … [SEP], truncated so the whole sequence fits the maximum sequence length.</summary>
    internal int[] Tokenize(string text)
    {
        var ids = _tokenizer.EncodeToIds(text, addSpecialTokens: false);
        var body = Math.Min(ids.Count, _maxSequenceLength - 2);
        var result = new int[body + 2];
        result[0] = _tokenizer.ClassificationTokenId;
        for (var i = 0; i < body; i++) result[i + 1] = ids[i];
        result[^1] = _tokenizer.SeparatorTokenId;
        return result;
    }

    private float[][] EmbedBatch(IReadOnlyList<int[]> tokens)
    {
        var batch = tokens.Count;
        var seq = tokens.Max(t => t.Length);
        var ids = new DenseTensor<long>([batch, seq]);
        var mask = new DenseTensor<long>([batch, seq]);
        var types = new DenseTensor<long>([batch, seq]);
        for (var b = 0; b < batch; b++)
            for (var s = 0; s < seq; s++)
            {
                var real = s < tokens[b].Length;
                ids[b, s] = real ? tokens[b][s] : _tokenizer.PaddingTokenId;
                mask[b, s] = real ? 1 : 0;
            }
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor("input_ids", ids),
            NamedOnnxValue.CreateFromTensor("attention_mask", mask),
        };
        if (_wantsTokenTypes) inputs.Add(NamedOnnxValue.CreateFromTensor("token_type_ids", types));

        using var outputs = _session.Run(inputs, [_outputName]);
        var hidden = outputs[0].AsTensor<float>();
        if (hidden.Dimensions.Length != 3) throw new InvalidOperationException($"'{_outputName}' has rank {hidden.Dimensions.Length}; expected [batch, sequence, hidden]");
        var dim = hidden.Dimensions[2];
        var flat = hidden is DenseTensor<float> dense ? dense.Buffer.Span : hidden.ToArray();
        var result = new float[batch][];
        for (var b = 0; b < batch; b++)
        {
            var v = new float[dim];
            var row = flat.Slice(b * seq * dim, seq * dim);
            if (_model.Pooling == Pooling.Cls)
                row[..dim].CopyTo(v);
            else
            {
                // Attention-masked mean: the average of the real tokens' vectors.
                var n = tokens[b].Length;
                for (var s = 0; s < n; s++)
                    System.Numerics.Tensors.TensorPrimitives.Add(v, row.Slice(s * dim, dim), v);
                System.Numerics.Tensors.TensorPrimitives.Divide(v, n, v);
            }
            result[b] = EmbeddingBatches.Normalize(v);
        }
        return result;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => Core.AiServices.Resolve(serviceType, serviceKey, _metadata, this);

    public void Dispose()
    {
        _session.Dispose();
        _slots.Dispose();
    }
}
