using System.Net.Http.Json;
using Npgsql;
using NexusRag.Storage.Stores;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>A fact that runs in the suite's PostgreSQL pass (scripts/test.sh runs the suite on both stores).</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (!TestStore.IsPostgres) Skip = "PostgreSQL only: it runs in scripts/test.sh's PostgreSQL pass";
    }
}

/// <summary>
/// A bulk load into a fresh PostgreSQL database analyses the ingestion tables itself once enough chunks are written,
/// instead of leaving the planner to treat a table it never analysed as empty until autovacuum comes round.
/// </summary>
public class PlannerStatisticsTests
{
    [PostgresFact]
    public async Task A_bulk_load_into_a_fresh_database_leaves_the_planner_current_statistics_for_chunks()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("t1");
        var paragraph = string.Join(' ', Enumerable.Range(0, 40).Select(i => $"word{i}")); // ~300 chars: about two chunks of 200
        var items = Enumerable.Range(0, 40).Select(d => new Dictionary<string, object?>
        {
            ["corpus_id"] = "docs", ["document_id"] = $"bulk{d}", ["chunk_size_chars"] = 200, ["chunk_overlap_chars"] = 0,
            ["text"] = string.Join("\n\n", Enumerable.Range(0, 16).Select(p => $"Document {d} part {p}. {paragraph}")),
        }).ToArray();
        var result = await (await client.PostAsJsonAsync("/v1/documents/batch", items)).DataAsync();
        Assert.Equal(40, result.GetProperty("accepted").GetInt32());
        foreach (var item in items) await client.WaitForDocumentAsync((string)item["document_id"]!, timeoutMs: 60_000);

        await using var conn = new NpgsqlConnection(TestStore.DatabaseFor(app.DataDir));
        await conn.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM chunks", conn);
        var rows = (long)(await count.ExecuteScalarAsync())!;
        Assert.True(rows >= TableStatistics.MinRows, $"{rows} chunks: too few to call for statistics");

        // last_analyze is set by an ANALYZE command (autovacuum's own runs set last_autoanalyze instead). The analysis follows
        // the commit that made the documents succeed, and a backend reports its statistics up to a second or so later.
        var (analysed, described) = (false, 0f);
        for (var deadline = DateTime.UtcNow.AddSeconds(20); !analysed && DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            await using var stats = new NpgsqlCommand(
                "SELECT s.last_analyze IS NOT NULL, c.reltuples FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid WHERE s.relname = 'chunks'", conn);
            await using var reader = await stats.ExecuteReaderAsync();
            Assert.True(await reader.ReadAsync());
            (analysed, described) = (reader.GetBoolean(0), reader.GetFloat(1));
        }
        Assert.True(analysed, "chunks was never analysed after the bulk load");
        Assert.True(described >= TableStatistics.MinRows, $"the statistics describe {described} rows, not the {rows} written");
    }
}
