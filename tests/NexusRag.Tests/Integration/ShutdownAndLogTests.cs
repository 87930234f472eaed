using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;

namespace NexusRag.Tests.Integration;

/// <summary>The real binary as a process: JSON log lines, SIGTERM during an answer stream and during a job.</summary>
public sealed class ShutdownAndLogTests : IDisposable
{
    private readonly TempDir _dir = new("nexusrag-shutdown");
    private readonly List<ServerProcess> _servers = [];

    public void Dispose()
    {
        foreach (var s in _servers) s.Dispose();
        _dir.Dispose();
    }

    private ServerProcess Start(Dictionary<string, string>? env = null, string role = "all")
    {
        var s = ServerProcess.Start(_dir.Path, env, role);
        _servers.Add(s);
        return s;
    }

    private async Task<string> AdminKeyAsync(string tenant)
    {
        var (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(_dir.Path), "keys", "create", "--tenant", tenant, "--role", "admin", "--name", "shutdown");
        Assert.Equal(0, code);
        return output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Json_log_lines_carry_the_seed_fields_and_never_a_key_or_document_or_message_text()
    {
        var key = await AdminKeyAsync("logs");
        var server = Start(new() { ["LOG_FORMAT"] = "json", ["Logging__LogLevel__Default"] = "Information", ["OTEL_SERVICE_NAME"] = "nexusrag-logtest" });
        var client = await server.ClientAsync(key);
        const string marker = "Zanzibarquokka";
        (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
        await client.IngestTextAsync("docs", $"The {marker} lives on a secret island.", "island");
        await client.WaitForDocumentAsync("island");
        (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = $"where does the {marker} live" })).EnsureSuccessStatusCode();
        var (resp, frames) = await SseClient.RunAsync(client, new { session_id = "log-s", corpus_id = "docs", message = $"Tell me about the {marker}" });
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.Contains(frames, f => f.Event == "message.final");
        await (await client.GetAsync($"/v1/documents/{marker}-missing")).AssertErrorAsync(404);

        var lines = await Eventually.ReadAsync(() => Task.FromResult(server.Lines.ToList()),
            l => l.Any(x => x.Contains("\"GET /v1/documents/{id} 404", StringComparison.Ordinal)));
        var parsed = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        Assert.NotEmpty(parsed);
        Assert.All(lines.Where(l => l.Trim().Length > 0), l => Assert.StartsWith("{", l)); // every line is a JSON object

        var access = parsed.Where(p => p.GetProperty("category").GetString() == "NexusRag.Access").ToList();
        Assert.True(access.Count >= 5, $"{access.Count} access lines");
        var search = access.Single(a => a.GetProperty("message").GetString()!.StartsWith("POST /v1/search/ 200", StringComparison.Ordinal));
        foreach (var field in new[] { "timestamp", "level", "message", "trace_id", "span_id", "request_id", "tenant_id", "service", "release" })
            Assert.True(search.TryGetProperty(field, out var v) && v.GetString() is { Length: > 0 }, $"access line lacks {field}: {search}");
        Assert.Equal("info", search.GetProperty("level").GetString());
        Assert.Equal("logs", search.GetProperty("tenant_id").GetString());
        Assert.Equal("nexusrag-logtest", search.GetProperty("service").GetString());
        Assert.Matches("^[0-9a-f]{32}$", search.GetProperty("trace_id").GetString()!);
        Assert.Matches(@"ms$", search.GetProperty("message").GetString()!);

        var all = string.Join("\n", lines);
        Assert.DoesNotContain(marker, all, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(key, all, StringComparison.Ordinal);
        Assert.DoesNotContain(key[..12], all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_lets_an_open_stream_finish_its_grace_then_ends_it_with_an_error_event_and_done()
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        llm.ChatPieces = Enumerable.Range(0, 60).Select(i => $" piece{i}").ToArray();
        llm.PieceDelayMs = 500; // 30 s of answer
        var key = await AdminKeyAsync("sigterm");
        var server = Start(new()
        {
            ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test", ["SHUTDOWN_GRACE_S"] = "2",
        });
        var client = await server.ClientAsync(key);
        (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();

        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/run") { Content = JsonContent.Create(new { session_id = "st", corpus_id = "docs", message = "a long answer" }) };
        using var resp = await client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync());
        var frames = new List<SseFrame>();
        async Task<SseFrame?> NextAsync()
        {
            var block = new List<string>();
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.Length == 0) { if (block.Count > 0) return SseClient.ParseFrame(string.Join('\n', block)); continue; }
                block.Add(line);
            }
            return null;
        }
        while (await NextAsync() is { } f) { frames.Add(f); if (f.Event == "token.delta") break; }
        Assert.Equal("token.delta", frames[^1].Event);

        var terminatedAt = DateTime.UtcNow;
        server.Terminate();
        while (await NextAsync() is { } f) frames.Add(f);
        var streamEndedAfter = DateTime.UtcNow - terminatedAt;

        // The stream ran on through the grace (more tokens), then said why it ended, then done.
        Assert.True(frames.Count(f => f.Event == "token.delta") >= 2, string.Join(",", frames.Select(f => f.Event)));
        Assert.Equal("error", frames[^2].Event);
        Assert.Equal("SERVICE_SHUTTING_DOWN", frames[^2].Data.GetProperty("data").GetProperty("code").GetString());
        Assert.Equal("done", frames[^1].Event);
        Assert.DoesNotContain(frames, f => f.Event == "message.final");
        Assert.True(streamEndedAfter > TimeSpan.FromSeconds(1.5), $"ended after {streamEndedAfter}");
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(30)), "server did not exit after SIGTERM");
        Assert.Equal(0, server.ExitCode);
    }

    [Fact]
    public async Task Sigterm_during_a_job_hands_the_job_back_so_another_worker_takes_it_at_once()
    {
        await using var embeddings = await FakeOpenAiServer.StartAsync();
        embeddings.Behavior = FakeOpenAiServer.Mode.Slow;
        embeddings.SlowMs = 120_000;
        var key = await AdminKeyAsync("sigjob");
        var env = new Dictionary<string, string>
        {
            ["EMBEDDINGS_PROVIDER"] = "openai", ["EMBEDDINGS_BASE_URL"] = embeddings.BaseUrl, ["EMBEDDINGS_MODEL"] = "m1", ["EMBEDDINGS_DIMENSIONS"] = "16",
            ["EMBEDDINGS_TIMEOUT_MS"] = "300000", ["EMBEDDINGS_MAX_RETRIES"] = "0",
            ["NexusRag__Ingestion__LeaseMs"] = "120000", // lease expiry alone would hold the job for two minutes
        };
        var first = Start(env);
        var client = await first.ClientAsync(key);
        (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
        await client.IngestTextAsync("docs", "Handed back on shutdown, finished by the next worker.", "handoff");
        await Eventually.ReadAsync(() => Task.FromResult(embeddings.Requests.Count), n => n > 0, timeoutSeconds: 30);
        Assert.NotEmpty(embeddings.Requests); // the job is in flight on the first worker (its embedding call hangs)

        // A second worker is already polling; the provider answers normally from now on (the first call keeps hanging).
        embeddings.Behavior = FakeOpenAiServer.Mode.Normal;
        var second = Start(env, role: "worker");
        await second.ClientAsync();
        await Task.Delay(500);
        Assert.Equal("processing", (await (await client.GetAsync("/v1/documents/handoff")).DataAsync()).GetProperty("status").GetString());

        first.Terminate();
        Assert.True(await first.WaitForExitAsync(TimeSpan.FromSeconds(30)), "first server did not exit");
        // The first worker handed the job back, so the second one finishes it long before the 120 s lease could expire.
        var reader = await Start(env, role: "api").ClientAsync(key);
        var doc = await reader.WaitForDocumentAsync("handoff", timeoutMs: 20_000);
        Assert.Equal("succeeded", doc.GetProperty("status").GetString());
        Assert.Contains(first.Lines, l => l.Contains("released on shutdown", StringComparison.Ordinal));
    }

    /// <summary>A request body that sends its first bytes, then waits until released (an upload in flight).</summary>
    private sealed class HeldContent(byte[] head, byte[] tail, TaskCompletionSource release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(head);
            await stream.FlushAsync();
            await release.Task;
            await stream.WriteAsync(tail);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = head.Length + tail.Length;
            return true;
        }
    }

    [Fact]
    public async Task The_ingest_bulkhead_answers_SERVICE_BUSY_while_its_slots_are_held()
    {
        var key = await AdminKeyAsync("ingest-busy");
        var server = Start(new() { ["INGEST_API_MAX_CONCURRENCY"] = "1" });
        var client = await server.ClientAsync(key);
        (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
        var json = System.Text.Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { corpus_id = "docs", document_id = "held", text = "A slow upload holds the slot." }));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<HttpResponseMessage>? held = null;
        for (var attempt = 0; attempt < 20 && held is null; attempt++)
        {
            var content = new HeldContent(json[..10], json[10..], release);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            var sent = client.PostAsync("/v1/documents/text", content);
            await Task.WhenAny(sent, Task.Delay(500));
            if (!sent.IsCompleted) held = sent; // in flight, holding the slot
        }
        Assert.NotNull(held);

        var busy = await client.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = "other", text = "Refused while the slot is held." });
        await busy.AssertErrorAsync(503, "SERVICE_BUSY");
        Assert.Equal("ingest", (await busy.JsonAsync()).GetProperty("error").GetProperty("details").GetProperty("bulkhead").GetString());
        Assert.True(busy.Headers.Contains("Retry-After"));
        Assert.False(held.IsCompleted);

        release.SetResult();
        await (await held).DataAsync(202);
        await client.IngestTextAsync("docs", "Accepted once the slot is free.", "other");
        await client.WaitForDocumentAsync("held");
    }
}
