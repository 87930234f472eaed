using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Search;

/// <summary>
/// A local server on a real loopback port speaking the common rerank protocol (Cohere / Jina / vLLM / TEI-compatible):
/// <c>POST /rerank {model, query, documents, top_n}</c> → <c>{results: [{index, relevance_score}]}</c>. A document's
/// relevance is how often it contains <see cref="Keyword"/>; <see cref="Behavior"/> injects faults.
/// </summary>
public sealed class FakeRerankServer : IAsyncDisposable
{
    public enum Mode { Normal, Slow, ServerError, Garbage, BadIndex }

    public const string Keyword = "pineapple";
    private readonly WebApplication _app;
    public Mode Behavior { get; set; } = Mode.Normal;
    public ConcurrentQueue<(string Query, int Documents, int TopN, string? Model, string? Authorization)> Requests { get; } = new();
    public string BaseUrl { get; }

    private FakeRerankServer(WebApplication app, string baseUrl) => (_app, BaseUrl) = (app, baseUrl);

    public static async Task<FakeRerankServer> StartAsync()
    {
        FakeRerankServer? self = null;
        var (app, address) = await LoopbackServer.StartAsync(a => a.MapPost("/v1/rerank", async (HttpContext ctx) => await self!.HandleAsync(ctx)));
        self = new FakeRerankServer(app, address + "/v1");
        return self;
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        using var body = await JsonDocument.ParseAsync(ctx.Request.Body);
        var root = body.RootElement;
        var documents = root.GetProperty("documents").EnumerateArray().Select(d => d.GetString()!).ToList();
        var topN = root.GetProperty("top_n").GetInt32();
        Requests.Enqueue((root.GetProperty("query").GetString()!, documents.Count, topN,
            root.TryGetProperty("model", out var m) ? m.GetString() : null, ctx.Request.Headers.Authorization.FirstOrDefault()));
        switch (Behavior)
        {
            case Mode.Slow:
                await Task.Delay(5_000, ctx.RequestAborted);
                break;
            case Mode.ServerError:
                ctx.Response.StatusCode = 503;
                await ctx.Response.WriteAsync("{\"message\":\"overloaded\"}");
                return;
            case Mode.Garbage:
                await ctx.Response.WriteAsync("<html>not a rerank answer</html>");
                return;
            case Mode.BadIndex:
                await ctx.Response.WriteAsJsonAsync(new { results = new[] { new { index = documents.Count + 5, relevance_score = 0.9 } } });
                return;
        }
        var results = documents.Select((d, i) => new { index = i, relevance_score = (double)CountKeyword(d) / 10 })
            .OrderByDescending(r => r.relevance_score).Take(topN).ToList();
        await ctx.Response.WriteAsJsonAsync(new { id = "rr-1", results });
    }

    private static int CountKeyword(string text)
    {
        var n = 0;
        for (var i = text.IndexOf(Keyword, StringComparison.OrdinalIgnoreCase); i >= 0; i = text.IndexOf(Keyword, i + 1, StringComparison.OrdinalIgnoreCase)) n++;
        return n;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public class RerankTests
{
    private static async Task<(NexusAppFactory App, HttpClient Client)> StartAsync(FakeRerankServer server)
    {
        var app = new NexusAppFactory(new()
        {
            ["RERANK_PROVIDER"] = "http", ["RERANK_BASE_URL"] = server.BaseUrl, ["RERANK_MODEL"] = "rerank-test",
            ["RERANK_API_KEY"] = "rk-secret", ["RERANK_TOP_N"] = "10",
            // Long enough for the fake server's first request on a busy machine (JIT, parsing): at 300 ms a 503 once became a
            // timeout before the request was recorded; the slow mode (5 s) still times out.
            ["RERANK_TIMEOUT_MS"] = "2000",
        });
        var client = await app.AdminForTenantAsync("t1");
        // Five fruit documents; the one the reranker prefers is the least lexically relevant.
        string[] texts =
        [
            "fruit fruit fruit salad with apples and fruit",
            "fruit bowl of oranges and fruit",
            "fruit stand selling bananas",
            "a market with fruit and vegetables",
            "tropical fruit: pineapple, pineapple slices and more pineapple in a long sentence about tropical produce from far away",
        ];
        for (var i = 0; i < texts.Length; i++) await client.IngestTextAsync("docs", texts[i], $"d{i}");
        for (var i = 0; i < texts.Length; i++) await client.WaitForDocumentAsync($"d{i}");
        return (app, client);
    }

    private static async Task<JsonElement> SearchAsync(HttpClient client) =>
        await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "fruit", mode = "lexical", top_k = 3 })).DataAsync();

    private static string[] Ids(JsonElement data) => data.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()!).ToArray();

    [Fact]
    public async Task The_reranker_reorders_the_fused_candidates_and_says_so()
    {
        await using var server = await FakeRerankServer.StartAsync();
        var (app, client) = await StartAsync(server);
        using var _ = app;
        var data = await SearchAsync(client);
        Assert.Equal("applied", data.GetProperty("rerank").GetString());
        var ids = Ids(data);
        Assert.Equal(3, ids.Length);
        Assert.Equal("d4", ids[0]); // lexically last of five; the reranker's favourite
        Assert.Equal(0.3, data.GetProperty("results")[0].GetProperty("rerank_score").GetDouble(), 6);
        var (query, documents, topN, model, auth) = Assert.Single(server.Requests);
        Assert.Equal(("fruit", 5, 5, "rerank-test", "Bearer rk-secret"), (query, documents, topN, model, auth)); // every candidate (RERANK_TOP_N 10 ≥ 5 hits)
    }

    [Theory]
    [InlineData(FakeRerankServer.Mode.Slow)]
    [InlineData(FakeRerankServer.Mode.ServerError)]
    [InlineData(FakeRerankServer.Mode.Garbage)]
    [InlineData(FakeRerankServer.Mode.BadIndex)]
    public async Task A_failing_reranker_leaves_the_fused_order_and_the_search_succeeds(FakeRerankServer.Mode mode)
    {
        await using var server = await FakeRerankServer.StartAsync();
        var (app, client) = await StartAsync(server);
        using var _ = app;
        server.Behavior = mode;
        var data = await SearchAsync(client);
        Assert.Equal("fallback", data.GetProperty("rerank").GetString());
        var ids = Ids(data);
        Assert.Equal(3, ids.Length);
        Assert.DoesNotContain("d4", ids); // the fused (BM25) top 3
        Assert.Equal(JsonValueKind.Null, data.GetProperty("results")[0].GetProperty("rerank_score").ValueKind);
        Assert.Single(server.Requests);

        server.Behavior = FakeRerankServer.Mode.Normal; // and it recovers on the next search
        Assert.Equal("d4", Ids(await SearchAsync(client))[0]);
    }

    [Fact]
    public void An_http_reranker_without_a_base_url_refuses_to_start()
    {
        var config = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["RERANK_PROVIDER"] = "http" }).Build();
        var services = new ServiceCollection().AddLogging();
        NexusRag.Embeddings.RerankingServiceCollectionExtensions.AddNexusRagReranking(services, config);
        using var provider = services.BuildServiceProvider();
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<NexusRag.Core.Search.RerankOptions>>().Value);
        Assert.Contains("RERANK_BASE_URL", string.Join("; ", ex.Failures));
    }
}
