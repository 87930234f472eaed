using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Documents;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>The chunk change log: a follower that applies it in seq order ends with exactly the chunks table.</summary>
public sealed class ChangeFeedTests : IDisposable
{
    private readonly NexusAppFactory _app = new();
    public void Dispose() => _app.Dispose();

    private static string Text(string seed, int paragraphs) =>
        string.Join("\n\n", Enumerable.Range(0, paragraphs).Select(i => $"{seed} {i} " + string.Join(" ", Enumerable.Repeat(seed, 60))));

    [Fact]
    public async Task Replaying_the_log_reproduces_the_chunks_table_through_ingest_overwrite_delete_and_corpus_delete()
    {
        var client = await _app.AdminForTenantAsync("feed", "c1");
        await (await client.PostAsJsonAsync("/v1/corpora", new { id = "c2" })).DataAsync(201);
        var feed = _app.Service<IChunkChangeFeed>();
        var follower = new Dictionary<string, string>();
        long cursor = 0;
        var seen = new List<long>();

        async Task CatchUp()
        {
            while (true)
            {
                var batch = await feed.ReadAsync(cursor, 7, default); // small pages exercise the merge
                if (batch.Count == 0) return;
                foreach (var change in batch)
                {
                    Assert.True(change.Seq > cursor);
                    seen.Add(change.Seq);
                    if (change.Kind == ChunkChangeKind.Upsert) follower[change.ChunkId] = change.Chunk!.Text;
                    else Assert.True(follower.Remove(change.ChunkId), $"deletion of unknown chunk {change.ChunkId}");
                    cursor = change.Seq;
                }
            }
        }

        async Task AssertMatchesTable()
        {
            await CatchUp();
            await using var db = await _app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            var table = await db.Chunks.ToDictionaryAsync(c => c.Id, c => c.Text);
            Assert.Equal(table.OrderBy(kv => kv.Key), follower.OrderBy(kv => kv.Key));
        }

        await client.IngestTextAsync("c1", Text("alpha", 6), "a");
        await client.IngestTextAsync("c2", Text("beta", 4), "b");
        await client.WaitForDocumentAsync("a");
        await client.WaitForDocumentAsync("b");
        await AssertMatchesTable();
        Assert.NotEmpty(follower);

        await client.IngestTextAsync("c1", Text("gamma", 3), "a", overwrite: true); // replace
        await client.WaitForDocumentAsync("a");
        await AssertMatchesTable();
        Assert.DoesNotContain(follower.Values, t => t.StartsWith("alpha", StringComparison.Ordinal));

        await client.IngestTextAsync("c1", Text("gamma", 3), "a", overwrite: true); // same content again: same ids
        await client.WaitForDocumentAsync("a");
        await AssertMatchesTable();

        await (await client.PostAsJsonAsync("/v1/documents/a/reindex", new { chunk_size_chars = 150, chunk_overlap_chars = 10 })).DataAsync(202);
        await client.WaitForDocumentAsync("a");
        await AssertMatchesTable();

        await (await client.DeleteAsync("/v1/documents/a")).DataAsync();
        await AssertMatchesTable();
        await (await client.DeleteAsync("/v1/corpora/c2")).DataAsync();
        await AssertMatchesTable();
        Assert.Empty(follower);

        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal(seen.Order(), seen);
    }
}
