using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Storage.Stores;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>
/// The hottest reads (a corpus by id, a page of documents) take a hand-written path on SQLite; every field must come
/// back exactly as the EF path returns it (the single-document read and the corpus list still use EF).
/// </summary>
public sealed class HotReadTests
{
    [Fact]
    public async Task The_document_page_and_the_corpus_read_return_what_the_ef_reads_return_field_for_field()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        (await admin.PostAsJsonAsync("/v1/corpora", new { id = "hot", name = "Hot reads" })).EnsureSuccessStatusCode();
        await (await admin.PostAsJsonAsync("/v1/documents/text", new
        {
            corpus_id = "hot", document_id = "h1", text = "Kelp forests shelter otters.", filename = "kelp.txt",
            metadata = new { source = "field notes", year = 2026 }, labels = new { team = "marine" },
        })).DataAsync(202);
        await admin.IngestTextAsync("hot", "Seagrass meadows store carbon.", "h2");
        await admin.IngestTextAsync("hot", "Coral reefs need clear water.", "h3");
        foreach (var id in new[] { "h1", "h2", "h3" }) await admin.WaitForDocumentAsync(id);

        var items = new List<JsonElement>();
        string? cursor = null;
        do
        {
            var page = await (await admin.GetAsync("/v1/documents?corpus_id=hot&limit=2" + (cursor is null ? "" : $"&cursor={cursor}"))).DataAsync();
            items.AddRange(page.GetProperty("items").EnumerateArray());
            cursor = page.GetProperty("page").GetProperty("next_cursor").GetString();
        } while (cursor is not null);
        Assert.Equal(["h3", "h2", "h1"], items.Select(i => i.GetProperty("id").GetString()));
        foreach (var item in items)
        {
            var single = await (await admin.GetAsync($"/v1/documents/{item.GetProperty("id").GetString()}")).DataAsync();
            Assert.Equal(single.GetRawText(), item.GetRawText());
        }
        Assert.Equal("field notes", items[2].GetProperty("metadata").GetProperty("source").GetString());
        Assert.NotEqual(JsonValueKind.Null, items[2].GetProperty("completed_at").ValueKind);

        var corpus = await (await admin.GetAsync("/v1/corpora/hot")).DataAsync();
        var listed = (await (await admin.GetAsync("/v1/corpora")).DataAsync()).EnumerateArray().Single(c => c.GetProperty("id").GetString() == "hot");
        Assert.Equal(listed.GetRawText(), corpus.GetRawText());
        Assert.Equal(JsonValueKind.Object, corpus.GetProperty("embedding").ValueKind); // recorded by the first ingest
    }

    [Fact]
    public async Task The_document_page_is_written_as_the_api_serialises_document_dtos()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" });
        var admin = await app.AdminForTenantAsync("t1", "c1");
        await (await admin.PostAsJsonAsync("/v1/documents/text", new
        {
            corpus_id = "c1", document_id = "w1", text = "Tidal pools.", filename = "pools \"ü\".txt",
            metadata = new { name = "Ünïcödé <b>&</b> \"quoted\" \u2028 \t", nested = new { list = new object?[] { 1, 2.5, true, null, "x" } } },
            labels = new { team = "ops", level = 3 },
        })).DataAsync(202);
        await admin.IngestTextAsync("c1", "Rock pools.", "w2");

        var resp = await admin.GetAsync("/v1/documents?limit=10");
        Assert.Equal("application/json; charset=utf-8", resp.Content.Headers.ContentType?.ToString());
        var body = await resp.Content.ReadAsStringAsync();
        var requestId = resp.Headers.GetValues("X-Request-Id").Single();
        var (items, hasMore) = await app.Service<NexusRag.Core.Documents.IDocumentStore>()
            .ListAsync(new NexusRag.Core.Documents.DocumentListQuery("t1", null, null, 10, null), default);
        var expected = JsonSerializer.Serialize(new NexusRag.Server.Http.Envelope<NexusRag.Server.Http.PagedItems<NexusRag.Server.Apis.DocumentDto>>(
            new(items.Select(NexusRag.Server.Apis.DocumentDto.From).ToList(), new NexusRag.Server.Http.PageInfo(null, hasMore)),
            new NexusRag.Server.Http.Meta(requestId)), NexusRag.Server.Http.ApiJson.Options);

        var actualNode = System.Text.Json.Nodes.JsonNode.Parse(body)!;
        var expectedNode = System.Text.Json.Nodes.JsonNode.Parse(expected)!;
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(expectedNode, actualNode), $"expected {expected}\nactual   {body}");
        var actualItems = actualNode["data"]!["items"]!.AsArray();
        Assert.Equal(2, actualItems.Count);
        for (var i = 0; i < actualItems.Count; i++)
            Assert.Equal(expectedNode["data"]!["items"]![i]!.AsObject().Select(p => p.Key), actualItems[i]!.AsObject().Select(p => p.Key));
        var w1 = actualItems.Single(x => (string?)x!["id"] == "w1")!;
        Assert.Equal("Ünïcödé <b>&</b> \"quoted\" \u2028 \t", (string?)w1["metadata"]!["name"]);
        Assert.Equal(3, (int)w1["labels"]!["level"]!);
        Assert.Null(w1["completed_at"]);
    }

    [Theory]
    [InlineData("2026-12-01 04:59:03.7562826")]
    [InlineData("2026-12-01 04:59:03.75")]
    [InlineData("2026-02-28 23:59:59")]
    [InlineData("0001-01-01 00:00:00")]
    [InlineData("9999-12-31 23:59:59.9999999")]
    public void Stored_timestamps_parse_as_the_general_parser_reads_them(string stored)
    {
        Assert.True(SqliteHotReads.TryParseStored(stored, out var fast));
        Assert.Equal(DateTimeKind.Utc, fast.Kind);
        Assert.Equal(DateTime.Parse(stored, System.Globalization.CultureInfo.InvariantCulture), fast);
    }

    [Theory]
    [InlineData("2026-12-01T04:59:03Z")]
    [InlineData("2026-13-01 04:59:03")]
    [InlineData("2026-02-30 04:59:03")]
    [InlineData("2026-12-01 04:59:03.")]
    [InlineData("2026-12-01 04:59:03.12345678")]
    [InlineData("0000-12-01 04:59:03")]
    [InlineData("2026-12-01 24:00:00")]
    public void Anything_else_is_left_to_the_general_parser(string stored) =>
        Assert.False(SqliteHotReads.TryParseStored(stored, out _));
}
