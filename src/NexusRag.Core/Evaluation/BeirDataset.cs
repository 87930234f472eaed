using System.Text.Json;

namespace NexusRag.Core.Evaluation;

/// <summary>A BEIR-format dataset: corpus.jsonl (_id, title, text), queries.jsonl (_id, text), qrels/&lt;split&gt;.tsv.</summary>
public sealed record BeirDataset(
    IReadOnlyList<(string Id, string Title, string Text)> Corpus,
    IReadOnlyDictionary<string, string> Queries,
    IReadOnlyDictionary<string, Dictionary<string, int>> Qrels)
{
    public static BeirDataset Load(string dir, string split)
    {
        var corpusPath = Path.Combine(dir, "corpus.jsonl");
        var queriesPath = Path.Combine(dir, "queries.jsonl");
        var qrelsPath = Path.Combine(dir, "qrels", split + ".tsv");
        foreach (var p in new[] { corpusPath, queriesPath, qrelsPath })
            if (!File.Exists(p)) throw new FileNotFoundException($"BEIR dataset file missing: {p}");

        var corpus = new List<(string, string, string)>();
        foreach (var line in File.ReadLines(corpusPath))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var d = JsonDocument.Parse(line);
            corpus.Add((Id(d.RootElement), Str(d.RootElement, "title"), Str(d.RootElement, "text")));
        }
        var queries = new Dictionary<string, string>();
        foreach (var line in File.ReadLines(queriesPath))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var d = JsonDocument.Parse(line);
            queries[Id(d.RootElement)] = Str(d.RootElement, "text");
        }
        var qrels = new Dictionary<string, Dictionary<string, int>>();
        foreach (var line in File.ReadLines(qrelsPath).Skip(1))
        {
            var parts = line.Split('\t');
            if (parts.Length < 3 || !int.TryParse(parts[2], out var score)) continue;
            if (!qrels.TryGetValue(parts[0], out var rels)) qrels[parts[0]] = rels = [];
            rels[parts[1]] = score;
        }
        return new BeirDataset(corpus, queries, qrels);
    }

    private static string Id(JsonElement e) => e.GetProperty("_id") is var id && id.ValueKind == JsonValueKind.Number ? id.GetRawText() : id.GetString() ?? "";
    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}
