using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace NexusRag.Embeddings;

/// <summary>
/// A local sentence-transformers model run with ONNX Runtime: WordPiece tokenization (Microsoft.ML.Tokenizers),
/// truncation to the maximum sequence length with [CLS]/[SEP], right padding per batch, inference, mean pooling
/// of <c>last_hidden_state</c> over the attention mask (padding never counts), L2 normalization.
/// The folder holds <c>model.onnx</c> and <c>vocab.txt</c> (or a <c>tokenizer.json</c> with a WordPiece vocabulary).
/// </summary>
public sealed class OnnxEmbedder : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly InferenceSession _session;
    private readonly BertTokenizer _tokenizer;
    private readonly int _maxSequenceLength;
    private readonly int _batchSize;
    private readonly string _outputName;
    private readonly bool _wantsTokenTypes;
    private readonly EmbeddingGeneratorMetadata _metadata;

    public int Dimensions { get; }

    public OnnxEmbedder(string modelFolder, string? modelId = null, int maxSequenceLength = 256, int batchSize = 32)
    {
        var modelPath = Path.Combine(modelFolder, "model.onnx");
        if (!File.Exists(modelPath)) throw new FileNotFoundException($"ONNX model not found: {modelPath}");
        _tokenizer = LoadTokenizer(modelFolder);
        _maxSequenceLength = maxSequenceLength;
        _batchSize = batchSize;

        using var so = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        _session = new InferenceSession(modelPath, so);
        foreach (var required in new[] { "input_ids", "attention_mask" })
            if (!_session.InputMetadata.ContainsKey(required))
                throw new InvalidOperationException($"ONNX model has no '{required}' input (inputs: {string.Join(", ", _session.InputMetadata.Keys)})");
        _wantsTokenTypes = _session.InputMetadata.ContainsKey("token_type_ids");
        _outputName = _session.OutputMetadata.ContainsKey("last_hidden_state") ? "last_hidden_state" : _session.OutputMetadata.Keys.First();

        var dims = _session.OutputMetadata[_outputName].Dimensions;
        Dimensions = dims.Length == 3 && dims[2] > 0 ? dims[2] : EmbedBatch(["dimension probe"])[0].Length;
        _metadata = new EmbeddingGeneratorMetadata("onnx", null, modelId ?? new DirectoryInfo(modelFolder).Name, Dimensions);
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

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(
        IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var texts = values.ToList();
        var result = new GeneratedEmbeddings<Embedding<float>>(texts.Count);
        for (var start = 0; start < texts.Count; start += _batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            foreach (var v in EmbedBatch(texts.Skip(start).Take(_batchSize).ToList()))
                result.Add(new Embedding<float>(v) { ModelId = _metadata.DefaultModelId });
        }
        return Task.FromResult(result);
    }

    /// <summary>Token ids with [CLS] … [SEP], truncated so the whole sequence fits <see cref="_maxSequenceLength"/>.</summary>
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

    internal float[][] EmbedBatch(IReadOnlyList<string> texts)
    {
        var tokens = texts.Select(Tokenize).ToList();
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
        var result = new float[batch][];
        for (var b = 0; b < batch; b++)
        {
            // Attention-masked mean pooling: the average of the real tokens' vectors.
            var v = new float[dim];
            var n = tokens[b].Length;
            for (var s = 0; s < n; s++)
                for (var d = 0; d < dim; d++) v[d] += hidden[b, s, d];
            for (var d = 0; d < dim; d++) v[d] /= n;
            result[b] = Core.Embeddings.EmbeddingBatches.Normalize(v);
        }
        return result;
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => Core.AiServices.Resolve(serviceType, serviceKey, _metadata, this);

    public void Dispose() => _session.Dispose();
}
