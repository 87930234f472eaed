using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;
using NexusRag.Embeddings;
using NexusRag.Generation;

namespace NexusRag.Tests.Integration;

/// <summary>Seed "Ops Endpoints", "SLO &amp; Error Budget" and "Reliability Controls" through the real pipeline.</summary>
public sealed class OpsTests
{
    [Fact]
    public async Task Ops_health_is_200_and_degrades_when_the_worker_stops_heartbeating()
    {
        using var app = new NexusAppFactory(new() { ["WORKER_HEARTBEAT_STALE_S"] = "2" });
        var op = await app.OperatorAsync();
        var fresh = await Eventually.ReadAsync(async () => await (await op.GetAsync("/v1/ops/health")).DataAsync(),
            h => h.GetProperty("status").GetString() == "ok");
        Assert.Equal("ok", fresh.GetProperty("status").GetString());
        Assert.False(fresh.GetProperty("degraded").GetProperty("worker").GetBoolean());
        Assert.InRange(fresh.GetProperty("worker_heartbeat_age_s").GetDouble(), 0, 2);
        Assert.Equal(0, fresh.GetProperty("queue_depth").GetInt64());
        Assert.Equal(1, fresh.GetProperty("workers").GetArrayLength());

        // Stop the job worker (its heartbeat stops with it): past the stale age, health is degraded, still 200.
        var worker = app.Services.GetServices<IHostedService>().OfType<NexusRag.Server.Workers.JobWorker>().Single();
        await worker.StopAsync(CancellationToken.None);
        var stale = await Eventually.ReadAsync(async () => await (await op.GetAsync("/v1/ops/health")).DataAsync(),
            h => h.GetProperty("status").GetString() == "degraded");
        Assert.Equal("degraded", stale.GetProperty("status").GetString());
        Assert.True(stale.GetProperty("degraded").GetProperty("worker").GetBoolean(), stale.ToString());
        Assert.False(stale.GetProperty("degraded").GetProperty("database").GetBoolean(), stale.ToString());
        Assert.True(stale.GetProperty("worker_heartbeat_age_s").GetDouble() >= 2, stale.ToString());
    }

    [Fact]
    public async Task Ops_health_degrades_when_redis_goes_away()
    {
        var port = ServerProcess.FreePort();
        using var redis = Process.Start(new ProcessStartInfo("redis-server", ["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        try
        {
            using var app = new NexusAppFactory(new() { ["REDIS_URL"] = $"redis://127.0.0.1:{port}/0" });
            var op = await app.OperatorAsync();
            var up = await Eventually.ReadAsync(async () => await (await op.GetAsync("/v1/ops/health")).DataAsync(),
                h => h.GetProperty("checks").GetProperty("redis").GetProperty("status").GetString() == "ok");
            Assert.False(up.GetProperty("degraded").GetProperty("redis").GetBoolean());

            redis.Kill();
            await redis.WaitForExitAsync();
            var resp = await op.GetAsync("/v1/ops/health");
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            var down = await resp.DataAsync();
            Assert.Equal("degraded", down.GetProperty("status").GetString());
            Assert.True(down.GetProperty("degraded").GetProperty("redis").GetBoolean());
            Assert.False(down.GetProperty("degraded").GetProperty("database").GetBoolean());
        }
        finally
        {
            if (!redis.HasExited) redis.Kill();
        }
    }

    [Fact]
    public async Task Ops_endpoints_need_an_admin_with_the_feature_and_a_tenant_admin_sees_only_its_tenant()
    {
        using var app = new NexusAppFactory();
        var a = await app.AdminForTenantAsync("ops-a");
        var b = await app.AdminForTenantAsync("ops-b");
        var reader = app.ClientWithKey(await app.CreateKeyAsync("ops-a", Role.Reader));

        // Free plan: no ops access; a reader never.
        await (await a.GetAsync("/v1/ops/health")).AssertErrorAsync(403, "FEATURE_NOT_ENABLED");
        await app.SetPlanAsync("ops-a", "pro");
        await app.SetPlanAsync("ops-b", "pro");
        await (await reader.GetAsync("/v1/ops/health")).AssertErrorAsync(403);
        await (await app.CreateClient().GetAsync("/v1/ops/slo")).AssertErrorAsync(401);

        // Tenant A's work is A's: B's view of ingestion does not count it; A cannot ask for B.
        await a.IngestTextAsync("docs", "Ops stats count this document.", "o1");
        await a.WaitForDocumentAsync("o1");
        (await a.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = "" })).StatusCode.ToString(); // a 422, not counted as a job
        var statsA = await (await a.GetAsync("/v1/ops/ingestion?hours=1")).DataAsync();
        Assert.Equal("ops-a", statsA.GetProperty("scope").GetString());
        Assert.Equal(1, statsA.GetProperty("by_state").GetProperty("succeeded").GetInt64());
        Assert.True(statsA.GetProperty("duration_ms").GetProperty("p95").GetDouble() > 0);
        var statsB = await (await b.GetAsync("/v1/ops/ingestion?hours=1")).DataAsync();
        Assert.Equal(0, statsB.GetProperty("total").GetInt64());
        await (await a.GetAsync("/v1/ops/ingestion?tenant_id=ops-b")).AssertErrorAsync(404);
        await (await a.GetAsync("/v1/ops/ingestion?hours=0")).AssertErrorAsync(422);
        var health = await (await a.GetAsync("/v1/ops/health")).DataAsync();
        Assert.Equal(JsonValueKind.Null, health.GetProperty("workers").ValueKind); // worker hosts are the operator's to see
        Assert.Equal("ops-a", health.GetProperty("scope").GetString());

        // The operator sees the platform, or one tenant.
        var op = await app.OperatorAsync();
        var platform = await (await op.GetAsync("/v1/ops/ingestion?hours=1")).DataAsync();
        Assert.Equal("platform", platform.GetProperty("scope").GetString());
        Assert.True(platform.GetProperty("by_state").GetProperty("succeeded").GetInt64() >= 1);
        var justB = await (await op.GetAsync("/v1/ops/ingestion?hours=1&tenant_id=ops-b")).DataAsync();
        Assert.Equal(0, justB.GetProperty("total").GetInt64());

        // SLO and the JSON metrics come from the same request measurements; B's traffic is not in A's numbers.
        long Reads(JsonElement m) => m.GetProperty("requests_5m").TryGetProperty("read", out var r) ? r.GetProperty("requests").GetInt64() : 0;
        var readsA = Reads(await (await a.GetAsync("/v1/ops/metrics")).DataAsync());
        for (var i = 0; i < 5; i++) (await b.GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();
        var sloB = await (await b.GetAsync("/v1/ops/slo")).DataAsync();
        Assert.Equal("1h", sloB.GetProperty("window").GetString());
        Assert.Equal(100, sloB.GetProperty("availability").GetDouble());
        Assert.True(sloB.GetProperty("p95").GetProperty("read").GetDouble() > 0);
        Assert.True(sloB.GetProperty("p95").GetProperty("api").GetDouble() > 0);
        Assert.Equal(100, sloB.GetProperty("error_budget").GetProperty("remaining_pct").GetDouble());
        Assert.Equal(0, sloB.GetProperty("error_budget").GetProperty("burn_rate_5m").GetDouble());
        Assert.Equal("healthy", sloB.GetProperty("status").GetString());
        var metricsA = await (await a.GetAsync("/v1/ops/metrics")).DataAsync();
        var metricsB = await (await b.GetAsync("/v1/ops/metrics")).DataAsync();
        Assert.True(Reads(metricsB) >= 5);
        Assert.Equal(readsA, Reads(metricsA)); // B's reads are not in A's numbers
        Assert.Equal(JsonValueKind.Null, metricsA.GetProperty("process").ValueKind);
        var metricsOp = await (await op.GetAsync("/v1/ops/metrics")).DataAsync();
        Assert.True(metricsOp.GetProperty("process").GetProperty("working_set_bytes").GetInt64() > 0);
        Assert.Equal(100, metricsOp.GetProperty("bulkheads").GetProperty("run").GetProperty("limit").GetInt32());
    }

    [Fact]
    public async Task The_run_bulkhead_answers_SERVICE_BUSY_at_once_and_frees_its_slot_when_the_stream_ends()
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        llm.Behavior = FakeOpenAiServer.Mode.StallMidStream;
        llm.SlowMs = 30_000;
        using var app = new NexusAppFactory(new()
        {
            ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test", ["RUN_MAX_CONCURRENCY"] = "1",
        });
        var client = await app.AdminForTenantAsync("busy");
        using var first = new HttpRequestMessage(HttpMethod.Post, "/v1/run") { Content = JsonContent.Create(new { session_id = "s1", corpus_id = "docs", message = "hold the slot" }) };
        using var cts = new CancellationTokenSource();
        var open = await client.SendAsync(first, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, open.StatusCode);

        var sw = Stopwatch.StartNew();
        var second = await client.PostAsJsonAsync("/v1/run", new { session_id = "s2", corpus_id = "docs", message = "no slot" });
        await second.AssertErrorAsync(503, "SERVICE_BUSY");
        Assert.Equal("1", second.Headers.GetValues("Retry-After").Single());
        Assert.Equal("run", (await second.JsonAsync()).GetProperty("error").GetProperty("details").GetProperty("bulkhead").GetString());
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), "refused at once, not after queueing");
        // Other routes are not held by the run bulkhead.
        (await client.GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();

        // The first stream ends (the client leaves): the slot is free again.
        await cts.CancelAsync();
        open.Dispose();
        llm.Behavior = FakeOpenAiServer.Mode.Normal;
        var third = await Eventually.ReadAsync(async () =>
            await client.PostAsJsonAsync("/v1/run", new { session_id = "s3", corpus_id = "docs", message = "slot free" }), r => r.StatusCode == HttpStatusCode.OK);
        Assert.Equal(HttpStatusCode.OK, third.StatusCode);
    }

    [Fact]
    public async Task A_breaker_that_opens_on_one_replica_is_held_open_on_the_others_through_redis()
    {
        var redis = Environment.GetEnvironmentVariable("NEXUSRAG_TEST_REDIS")
                    ?? throw new InvalidOperationException("NEXUSRAG_TEST_REDIS is not set: run scripts/test.sh, which starts a throwaway redis-server");
        await using var llm = await FakeOpenAiServer.StartAsync();
        var settings = new Dictionary<string, string?>
        {
            ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test", ["LLM_MAX_RETRIES"] = "0",
            ["REDIS_URL"] = $"redis://{redis}/7", // a database (and so a breaker channel) of this test's own
        };
        using var replicaA = new NexusAppFactory(settings);
        using var replicaB = new NexusAppFactory(settings);
        var a = await replicaA.AdminForTenantAsync("breaker");
        var b = await replicaB.AdminForTenantAsync("breaker");
        var opB = await replicaB.OperatorAsync();
        Assert.Equal("done", (await SseClient.RunAsync(b, new { session_id = "b0", corpus_id = "docs", message = "warm" })).Frames[^1].Event);
        var before = await (await opB.GetAsync("/v1/ops/health")).DataAsync();
        Assert.Equal("closed", before.GetProperty("circuit_breakers").GetProperty("llm").GetString());

        // The provider fails on every call: replica A's breaker opens after its minimum throughput of failures.
        llm.Behavior = FakeOpenAiServer.Mode.ServerError;
        for (var i = 0; i < 12; i++)
        {
            var (_, frames) = await SseClient.RunAsync(a, new { session_id = $"a{i}", corpus_id = "docs", message = "fail" });
            Assert.Contains(frames, f => f.Event == "error");
        }
        var opA = await replicaA.OperatorAsync();
        Assert.Equal("open", (await (await opA.GetAsync("/v1/ops/health")).DataAsync()).GetProperty("circuit_breakers").GetProperty("llm").GetString());

        // Replica B heard it and holds its own breaker open: degraded, and no call of B reaches the provider.
        var held = await Eventually.ReadAsync(async () => await (await opB.GetAsync("/v1/ops/health")).DataAsync(),
            h => h.GetProperty("circuit_breakers").GetProperty("llm").GetString() != "closed");
        Assert.Equal("isolated", held.GetProperty("circuit_breakers").GetProperty("llm").GetString());
        Assert.True(held.GetProperty("degraded").GetProperty("circuit_breakers").GetBoolean());
        var calls = llm.ChatRequests.Count;
        var (_, bFrames) = await SseClient.RunAsync(b, new { session_id = "b1", corpus_id = "docs", message = "spared" });
        Assert.Contains(bFrames, f => f.Event == "error");
        Assert.Equal(calls, llm.ChatRequests.Count);
    }

    [Fact]
    public void EXT_call_settings_are_every_integrations_default_and_the_specific_names_win()
    {
        var config = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["EXT_CALL_TIMEOUT_MS"] = "1234", ["EXT_RETRY_MAX_ATTEMPTS"] = "1", ["LLM_TIMEOUT_MS"] = "5000",
        }).Build();
        using var sp = new ServiceCollection().AddLogging()
            .AddNexusRagEmbeddings(config).AddNexusRagGeneration(config).AddNexusRagReranking(config).BuildServiceProvider();
        var embeddings = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<NexusRag.Core.Embeddings.EmbeddingOptions>>().Value;
        Assert.Equal((1234, 1), (embeddings.TimeoutMs, embeddings.MaxRetries));
        var llm = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<NexusRag.Core.Chat.LlmOptions>>().Value;
        Assert.Equal((5000, 1), (llm.TimeoutMs, llm.MaxRetries));
        Assert.Equal(1234, sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<NexusRag.Core.Search.RerankOptions>>().Value.TimeoutMs);
    }
}
