using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Role = NexusRag.Core.Auth.Role;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Clients;

/// <summary>
/// The MCP server at /v1/mcp driven by the official C# SDK client over Streamable HTTP through the real pipeline:
/// tools and their schemas, results equal to the HTTP API's, tool errors with the HTTP API's codes, tenant isolation,
/// document ACLs, progress notifications, rate limits, quotas and audit.
/// </summary>
public sealed class McpServerTests
{
    internal const string Gates = "Agent 2.0 release gates: every change needs green integration tests. The security review must sign off before launch.";
    internal const string Lunch = "The cafeteria serves lunch from noon. Vegetarian options are available every day.";

    internal static async Task<HttpClient> SeedAsync(NexusAppFactory app, string tenant, string corpus = "docs")
    {
        var admin = await app.AdminForTenantAsync(tenant, corpus);
        await admin.IngestTextAsync(corpus, Gates, $"{tenant}-gates");
        await admin.IngestTextAsync(corpus, Lunch, $"{tenant}-lunch");
        await admin.WaitForDocumentAsync($"{tenant}-gates");
        await admin.WaitForDocumentAsync($"{tenant}-lunch");
        return admin;
    }

    /// <summary>An ABAC policy that hides documents labelled sensitivity=high from readers.</summary>
    internal static readonly object DenyHighSensitivity = new
    {
        name = "deny-high", effect = "deny", resource_type = "document", action = "read", priority = 200,
        condition_json = new { eq = new object[] { new { var = "resource.labels.sensitivity" }, "high" } },
    };

    internal static async Task<McpClient> ConnectAsync(NexusAppFactory app, string key)
    {
        var http = app.ClientWithKey(key);
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1/mcp"), TransportMode = HttpTransportMode.StreamableHttp, Name = "nexusrag-tests",
        }, http, ownsHttpClient: true);
        return await McpClient.CreateAsync(transport);
    }

    private static JsonElement Structured(CallToolResult r) => r.StructuredContent ?? throw new Xunit.Sdk.XunitException("no structured content");

    private static string ErrorCode(CallToolResult r)
    {
        Assert.True(r.IsError, $"expected a tool error, got {JsonSerializer.Serialize(r.StructuredContent)}");
        var code = Structured(r).GetProperty("error").GetProperty("code").GetString()!;
        Assert.StartsWith(code + ": ", Assert.IsType<TextContentBlock>(r.Content.Single()).Text);
        return code;
    }

    [Fact]
    public async Task Tools_have_exact_schemas_and_answer_what_the_http_api_answers()
    {
        using var app = new NexusAppFactory();
        var admin = await SeedAsync(app, "t1");
        await using var mcp = await ConnectAsync(app, await app.CreateKeyAsync("t1", Role.Reader));
        Assert.Equal("nexusrag", mcp.ServerInfo?.Name);

        var tools = (await mcp.ListToolsAsync()).ToDictionary(t => t.Name);
        Assert.Equal(["ask", "get_document", "list_corpora", "search"], tools.Keys.Order());
        var search = tools["search"].JsonSchema;
        Assert.Equal(["corpus_id", "query"], search.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.False(search.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal(["hybrid", "lexical", "vector"], search.GetProperty("properties").GetProperty("mode").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(app.Service<Microsoft.Extensions.Options.IOptions<Core.Search.SearchOptions>>().Value.MaxTopK,
            search.GetProperty("properties").GetProperty("top_k").GetProperty("maximum").GetInt32());
        Assert.Equal(["corpus_id", "question"], tools["ask"].JsonSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["document_id"], tools["get_document"].JsonSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.True(tools["search"].ProtocolTool.Annotations?.ReadOnlyHint);

        var corpora = await mcp.CallToolAsync("list_corpora", new Dictionary<string, object?>());
        Assert.NotEqual(true, corpora.IsError);
        Assert.Equal(["docs"], Structured(corpora).GetProperty("corpora").EnumerateArray().Select(c => c.GetProperty("id").GetString()));

        // search: the same hits, in the same order, as POST /v1/search.
        var viaMcp = await mcp.CallToolAsync("search", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["query"] = "release gates security review", ["top_k"] = 2, ["mode"] = "hybrid" });
        Assert.NotEqual(true, viaMcp.IsError);
        var viaHttp = await (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "release gates security review", top_k = 2 })).DataAsync();
        var mcpHits = Structured(viaMcp).GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(viaHttp.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("chunk_id").GetString()), mcpHits.Select(r => r.GetProperty("chunk_id").GetString()));
        Assert.Equal("document://t1-gates", mcpHits[0].GetProperty("source").GetString());
        Assert.Equal(Gates, mcpHits[0].GetProperty("text").GetString());
        Assert.True(mcpHits[0].GetProperty("score").GetDouble() > 0);
        Assert.Contains("[1] document://t1-gates", Assert.IsType<TextContentBlock>(viaMcp.Content.Single()).Text);

        // get_document: metadata and chunks, or the original's text.
        var chunks = await mcp.CallToolAsync("get_document", new Dictionary<string, object?> { ["document_id"] = "t1-lunch" });
        Assert.Equal("succeeded", Structured(chunks).GetProperty("document").GetProperty("status").GetString());
        Assert.Equal(Lunch, string.Concat(Structured(chunks).GetProperty("chunks").EnumerateArray().Select(c => c.GetProperty("text").GetString())));
        var text = await mcp.CallToolAsync("get_document", new Dictionary<string, object?> { ["document_id"] = "t1-lunch", ["content"] = "text" });
        Assert.Equal(Lunch, Structured(text).GetProperty("text").GetString());
        Assert.False(Structured(text).GetProperty("truncated").GetBoolean());

        // Resources: corpora listed, a corpus and a document read.
        var resources = await mcp.ListResourcesAsync();
        Assert.Equal(["nexusrag://corpora/docs"], resources.Select(r => r.Uri));
        var doc = await mcp.ReadResourceAsync("nexusrag://documents/t1-gates");
        Assert.Equal(Gates, Assert.IsType<TextResourceContents>(doc.Contents.Single()).Text);
    }

    [Fact]
    public async Task Ask_answers_with_numbered_citations_reports_progress_and_is_audited()
    {
        using var app = new NexusAppFactory();
        var admin = await SeedAsync(app, "t1");
        await app.SetPlanAsync("t1", "enterprise"); // the audit API needs the audit feature
        await using var mcp = await ConnectAsync(app, await app.CreateKeyAsync("t1", Role.Reader));

        var result = await mcp.CallToolAsync("ask", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["question"] = "What are the release gates for Agent 2.0?" });
        Assert.NotEqual(true, result.IsError);
        var s = Structured(result);
        var answer = s.GetProperty("answer").GetString()!;
        Assert.Contains("release gates", answer);
        Assert.Contains("[1]", answer);
        var citations = s.GetProperty("citations").EnumerateArray().ToList();
        Assert.Equal("document://t1-gates", citations[0].GetProperty("source").GetString());
        Assert.Equal(1, citations[0].GetProperty("metadata").GetProperty("n").GetInt32());
        Assert.True(s.GetProperty("usage").GetProperty("total_tokens").GetInt32() > 0);
        var shown = Assert.IsType<TextContentBlock>(result.Content.Single()).Text;
        Assert.Contains("Sources:\n[1] document://t1-gates", shown);

        // Progress on the wire: notifications/progress for the call's token, in increasing order, before the result on the
        // same stream (read raw: the C# client hands notifications to IProgress asynchronously, so a count taken when the
        // call returns would race).
        var reader = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader, "raw"));
        using var call = new HttpRequestMessage(HttpMethod.Post, "/v1/mcp")
        {
            Content = JsonContent.Create(new
            {
                jsonrpc = "2.0", id = 7, method = "tools/call",
                @params = new { name = "ask", _meta = new { progressToken = "tok-1" }, arguments = new { corpus_id = "docs", question = "What are the release gates for Agent 2.0?" } },
            }),
        };
        call.Headers.Accept.ParseAdd("application/json");
        call.Headers.Accept.ParseAdd("text/event-stream");
        call.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        var wire = await (await reader.SendAsync(call)).Content.ReadAsStringAsync();
        var messages = wire.Split('\n').Where(l => l.StartsWith("data: ", StringComparison.Ordinal)).Select(l => JsonDocument.Parse(l[6..]).RootElement.Clone()).ToList();
        var progress = messages.Where(m => m.TryGetProperty("method", out var mm) && mm.GetString() == "notifications/progress").Select(m => m.GetProperty("params")).ToList();
        Assert.True(progress.Count >= 3, wire);
        Assert.All(progress, p => Assert.Equal("tok-1", p.GetProperty("progressToken").GetString()));
        Assert.Equal(Enumerable.Range(1, progress.Count).Select(i => (double)i), progress.Select(p => p.GetProperty("progress").GetDouble()));
        Assert.Equal("done", progress[^1].GetProperty("message").GetString());
        Assert.Equal(7, messages[^1].GetProperty("id").GetInt32()); // the result comes last
        Assert.Equal(answer, messages[^1].GetProperty("result").GetProperty("structuredContent").GetProperty("answer").GetString());

        // The same answer /v1/run gives (the extractive generator is deterministic), and the MCP call kept no session.
        var (_, frames) = await Run.SseClient.RunAsync(admin, new { session_id = "s-compare", corpus_id = "docs", message = "What are the release gates for Agent 2.0?" });
        Assert.Equal(frames.Single(f => f.Event == "message.final").Payload.GetProperty("text").GetString(), answer);

        var audit = await (await admin.GetAsync("/v1/audit/events?limit=200")).DataAsync();
        var events = audit.GetProperty("items").EnumerateArray().ToList();
        var invoked = events.Where(e => e.GetProperty("event_type").GetString() == "mcp.tool.invoked").ToList();
        Assert.Contains(invoked, e => e.GetProperty("resource_id").GetString() == "ask" && e.GetProperty("outcome").GetString() == "success");
        Assert.Contains(events, e => e.GetProperty("event_type").GetString() == "run.invoked" && e.GetProperty("metadata").GetProperty("surface").GetString() == "mcp");
    }

    [Fact]
    public async Task Bad_arguments_are_tool_errors_with_the_http_codes_never_transport_failures()
    {
        using var app = new NexusAppFactory();
        await SeedAsync(app, "t1");
        await using var mcp = await ConnectAsync(app, await app.CreateKeyAsync("t1", Role.Reader));

        async Task<string> Code(string tool, Dictionary<string, object?> args) => ErrorCode(await mcp.CallToolAsync(tool, args));
        Assert.Equal("VALIDATION_ERROR", await Code("search", new() { ["corpus_id"] = "docs" }));                                     // query missing
        Assert.Equal("VALIDATION_ERROR", await Code("search", new() { ["corpus_id"] = "docs", ["query"] = "x", ["top_k"] = 0 }));     // out of range
        Assert.Equal("VALIDATION_ERROR", await Code("search", new() { ["corpus_id"] = "docs", ["query"] = "x", ["top_k"] = "ten" })); // wrong type
        Assert.Equal("VALIDATION_ERROR", await Code("search", new() { ["corpus_id"] = "docs", ["query"] = "x", ["mode"] = "fuzzy" }));
        Assert.Equal("UNKNOWN_FIELD", await Code("search", new() { ["corpus_id"] = "docs", ["query"] = "x", ["corpus"] = "docs" }));
        Assert.Equal("UNKNOWN_FIELD", await Code("list_corpora", new() { ["limit"] = 3 }));
        Assert.Equal("TENANT_ID_NOT_ALLOWED", await Code("search", new() { ["corpus_id"] = "docs", ["query"] = "x", ["tenant_id"] = "t2" }));
        Assert.Equal("NOT_FOUND", await Code("search", new() { ["corpus_id"] = "nope", ["query"] = "x" }));
        Assert.Equal("VALIDATION_ERROR", await Code("ask", new() { ["corpus_id"] = "docs", ["question"] = "   " }));
        Assert.Equal("NOT_FOUND", await Code("ask", new() { ["corpus_id"] = "nope", ["question"] = "Why?" }));
        Assert.Equal("VALIDATION_ERROR", await Code("get_document", new() { ["document_id"] = "t1-gates", ["content"] = "pdf" }));
        Assert.Equal("VALIDATION_ERROR", await Code("get_document", new() { ["document_id"] = "t1-gates", ["max_chunks"] = 5000 }));
        Assert.Equal("NOT_FOUND", await Code("get_document", new() { ["document_id"] = "missing" }));
        var err = Structured(await mcp.CallToolAsync("search", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["query"] = "x", ["top_k"] = 0 })).GetProperty("error");
        Assert.Equal(422, err.GetProperty("status").GetInt32());
        Assert.True(err.GetProperty("details").GetProperty("fields").TryGetProperty("top_k", out _));

        // An unknown tool is a protocol error (the spec's rule), and the session still works afterwards.
        await Assert.ThrowsAsync<McpProtocolException>(() => mcp.CallToolAsync("delete_everything", new Dictionary<string, object?>()).AsTask());
        Assert.NotEqual(true, (await mcp.CallToolAsync("list_corpora", new Dictionary<string, object?>())).IsError);
    }

    [Fact]
    public async Task Another_tenant_sees_nothing_and_a_missing_or_bad_key_is_refused()
    {
        using var app = new NexusAppFactory();
        await SeedAsync(app, "t1");
        await SeedAsync(app, "t2", "other");
        await using var mcp = await ConnectAsync(app, await app.CreateKeyAsync("t2", Role.Admin));

        var corpora = Structured(await mcp.CallToolAsync("list_corpora", new Dictionary<string, object?>()));
        Assert.Equal(["other"], corpora.GetProperty("corpora").EnumerateArray().Select(c => c.GetProperty("id").GetString()));
        Assert.Equal("NOT_FOUND", ErrorCode(await mcp.CallToolAsync("search", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["query"] = "release gates" })));
        Assert.Equal("NOT_FOUND", ErrorCode(await mcp.CallToolAsync("ask", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["question"] = "What are the release gates?" })));
        Assert.Equal("NOT_FOUND", ErrorCode(await mcp.CallToolAsync("get_document", new Dictionary<string, object?> { ["document_id"] = "t1-gates" })));
        await Assert.ThrowsAsync<McpProtocolException>(() => mcp.ReadResourceAsync("nexusrag://documents/t1-gates").AsTask());
        await Assert.ThrowsAsync<McpProtocolException>(() => mcp.ReadResourceAsync("nexusrag://corpora/docs").AsTask());
        Assert.Equal(["nexusrag://corpora/other"], (await mcp.ListResourcesAsync()).Select(r => r.Uri));

        // Without a key, or with a revoked one, the transport answers 401 in the API's envelope.
        var anon = app.CreateClient();
        var init = new { jsonrpc = "2.0", id = 1, method = "initialize", @params = new { protocolVersion = "2025-11-25", capabilities = new { }, clientInfo = new { name = "x", version = "1" } } };
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/mcp") { Content = JsonContent.Create(init) };
        req.Headers.Accept.ParseAdd("application/json");
        req.Headers.Accept.ParseAdd("text/event-stream");
        await (await anon.SendAsync(req)).AssertErrorAsync(401, "AUTH_UNAUTHORIZED");
        await Assert.ThrowsAnyAsync<Exception>(() => ConnectAsync(app, "nrgk_bogus_key"));
    }

    [Fact]
    public async Task Document_acls_hold_inside_every_tool()
    {
        using var app = new NexusAppFactory();
        var admin = await SeedAsync(app, "t1");
        await (await admin.PostAsJsonAsync("/v1/documents/text", new
        {
            corpus_id = "docs", document_id = "secret", text = "The release gates secret codename is Bluebird; the security review knows it.", labels = new { sensitivity = "high" },
        })).DataAsync(202);
        await admin.WaitForDocumentAsync("secret");
        await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", DenyHighSensitivity)).DataAsync(201);
        await using var mcp = await ConnectAsync(app, await app.CreateKeyAsync("t1", Role.Reader));

        var hits = Structured(await mcp.CallToolAsync("search", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["query"] = "release gates secret codename Bluebird", ["top_k"] = 10 }));
        var docs = hits.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("document_id").GetString()).ToList();
        Assert.Contains("t1-gates", docs);
        Assert.DoesNotContain("secret", docs);
        var ask = Structured(await mcp.CallToolAsync("ask", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["question"] = "What is the secret codename?" }));
        Assert.DoesNotContain("Bluebird", ask.GetProperty("answer").GetString());
        Assert.DoesNotContain(ask.GetProperty("citations").EnumerateArray(), c => c.GetProperty("metadata").GetProperty("document_id").GetString() == "secret");
        Assert.Equal("NOT_FOUND", ErrorCode(await mcp.CallToolAsync("get_document", new Dictionary<string, object?> { ["document_id"] = "secret" })));
    }

    [Fact]
    public async Task Ask_passes_the_run_rate_limit_and_costs_what_a_run_costs()
    {
        using var app = new NexusAppFactory(new Dictionary<string, string?>
        {
            ["RATE_LIMIT_ENABLED"] = "true",
            ["NexusRag:RateLimit:Run:Key:Rps"] = "0.001", ["NexusRag:RateLimit:Run:Key:Burst"] = "1",
        });
        await SeedAsync(app, "t1");
        await using var mcp = await ConnectAsync(app, await app.CreateKeyAsync("t1", Role.Reader));
        var args = new Dictionary<string, object?> { ["corpus_id"] = "docs", ["question"] = "What are the release gates?" };
        Assert.NotEqual(true, (await mcp.CallToolAsync("ask", args)).IsError);
        Assert.Equal("RATE_LIMITED", ErrorCode(await mcp.CallToolAsync("ask", args)));
        // Searches are read-class: the exhausted run bucket does not touch them.
        Assert.NotEqual(true, (await mcp.CallToolAsync("search", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["query"] = "lunch" })).IsError);

    }

    [Fact]
    public async Task Ask_costs_the_three_quota_units_of_a_run_and_is_refused_over_the_cap()
    {
        using var app = new NexusAppFactory();
        await SeedAsync(app, "t1");
        var op = await app.OperatorAsync();
        await (await op.PatchAsJsonAsync("/v1/admin/quotas/t1", new { daily_requests_limit = 1000, hard_cap_enabled = true })).DataAsync();
        await using var mcp = await ConnectAsync(app, await app.CreateKeyAsync("t1", Role.Reader));
        async Task<long> UsedAsync() => (await (await op.GetAsync("/v1/admin/usage/t1?period=day")).DataAsync()).GetProperty("used").GetInt64();

        var before = await UsedAsync();
        Assert.NotEqual(true, (await mcp.CallToolAsync("search", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["query"] = "lunch" })).IsError);
        var afterSearch = await UsedAsync();
        Assert.NotEqual(true, (await mcp.CallToolAsync("ask", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["question"] = "When is lunch?" })).IsError);
        var afterAsk = await UsedAsync();
        Assert.Equal(1, afterSearch - before);
        Assert.Equal(3, afterAsk - afterSearch);

        // Room for one more request but not for a run's two extra units: the ask is refused as a tool error.
        await (await op.PatchAsJsonAsync("/v1/admin/quotas/t1", new { daily_requests_limit = afterAsk + 1, hard_cap_enabled = true })).DataAsync();
        var refused = await mcp.CallToolAsync("ask", new Dictionary<string, object?> { ["corpus_id"] = "docs", ["question"] = "When is lunch?" });
        Assert.Equal("QUOTA_EXCEEDED", ErrorCode(refused));
    }
}
