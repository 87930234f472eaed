using System.Diagnostics;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Bootstrap;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public class StartupTests
{
    /// <summary>The real server binary, started in <paramref name="dir"/> with its data there and these settings.</summary>
    private static Process StartServer(string dir, IEnumerable<KeyValuePair<string, string?>> env)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "NexusRag.Server.dll");
        var psi = new ProcessStartInfo("dotnet", [dll, "--urls", "http://127.0.0.1:0"])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir, UseShellExecute = false,
        };
        psi.Environment["NEXUSRAG_DATA_DIR"] = dir;
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return Process.Start(psi)!;
    }

    /// <summary>Starts the real server binary as a process and returns its exit code and output.</summary>
    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunServerAsync(Dictionary<string, string> env, int timeoutMs = 30000)
    {
        using var tmp = new TempDir("nexusrag-startup");
        using var p = StartServer(tmp.Path, env!);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeoutMs);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException("server did not exit: " + await stdout);
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    private const string GoodSecret = "a-production-cursor-secret-of-sufficient-length-0123456789";

    public static TheoryData<string, string, string, string> UnsafeProd => new()
    {
        { "AUTH_ENABLED", "false", "UI_CURSOR_SECRET", GoodSecret },
        { "AUTH_DEV_BYPASS", "true", "UI_CURSOR_SECRET", GoodSecret },
        { "AUTH_ENABLED", "true", "UI_CURSOR_SECRET", "" },
        { "AUTH_ENABLED", "true", "UI_CURSOR_SECRET", "dev-only-cursor-secret-change-me" },
        { "AUTH_ENABLED", "true", "UI_CURSOR_SECRET", "short" },
        { "AUTH_ENABLED", "perhaps", "UI_CURSOR_SECRET", GoodSecret },
    };

    [Theory]
    [MemberData(nameof(UnsafeProd))]
    public async Task Prod_refuses_unsafe_settings_with_one_line_and_no_stack_trace(string k1, string v1, string k2, string v2)
    {
        var env = new Dictionary<string, string> { ["NEXUSRAG_ENV"] = "prod", [k1] = v1 };
        if (v2.Length > 0) env[k2] = v2;
        var (code, stdout, stderr) = await RunServerAsync(env);
        Assert.NotEqual(0, code);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("nexusrag: refusing to start:", lines[0], StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", stderr + stdout); // no stack frames
        Assert.DoesNotContain("Exception", stderr + stdout, StringComparison.Ordinal);
    }

    /// <summary>Every value that cannot work, named in one line by the real binary (exit 2, no stack trace).</summary>
    public static TheoryData<string, string, string> BadSettings => new()
    {
        { "EMBEDDINGS_PROVIDER", "bogus", "EMBEDDINGS_PROVIDER" },
        { "EMBEDDINGS_PROVIDER", "onnx", "EMBEDDINGS_MODEL_PATH" },
        { "EMBEDDINGS_PROVIDER", "openai", "EMBEDDINGS_BASE_URL" },
        { "EMBEDDINGS_BATCH_SIZE", "0", "EMBEDDINGS_BATCH_SIZE" },
        { "EMBEDDINGS_DIMENSIONS", "many", "EMBEDDINGS_DIMENSIONS" },
        { "LLM_PROVIDER", "nope", "LLM_PROVIDER" },
        { "LLM_PROVIDER", "openai", "OPENAI_BASE_URL" },
        { "LLM_TIMEOUT_MS", "5", "LLM_TIMEOUT_MS" },
        { "DATABASE_URL", "mysql://user:pw@db.example:3306/rag", "DATABASE_URL" },
        { "DATABASE_URL", "postgresql://user@:notaport/db", "DATABASE_URL" },
        { "INGEST_MAX_CONCURRENCY", "abc", "INGEST_MAX_CONCURRENCY" },
        { "INGEST_MAX_CONCURRENCY", "1000", "INGEST_MAX_CONCURRENCY" },
        { "REDIS_URL", "http://x", "REDIS_URL" },
        { "IDEMPOTENCY_ENABLED", "maybe", "IDEMPOTENCY_ENABLED" },
        { "RATE_LIMIT_ENABLED", "sometimes", "RATE_LIMIT_ENABLED" },
        { "RL_FAIL_MODE", "sideways", "RL_FAIL_MODE" },
        { "DEFAULT_PLAN", "platinum", "DEFAULT_PLAN" },
        { "MAX_REQUEST_BODY_BYTES", "12", "MAX_REQUEST_BODY_BYTES" },
        { "RUN_SSE_HEARTBEAT_S", "fast", "RUN_SSE_HEARTBEAT_S" },
        { "RUN_HISTORY_TURNS", "-1", "RUN_HISTORY_TURNS" },
        { "NexusRag__Ingestion__LeaseMs", "abc", "NexusRag:Ingestion:LeaseMs" },
        { "NexusRag__Outbox__LeaseMs", "0", "NexusRag:Outbox:LeaseMs" },
        { "NEXUSRAG_ROLE", "janitor", "role" },
        { "RUN_MAX_CONCURRENCY", "0", "RUN_MAX_CONCURRENCY" },
        { "INGEST_API_MAX_CONCURRENCY", "lots", "INGEST_API_MAX_CONCURRENCY" },
        { "SHUTDOWN_GRACE_S", "-1", "SHUTDOWN_GRACE_S" },
        { "WORKER_HEARTBEAT_STALE_S", "1", "WORKER_HEARTBEAT_STALE_S" },
        { "OTEL_TRACES_SAMPLER_ARG", "1.5", "OTEL_TRACES_SAMPLER_ARG" },
        { "OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector", "OTEL_EXPORTER_OTLP_ENDPOINT" },
        { "LOG_FORMAT", "xml", "LOG_FORMAT" },
        { "METRICS_ENABLED", "maybe", "METRICS_ENABLED" },
        { "METRICS_TOKEN", "short", "METRICS_TOKEN" },
        { "SLO_AVAILABILITY_TARGET", "100", "SLO_AVAILABILITY_TARGET" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_is_refused_by_the_real_binary_in_one_line_naming_it(string name, string value, string named)
    {
        var (code, stdout, stderr) = await RunServerAsync(new() { [name] = value });
        Assert.True(code == 2, $"exit {code}; stderr: {stderr}; stdout: {stdout}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, stderr);
        Assert.Contains(named, lines[0], StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s+at \S+\(", stderr + stdout);
        Assert.DoesNotContain("Exception", stderr + stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_environment_profile_is_refused()
    {
        var (code, _, stderr) = await RunServerAsync(new() { ["NEXUSRAG_ENV"] = "staging" });
        Assert.Equal(2, code);
        Assert.Contains("NEXUSRAG_ENV", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prod_with_safe_settings_passes_validation()
    {
        // Validation is in-process here so the test does not need to keep a server running.
        using var app = new NexusAppFactory(new() { ["NEXUSRAG_ENV"] = "prod", ["UI_CURSOR_SECRET"] = GoodSecret, ["AUTH_ENABLED"] = "true" });
        var client = app.CreateClient();
        var health = await (await client.GetAsync("/v1/health")).DataAsync();
        Assert.Equal("prod", health.GetProperty("environment").GetString());
        // The API reference UI is not served in prod; the OpenAPI document is.
        await (await client.GetAsync("/docs")).AssertErrorAsync(404, "NOT_FOUND");
        Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
    }

    [Fact]
    public async Task The_real_binary_prints_both_bootstrap_keys_once_and_stores_them()
    {
        using var tmp = new TempDir("nexusrag-boot-bin");
        using var p = StartServer(tmp.Path, TestStore.SettingsFor(tmp.Path).Append(new("NexusRag__Ingestion__WorkerConcurrency", "0")));
        _ = p.StandardError.ReadToEndAsync();
        var printed = new System.Text.StringBuilder();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            while (await p.StandardOutput.ReadLineAsync(cts.Token) is { } line)
            {
                printed.AppendLine(line);
                if (line.Contains("export OPERATOR_API_KEY=", StringComparison.Ordinal)) break;
            }
        }
        finally
        {
            p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync(CancellationToken.None);
        }
        var text = printed.ToString();
        var admin = System.Text.RegularExpressions.Regex.Match(text, "export API_KEY=(nrgk_\\S+)").Groups[1].Value;
        var op = System.Text.RegularExpressions.Regex.Match(text, "export OPERATOR_API_KEY=(nrgk_\\S+)").Groups[1].Value;
        Assert.StartsWith("nrgk_", admin, StringComparison.Ordinal);
        Assert.StartsWith("nrgk_", op, StringComparison.Ordinal);
        Assert.NotEqual(admin, op);
        Assert.Equal(admin, (await File.ReadAllTextAsync(Path.Combine(tmp.Path, "bootstrap-admin-key"))).Trim());
        Assert.Equal(op, (await File.ReadAllTextAsync(Path.Combine(tmp.Path, "bootstrap-operator-key"))).Trim());
        Assert.Contains("plan enterprise", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Local_first_start_bootstraps_once()
    {
        using var tmp = new TempDir("nexusrag-boot");
        var dir = tmp.Path;
        string key;
        using (var first = new NexusAppFactory(new() { ["NexusRag:Bootstrap"] = "true" }, dataDir: dir))
        {
            var client = first.CreateClient();
            var keyFile = Path.Combine(dir, "bootstrap-admin-key");
            Assert.True(File.Exists(keyFile));
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
            key = (await File.ReadAllTextAsync(keyFile)).Trim();
            Assert.StartsWith("nrgk_", key, StringComparison.Ordinal);

            var admin = first.ClientWithKey(key);
            var corpora = await (await admin.GetAsync("/v1/corpora")).DataAsync();
            Assert.Equal(DemoData.CorpusId, corpora[0].GetProperty("id").GetString());
            foreach (var d in DemoData.Documents) await admin.WaitForDocumentAsync(d.Id);
            var docs = await (await admin.GetAsync("/v1/documents?corpus_id=c1")).DataAsync();
            Assert.Equal(3, docs.GetProperty("items").GetArrayLength());
            Assert.Equal(DemoData.ExpectedChunks, docs.GetProperty("items").EnumerateArray().Sum(d => d.GetProperty("num_chunks").GetInt32()));
            // The admin key can do admin things, and t1 is on enterprise: audit and ops work out of the box.
            await (await admin.PostAsJsonAsync("/v1/corpora", new { id = "mine" })).DataAsync(201);
            await (await admin.GetAsync("/v1/audit/events")).DataAsync();
            await (await admin.GetAsync("/v1/ops/audit/verify")).DataAsync();

            var operatorFile = Path.Combine(dir, "bootstrap-operator-key");
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(operatorFile));
            var op = first.ClientWithKey((await File.ReadAllTextAsync(operatorFile)).Trim());
            Assert.Equal("enterprise", (await (await op.GetAsync("/v1/admin/plans/t1")).DataAsync()).GetProperty("plan_id").GetString());
            await (await op.GetAsync("/v1/corpora")).AssertErrorAsync(403, "FORBIDDEN"); // the operator is not a tenant principal
        }

        var keyFileStamp = File.GetLastWriteTimeUtc(Path.Combine(dir, "bootstrap-admin-key"));
        using (var second = new NexusAppFactory(new() { ["NexusRag:Bootstrap"] = "true" }, dataDir: dir))
        {
            _ = second.CreateClient();
            await using var db = await second.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            Assert.Equal(1, await db.ApiKeys.CountAsync(k => k.TenantId == DemoData.TenantId));
            Assert.Equal(1, await db.ApiKeys.CountAsync(k => k.TenantId == Core.Auth.Principal.PlatformTenant));
            Assert.Equal(3, await db.Documents.CountAsync(d => d.TenantId == DemoData.TenantId && d.CorpusId == DemoData.CorpusId));
            Assert.Equal(keyFileStamp, File.GetLastWriteTimeUtc(Path.Combine(dir, "bootstrap-admin-key")));
            await (await second.ClientWithKey(key).GetAsync("/v1/corpora/c1")).DataAsync();
        }
    }
}

public sealed class HttpBasicsTests : IDisposable
{
    private readonly NexusAppFactory _app = new();
    public void Dispose() => _app.Dispose();

    [Fact]
    public async Task Request_ids_are_generated_or_honoured_and_match_meta()
    {
        var client = _app.CreateClient();
        var generated = await client.GetAsync("/v1/health");
        var id = generated.Headers.GetValues("X-Request-Id").Single();
        Assert.False(string.IsNullOrWhiteSpace(id));
        Assert.Equal(id, (await generated.JsonAsync()).GetProperty("meta").GetProperty("request_id").GetString());

        var mine = new HttpRequestMessage(HttpMethod.Get, "/v1/health");
        mine.Headers.Add("X-Request-Id", "client-req-42");
        var honoured = await client.SendAsync(mine);
        Assert.Equal("client-req-42", honoured.Headers.GetValues("X-Request-Id").Single());
        Assert.Equal("client-req-42", (await honoured.JsonAsync()).GetProperty("meta").GetProperty("request_id").GetString());

        var hostile = new HttpRequestMessage(HttpMethod.Get, "/v1/corpora");
        hostile.Headers.TryAddWithoutValidation("X-Request-Id", "<script>" + new string('x', 300));
        var replaced = await client.SendAsync(hostile);
        var replacedId = replaced.Headers.GetValues("X-Request-Id").Single();
        Assert.DoesNotContain("<script>", replacedId, StringComparison.Ordinal);
        await replaced.AssertErrorAsync(401, "AUTH_UNAUTHORIZED");
    }

    [Fact]
    public async Task Health_endpoints_have_their_shapes()
    {
        var client = _app.CreateClient();
        var v1 = await (await client.GetAsync("/v1/health")).DataAsync();
        Assert.Equal("ok", v1.GetProperty("status").GetString());
        Assert.Equal("ok", v1.GetProperty("checks").GetProperty("database").GetString());
        Assert.False(string.IsNullOrEmpty(v1.GetProperty("version").GetString()));

        var probe = await (await client.GetAsync("/health")).JsonAsync();
        Assert.Equal("ok", probe.GetProperty("status").GetString());
        Assert.True(probe.GetProperty("uptime_ms").GetInt64() >= 0);
        Assert.True(probe.GetProperty("timestamp").GetDateTime() > DateTime.UtcNow.AddMinutes(-1));
        Assert.Equal("ok", probe.GetProperty("checks").GetProperty("database").GetString());
    }

    [Fact]
    public async Task OpenApi_describes_the_endpoints_and_docs_ui_is_served_locally()
    {
        var client = _app.CreateClient();
        var spec = await (await client.GetAsync("/openapi/v1.json")).JsonAsync();
        var paths = spec.GetProperty("paths");
        foreach (var p in new[] { "/v1/corpora", "/v1/corpora/{id}", "/v1/documents", "/v1/documents/text", "/v1/documents/{id}", "/v1/documents/{id}/reindex", "/v1/health" })
            Assert.True(paths.TryGetProperty(p, out _), $"missing {p}");
        var docs = await client.GetAsync("/docs/");
        Assert.Equal(System.Net.HttpStatusCode.OK, docs.StatusCode);
        Assert.Contains("text/html", docs.Content.Headers.ContentType!.MediaType, StringComparison.Ordinal);
    }
}
