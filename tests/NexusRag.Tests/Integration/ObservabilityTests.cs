using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>Prometheus exposition, OTLP traces received by a local OTLP/HTTP receiver, and the trace headers.</summary>
public sealed class ObservabilityTests
{
    private static async Task<string> ScrapeAsync(HttpClient client, string? token = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, "/v1/metrics");
        if (token is not null) req.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var resp = await client.SendAsync(req);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        return await resp.Content.ReadAsStringAsync();
    }

    /// <summary>The value of the sample line that starts with <paramref name="series"/> (name and labels as written), or 0.</summary>
    private static double Sample(string exposition, string name, params string[] labels)
    {
        foreach (var line in exposition.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal) && !line.StartsWith(name + " ", StringComparison.Ordinal)) continue;
            if (labels.All(l => line.Contains(l, StringComparison.Ordinal)))
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return 0;
    }

    [Fact]
    public async Task Counters_and_histograms_move_with_traffic_and_carry_no_tenant_or_document_ids()
    {
        // The real binary in its own process: in this test process several servers would share the meter names.
        using var dir = new TempDir("nexusrag-metrics");
        var (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(dir.Path), "keys", "create", "--tenant", "metrics-tenant-7f3a", "--role", "admin", "--name", "m");
        Assert.Equal(0, code);
        var key = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        using var server = ServerProcess.Start(dir.Path);
        var admin = await server.ClientAsync(key);
        (await admin.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
        var anon = await server.ClientAsync();
        var before = await ScrapeAsync(anon);
        var searchesBefore = Sample(before, "nexusrag_search_duration_seconds_count", "mode=\"lexical\"");
        var readsBefore = Sample(before, "nexusrag_http_requests_total", "route_class=\"read\"", "status_class=\"2xx\"");

        await admin.IngestTextAsync("docs", "Quasars are the luminous nuclei of distant galaxies.", "doc-metrics-19c2");
        await admin.WaitForDocumentAsync("doc-metrics-19c2");
        for (var i = 0; i < 3; i++)
            (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "quasar nuclei", mode = "lexical" })).EnsureSuccessStatusCode();
        await (await admin.GetAsync("/v1/documents/nope-404")).AssertErrorAsync(404);

        var after = await Eventually.ReadAsync(() => ScrapeAsync(anon),
            m => Sample(m, "nexusrag_search_duration_seconds_count", "mode=\"lexical\"") >= searchesBefore + 3);
        Assert.Equal(searchesBefore + 3, Sample(after, "nexusrag_search_duration_seconds_count", "mode=\"lexical\""));
        Assert.True(Sample(after, "nexusrag_http_requests_total", "route_class=\"read\"", "status_class=\"2xx\"") >= readsBefore + 3);
        Assert.True(Sample(after, "nexusrag_http_requests_total", "route_class=\"read\"", "status_class=\"4xx\"") >= 1);
        // RED per route template and status class, ingestion steps and chunks, jobs, index size.
        Assert.True(Sample(after, "http_server_request_duration_seconds_count", "http_route=\"/v1/documents/{id}\"", "status_class=\"4xx\"") >= 1);
        foreach (var step in new[] { "extract", "chunk", "embed", "write" })
            Assert.True(Sample(after, "nexusrag_ingestion_step_duration_seconds_count", $"step=\"{step}\"") >= 1, step);
        Assert.True(Sample(after, "nexusrag_ingestion_chunks_total") >= 1);
        Assert.True(Sample(after, "nexusrag_jobs_finished_total", "kind=\"ingest\"", "outcome=\"succeeded\"") >= 1);
        Assert.Contains("dotnet_gc_collections_total", after);
        var indexed = await Eventually.ReadAsync(() => ScrapeAsync(anon), m => Sample(m, "nexusrag_search_index_chunks") >= 1);
        Assert.Equal(1, Sample(indexed, "nexusrag_search_index_corpora", "size_bucket=\"lt_1k\""));
        Assert.Equal(0, Sample(indexed, "nexusrag_search_index_corpora", "size_bucket=\"1k_10k\""));

        // Cardinality: ids never become label values.
        Assert.DoesNotContain("metrics-tenant-7f3a", after);
        Assert.DoesNotContain("doc-metrics-19c2", after);
        Assert.DoesNotContain("nope-404", after);
    }

    [PromtoolFact]
    public async Task Promtool_accepts_the_exposition()
    {
        // With a remote LLM, so the HTTP resilience pipeline (and whatever it measures) is part of the exposition too.
        await using var llm = await FakeOpenAiServer.StartAsync();
        using var app = new NexusAppFactory(new() { ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test" });
        var admin = await app.AdminForTenantAsync("promtool");
        await admin.IngestTextAsync("docs", "Promtool lints the exposition format.", "p1");
        await admin.WaitForDocumentAsync("p1");
        (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "promtool" })).EnsureSuccessStatusCode();
        Assert.Equal("done", (await NexusRag.Tests.Run.SseClient.RunAsync(admin, new { session_id = "pt", corpus_id = "docs", message = "promtool?" })).Frames[^1].Event);
        var text = await ScrapeAsync(app.CreateClient());

        var psi = new ProcessStartInfo("promtool", ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        await p.StandardInput.WriteAsync(text);
        p.StandardInput.Close();
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"promtool check metrics failed ({p.ExitCode}): {output}");
    }

    [Fact]
    public async Task The_scrape_endpoint_honours_METRICS_TOKEN_and_METRICS_ENABLED()
    {
        const string token = "scrape-token-0123456789abcdef";
        using (var app = new NexusAppFactory(new() { ["METRICS_TOKEN"] = token }))
        {
            var anon = app.CreateClient();
            await (await anon.GetAsync("/v1/metrics")).AssertErrorAsync(401, "AUTH_UNAUTHORIZED");
            Assert.Contains("nexusrag_", await ScrapeAsync(anon, token));
        }
        using (var app = new NexusAppFactory(new() { ["METRICS_ENABLED"] = "false" }))
            await (await app.CreateClient().GetAsync("/v1/metrics")).AssertErrorAsync(404);
    }

    /// <summary>A local OTLP/HTTP receiver: keeps each protobuf export request's spans (trace id, span id, name).</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        public string Endpoint { get; }
        public ConcurrentQueue<(string TraceId, string SpanId, string Name)> Spans { get; } = new();

        private OtlpReceiver(WebApplication app, string endpoint) => (_app, Endpoint) = (app, endpoint);

        public static async Task<OtlpReceiver> StartAsync()
        {
            OtlpReceiver? self = null;
            var (app, address) = await LoopbackServer.StartAsync(a =>
            {
                a.MapPost("/v1/traces", async (HttpContext ctx) =>
                {
                    using var ms = new MemoryStream();
                    await ctx.Request.Body.CopyToAsync(ms);
                    foreach (var span in Protobuf.Spans(ms.ToArray())) self!.Spans.Enqueue(span);
                    ctx.Response.ContentType = "application/x-protobuf";
                });
                a.MapPost("/v1/metrics", (HttpContext ctx) => { ctx.Response.ContentType = "application/x-protobuf"; });
            });
            self = new OtlpReceiver(app, address);
            return self;
        }

        public ValueTask DisposeAsync() => _app.DisposeAsync();
    }

    /// <summary>Just enough of the protobuf wire format to read OTLP's ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span.</summary>
    private static class Protobuf
    {
        public static IEnumerable<(string, string, string)> Spans(byte[] request)
        {
            foreach (var resourceSpans in Fields(request, 1))
            foreach (var scopeSpans in Fields(resourceSpans, 2))
            foreach (var span in Fields(scopeSpans, 2))
            {
                var traceId = Convert.ToHexStringLower(Fields(span, 1).FirstOrDefault() ?? []);
                var spanId = Convert.ToHexStringLower(Fields(span, 2).FirstOrDefault() ?? []);
                var name = Encoding.UTF8.GetString(Fields(span, 5).FirstOrDefault() ?? []);
                yield return (traceId, spanId, name);
            }
        }

        /// <summary>The length-delimited fields numbered <paramref name="number"/> of a message.</summary>
        private static List<byte[]> Fields(byte[] message, int number)
        {
            var found = new List<byte[]>();
            var i = 0;
            while (i < message.Length)
            {
                var key = Varint(message, ref i);
                var (field, wire) = ((int)(key >> 3), (int)(key & 7));
                switch (wire)
                {
                    case 0: Varint(message, ref i); break;
                    case 1: i += 8; break;
                    case 5: i += 4; break;
                    case 2:
                        var len = (int)Varint(message, ref i);
                        if (field == number) found.Add(message[i..(i + len)]);
                        i += len;
                        break;
                    default: throw new InvalidDataException($"wire type {wire}");
                }
            }
            return found;
        }

        private static ulong Varint(byte[] b, ref int i)
        {
            ulong v = 0;
            for (var shift = 0; ; shift += 7)
            {
                var x = b[i++];
                v |= (ulong)(x & 0x7f) << shift;
                if ((x & 0x80) == 0) return v;
            }
        }
    }

    private static Dictionary<string, string?> Otlp(OtlpReceiver receiver, double ratio) => new()
    {
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Endpoint,
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        ["OTEL_TRACES_SAMPLER_ARG"] = ratio.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public async Task A_W3C_traceparent_is_honoured_and_its_trace_reaches_the_OTLP_receiver_with_the_search_legs()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        using var app = new NexusAppFactory(Otlp(receiver, 0)); // nothing sampled by ratio: only the caller's decision counts
        var admin = await app.AdminForTenantAsync("traces");
        await admin.IngestTextAsync("docs", "Pulsars are rotating neutron stars.", "t1");
        await admin.WaitForDocumentAsync("t1");

        var traceId = Convert.ToHexStringLower(NewTraceId());
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/search") { Content = JsonContent.Create(new { corpus_id = "docs", query = "neutron stars" }) };
        req.Headers.Add("traceparent", $"00-{traceId}-00f067aa0ba902b7-01");
        var resp = await admin.SendAsync(req);
        resp.EnsureSuccessStatusCode();
        Assert.Equal(traceId, resp.Headers.GetValues("X-Trace-Id").Single());

        var spans = await Eventually.ReadAsync(() => Task.FromResult(receiver.Spans.Where(s => s.TraceId == traceId).ToList()),
            s => s.Any(x => x.Name == "search.vector") && s.Any(x => x.Name.StartsWith("POST", StringComparison.Ordinal)), timeoutSeconds: 20);
        var names = spans.Select(s => s.Name).ToList();
        Assert.Contains("search", names);
        Assert.Contains("search.lexical", names);
        Assert.Contains("search.vector", names);
        Assert.Contains("search.fusion", names);
        Assert.Contains(names, n => n.StartsWith("embeddings", StringComparison.Ordinal)); // Microsoft.Extensions.AI's span of the query embedding
        Assert.Contains(names, n => n.StartsWith("POST", StringComparison.Ordinal)); // the HTTP server span
    }

    private static byte[] NewTraceId() => System.Security.Cryptography.RandomNumberGenerator.GetBytes(16);

    [Fact]
    public async Task At_ratio_zero_a_plain_request_is_not_exported_but_an_error_is()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        // Its own process: in this one, another test server's sampler (same ActivitySource names) could record the request.
        using var dir = new TempDir("nexusrag-ratio0");
        var (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(dir.Path), "keys", "create", "--tenant", "errors", "--role", "admin", "--name", "e");
        Assert.True(code == 0, output);
        var key = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        using var server = ServerProcess.Start(dir.Path, Otlp(receiver, 0).ToDictionary(kv => kv.Key, kv => kv.Value!));
        var admin = await server.ClientAsync(key);
        (await admin.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
        var ok = await admin.GetAsync("/v1/corpora/docs");
        ok.EnsureSuccessStatusCode();
        var okTrace = ok.Headers.GetValues("X-Trace-Id").Single();

        // A 5xx: the tenant paused runs (503 FEATURE_DISABLED).
        await (await admin.PatchAsJsonAsync("/v1/self-serve/killswitches", new { kill_switches = new Dictionary<string, bool> { ["kill.run"] = true } })).DataAsync();
        var failed = await admin.PostAsJsonAsync("/v1/run", new { session_id = "s1", corpus_id = "docs", message = "hello" });
        await failed.AssertErrorAsync(503, "FEATURE_DISABLED");
        var errorTrace = failed.Headers.GetValues("X-Trace-Id").Single();
        Assert.NotEqual(okTrace, errorTrace);

        var spans = await Eventually.ReadAsync(() => Task.FromResult(receiver.Spans.ToList()), s => s.Any(x => x.TraceId == errorTrace), timeoutSeconds: 20);
        Assert.Contains(spans, s => s.TraceId == errorTrace);
        Assert.DoesNotContain(spans, s => s.TraceId == okTrace);
    }
}

/// <summary>A fact that needs <c>promtool</c> (Debian prometheus); reported as skipped, with the reason, where it is not installed.</summary>
public sealed class PromtoolFactAttribute : FactAttribute
{
    public static readonly bool Installed = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, "promtool")));

    public PromtoolFactAttribute()
    {
        if (!Installed) Skip = "promtool is not installed (Debian prometheus; scripts/test.sh installs it when run as root)";
    }
}
