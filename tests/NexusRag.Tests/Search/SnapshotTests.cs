using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Core.Auth;
using NexusRag.Search;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

/// <summary>
/// The index snapshot carries the HNSW graph: a restart loads it instead of rebuilding, and answers exactly what the
/// index answered before and what an index rebuilt from the store answers; a corrupted or truncated snapshot is
/// discarded (checksum) and the index is rebuilt from the store.
/// </summary>
public sealed class SnapshotTests : IDisposable
{
    private readonly TempDir _dir = new("nexusrag-snapshot");
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["NexusRag:Search:HnswThreshold"] = "40", // a graph over a test-sized corpus
        ["NexusRag:Search:SyncIntervalMs"] = "60000",
    };

    public void Dispose() => _dir.Dispose();

    /// <summary>Waits until the snapshot file has stopped changing (a stopping server may still be writing it).</summary>
    private static async Task SettledAsync(string path)
    {
        (DateTime, long) Stamp() => File.Exists(path) ? (File.GetLastWriteTimeUtc(path), new FileInfo(path).Length) : (DateTime.MinValue, -1);
        var last = Stamp();
        var stable = 0;
        for (var i = 0; i < 100 && stable < 3; i++)
        {
            await Task.Delay(100);
            var now = Stamp();
            stable = now == last ? stable + 1 : 0;
            last = now;
        }
    }

    private static readonly string[] Queries = ["harbour lighthouse storms", "glacier valleys ice", "volcano magma", "orchard apples frost", "desert dunes wind"];

    private static async Task<string> ResultsAsync(HttpClient client)
    {
        var all = new List<string>();
        foreach (var mode in new[] { "vector", "hybrid" })
            foreach (var q in Queries)
            {
                var r = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = q, mode, top_k = 8 })).DataAsync();
                all.Add(string.Join(",", r.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("chunk_id").GetString() + ":" + h.GetProperty("score").GetDouble().ToString("F6"))));
            }
        return string.Join("\n", all);
    }

    [Fact]
    public async Task A_restart_restores_the_graph_from_the_snapshot_with_the_same_results_and_a_damaged_snapshot_is_rebuilt()
    {
        string key, before;
        var topics = new[] { "harbour lighthouse storms", "glacier valleys ice", "volcano magma ash", "orchard apples frost", "desert dunes wind", "river delta silt" };
        using (var app = new NexusAppFactory(Settings, dataDir: _dir.Path))
        {
            key = await app.CreateKeyAsync("t1", Role.Admin);
            var client = app.ClientWithKey(key);
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
            for (var i = 0; i < 60; i++)
                await client.IngestTextAsync("docs", $"Report {i} on {topics[i % topics.Length]}: observation {i * 31 % 17} notes the {topics[(i + 2) % topics.Length]} too.", $"r{i:D2}");
            for (var i = 0; i < 60; i++) await client.WaitForDocumentAsync($"r{i:D2}");
            (await client.DeleteAsync("/v1/documents/r07")).EnsureSuccessStatusCode(); // a removed slot the graph must drop
            before = await ResultsAsync(client);
            Assert.True(app.Service<HybridSearchIndex>().Stats()[("t1", "docs", 1)].Hnsw);
        }
        var snapshot = Path.Combine(_dir.Path, "index", "search.snapshot");
        Assert.True(File.Exists(snapshot));

        using (var app = new NexusAppFactory(Settings, dataDir: _dir.Path))
        {
            var client = app.ClientWithKey(key);
            var restored = await ResultsAsync(client);
            var index = app.Service<HybridSearchIndex>();
            Assert.Equal(1, index.LastLoad?.GraphsRestored); // loaded, not rebuilt
            Assert.Equal(59, index.LastLoad?.Chunks);
            Assert.Equal(before, restored);
        }

        // Rebuilt from the store (no snapshot): the same answers.
        await SettledAsync(snapshot);
        var saved = await File.ReadAllBytesAsync(snapshot);
        File.Delete(snapshot);
        using (var app = new NexusAppFactory(Settings, dataDir: _dir.Path))
        {
            var client = app.ClientWithKey(key);
            Assert.Equal(before, await ResultsAsync(client));
            Assert.Null(app.Service<HybridSearchIndex>().LastLoad);
        }

        // One flipped byte, then a cut-off file: each is discarded by its checksum and the index is rebuilt from the store.
        var corrupted = (byte[])saved.Clone();
        corrupted[corrupted.Length / 2] ^= 0x10;
        var truncated = saved[..(saved.Length * 2 / 3)];
        byte[]? previous = null;
        foreach (var damaged in new[] { corrupted, truncated })
        {
            // The last server writes its snapshot while it stops: let that land before putting the damaged file in place.
            await Eventually.ReadAsync(async () => File.Exists(snapshot) && (previous is null || !(await File.ReadAllBytesAsync(snapshot)).SequenceEqual(previous)), done => done);
            await SettledAsync(snapshot);
            await File.WriteAllBytesAsync(snapshot, damaged);
            previous = damaged;
            using var app = new NexusAppFactory(Settings, dataDir: _dir.Path);
            var client = app.ClientWithKey(key);
            Assert.Equal(before, await ResultsAsync(client));
            Assert.Null(app.Service<HybridSearchIndex>().LastLoad);
        }
    }
}
