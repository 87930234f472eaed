using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Cli;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;
using Spectre.Console;

namespace NexusRag.Tests.Search;

public sealed class SearchCliTests : IDisposable
{
    private readonly TempDir _tmp = new("nexusrag-searchcli");

    public void Dispose() => _tmp.Dispose();

    private Task<(int Code, string Output)> Run(params string[] args) => CliRunner.RunAsync(TestStore.SettingsFor(Path.Combine(_tmp.Path, "var")), args);

    /// <summary>A four-document BEIR dataset whose two test queries each have one obviously relevant document.</summary>
    private string TinyBeir()
    {
        var dir = Path.Combine(_tmp.Path, "beir");
        Directory.CreateDirectory(Path.Combine(dir, "qrels"));
        File.WriteAllLines(Path.Combine(dir, "corpus.jsonl"), [
            """{"_id": "101", "title": "Aspirin and platelets", "text": "Aspirin irreversibly inhibits platelet cyclooxygenase."}""",
            """{"_id": "102", "title": "Insulin", "text": "Insulin lowers blood glucose by promoting uptake into muscle."}""",
            """{"_id": "103", "title": "Telomeres", "text": "Telomere shortening limits the replicative lifespan of cells."}""",
            """{"_id": "104", "title": "Vitamin D", "text": "Vitamin D is synthesized in skin exposed to ultraviolet light."}""",
        ]);
        File.WriteAllLines(Path.Combine(dir, "queries.jsonl"), [
            """{"_id": "1", "text": "Does aspirin inhibit platelet cyclooxygenase?"}""",
            """{"_id": "2", "text": "telomere shortening and cell lifespan"}""",
            """{"_id": "3", "text": "a query without judgments is not scored"}""",
        ]);
        File.WriteAllLines(Path.Combine(dir, "qrels", "test.tsv"), ["query-id\tcorpus-id\tscore", "1\t101\t1", "2\t103\t1"]);
        return dir;
    }

    [Fact]
    public async Task Eval_ingests_a_beir_dataset_through_the_pipeline_and_reports_metrics_as_json()
    {
        var (code, output) = await Run("eval", "--dataset", TinyBeir(), "--split", "test", "--mode", "hybrid", "--json");
        Assert.Equal(0, code);
        var json = JsonDocument.Parse(output.Trim().Split('\n').Last()).RootElement;
        Assert.Equal(4, json.GetProperty("documents").GetInt32());
        Assert.Equal(2, json.GetProperty("queries").GetInt32());
        Assert.Equal(1.0, json.GetProperty("ndcg_at_10").GetDouble());
        Assert.Equal(1.0, json.GetProperty("recall_at_100").GetDouble());
        Assert.Equal(1.0, json.GetProperty("mrr_at_10").GetDouble());
        Assert.True(json.GetProperty("latency_ms_p95").GetDouble() >= json.GetProperty("latency_ms_p50").GetDouble());
        Assert.StartsWith("hash:", json.GetProperty("embedder").GetString());
        // The throwaway store is gone; the configured data directory was never touched.
        Assert.False(Directory.Exists(Path.Combine(_tmp.Path, "var")));
    }

    [Fact]
    public async Task Eval_prints_a_table_can_use_another_embedder_and_reports_bad_input()
    {
        var (code, output) = await Run("eval", "--dataset", TinyBeir(), "--mode", "vector", "--embedder", "sha256");
        Assert.Equal(0, code);
        Assert.Contains("ndcg_at_10", output);
        Assert.Contains("sha256:sha256-expand-v1:384", output);

        (code, output) = await Run("eval", "--dataset", Path.Combine(_tmp.Path, "missing"), "--json");
        Assert.Equal(1, code);
        Assert.Contains("corpus.jsonl", output);
        (code, _) = await Run("eval", "--dataset", TinyBeir(), "--mode", "semantic");
        Assert.Equal(2, code);
    }

    [Fact]
    public async Task Index_rebuild_writes_a_snapshot_from_the_chunks_table_that_the_server_starts_from()
    {
        var dataDir = Path.Combine(_tmp.Path, "var");
        string key;
        using (var app = new NexusAppFactory(dataDir: dataDir))
        {
            key = await app.CreateKeyAsync("t1", Role.Admin);
            var client = app.ClientWithKey(key);
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
            await client.IngestTextAsync("docs", "Quasars are luminous galactic nuclei.", "quasar");
            await client.WaitForDocumentAsync("quasar");
        }
        var snapshot = Path.Combine(dataDir, "index", "search.snapshot");
        File.Delete(snapshot);

        var (code, output) = await Run("index", "rebuild");
        Assert.Equal(0, code);
        Assert.Contains("1 corpora (1 index versions), 1 chunks", output);
        Assert.True(File.Exists(snapshot));

        using (var app = new NexusAppFactory(dataDir: dataDir))
        {
            var resp = await app.ClientWithKey(key).PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "quasars" });
            Assert.Equal("quasar", (await resp.DataAsync()).GetProperty("results")[0].GetProperty("document_id").GetString());
        }
    }
}
