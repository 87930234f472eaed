using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using NexusRag.Cli;
using NexusRag.Tests.Infrastructure;
using Spectre.Console;

namespace NexusRag.Tests.Integration;

/// <summary>
/// Real processes on one store (PostgreSQL in the PostgreSQL pass of scripts/test.sh, the shared SQLite file otherwise):
/// two API replicas and ingestion workers started with --role, one of them SIGKILLed mid-run.
/// </summary>
public sealed class ReplicaTests : IDisposable
{
    private readonly TempDir _dir = new("nexusrag-replicas");
    private readonly List<ServerProcess> _servers = [];
    private readonly Dictionary<string, string> _embedder = [];

    public void Dispose()
    {
        foreach (var s in _servers) s.Dispose();
        _dir.Dispose();
    }

    private ServerProcess Start(string role, Dictionary<string, string>? extra = null)
    {
        var env = new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["NexusRag__Ingestion__LeaseMs"] = "2000",
            ["NexusRag__Search__SyncIntervalMs"] = "200",
        };
        foreach (var (k, v) in _embedder) env[k] = v;
        foreach (var (k, v) in extra ?? []) env[k] = v;
        var server = ServerProcess.Start(_dir.Path, env, role);
        _servers.Add(server);
        return server;
    }

    private async Task<string> CreateKeyAsync()
    {
        var (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(_dir.Path), "keys", "create", "--tenant", "t1", "--role", "admin", "--name", "replicas");
        Assert.Equal(0, code);
        return output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
    }

    private static async Task<int> CountAsync(HttpClient client, string status)
    {
        var total = 0;
        string? cursor = null;
        do
        {
            var page = await (await client.GetAsync($"/v1/documents?corpus_id=docs&status={status}&limit=100" + (cursor is null ? "" : $"&cursor={cursor}"))).DataAsync();
            total += page.GetProperty("items").GetArrayLength();
            cursor = page.GetProperty("page").GetProperty("next_cursor").GetString();
        } while (cursor is not null);
        return total;
    }

    [Fact]
    public async Task Two_api_replicas_and_workers_share_one_store_and_survive_a_killed_worker()
    {
        // Every process embeds through a slow OpenAI-compatible server (40 ms a request): the first worker, one job at a
        // time, then takes seconds for the 200 documents, so it is killed mid-run whatever the machine's speed.
        await using var embedder = await FakeOpenAiServer.StartAsync();
        embedder.Behavior = FakeOpenAiServer.Mode.Slow;
        embedder.SlowMs = 40;
        _embedder["EMBEDDINGS_PROVIDER"] = "openai";
        _embedder["EMBEDDINGS_BASE_URL"] = embedder.BaseUrl;
        _embedder["EMBEDDINGS_MODEL"] = "m1";
        _embedder["EMBEDDINGS_DIMENSIONS"] = "16";
        var key = await CreateKeyAsync(); // also migrates the store
        var api1 = await Start("api").ClientAsync(key);
        var api2 = await Start("api").ClientAsync(key);

        var health = await (await api2.GetAsync("/v1/health")).DataAsync();
        Assert.Equal("api", health.GetProperty("role").GetString());
        Assert.Equal("ok", health.GetProperty("checks").GetProperty("database").GetString());
        (await api1.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();

        const int docs = 200;
        for (var i = 0; i < docs; i++)
        {
            var text = string.Join(' ', Enumerable.Range(0, 300).Select(w => $"w{(i * 7 + w) % 997}")) + $" uniquetoken{i}x";
            var resp = await api1.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = $"d{i}", text, chunk_size_chars = 400, chunk_overlap_chars = 50 });
            await resp.DataAsync(202);
        }

        // API replicas do not ingest: everything waits for a worker.
        Assert.Equal(docs, await CountAsync(api2, "queued"));
        var worker1 = Start("worker", new() { ["INGEST_MAX_CONCURRENCY"] = "1", ["INGEST_JOB_BATCH"] = "1" });

        // Kill the worker in the middle of the run, then start another.
        var sw = Stopwatch.StartNew();
        while (await CountAsync(api2, "succeeded") < 20 && sw.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(100);
        var before = await CountAsync(api2, "succeeded");
        Assert.InRange(before, 20, docs - 1);
        await worker1.KillAsync(); // SIGKILL: no graceful shutdown, leases are left behind
        Start("worker", new() { ["INGEST_MAX_CONCURRENCY"] = "2" });

        sw.Restart();
        while (await CountAsync(api2, "succeeded") < docs && sw.Elapsed < TimeSpan.FromSeconds(120)) await Task.Delay(200);
        Assert.Equal(docs, await CountAsync(api2, "succeeded"));
        Assert.Equal(0, await CountAsync(api2, "failed"));

        // Every document has exactly its chunks, once: indexes 0..n-1, no duplicates from the interrupted jobs.
        for (var i = 0; i < docs; i++)
        {
            var doc = await (await api2.GetAsync($"/v1/documents/d{i}")).DataAsync();
            var chunks = await (await api2.GetAsync($"/v1/documents/d{i}/chunks")).DataAsync();
            Assert.Equal(doc.GetProperty("num_chunks").GetInt32(), chunks.GetArrayLength());
            Assert.Equal(Enumerable.Range(0, chunks.GetArrayLength()), chunks.EnumerateArray().Select(c => c.GetProperty("chunk_index").GetInt32()));
        }

        // Ingested through replica 1, searchable through replica 2 (its index follows the change log).
        foreach (var client in new[] { api1, api2 })
        {
            var hit = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "uniquetoken150x", mode = "lexical", top_k = 1 })).DataAsync();
            Assert.Equal("d150", hit.GetProperty("results")[0].GetProperty("document_id").GetString());
        }

        // A delete through replica 2 disappears from replica 1's results too.
        (await api2.DeleteAsync("/v1/documents/d150")).EnsureSuccessStatusCode();
        JsonElement after = default;
        for (var i = 0; i < 100; i++)
        {
            after = await (await api1.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "uniquetoken150x", mode = "lexical", top_k = 1 })).DataAsync();
            if (after.GetProperty("results").GetArrayLength() == 0) break;
            await Task.Delay(50);
        }
        Assert.Equal(0, after.GetProperty("results").GetArrayLength());
    }
}
