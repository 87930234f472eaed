using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Core.Services;

namespace NexusRag.Tests.Infrastructure;

/// <summary>
/// The real server (Program) on a real SQLite file in a fresh temporary folder, driven through the real
/// HTTP pipeline. Bootstrap is off unless a test asks for it; worker timings are short so tests are quick.
/// </summary>
public sealed class NexusAppFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;
    private readonly Action<IServiceCollection>? _services;
    private readonly TempDir? _ownedDir;

    public string DataDir { get; }

    public NexusAppFactory(Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null, string? dataDir = null)
    {
        if (dataDir is null) _ownedDir = new TempDir("nexusrag-test");
        DataDir = dataDir ?? _ownedDir!.Path;
        _services = services;
        _settings = new Dictionary<string, string?>(TestStore.SettingsFor(DataDir))
        {
            ["NexusRag:Bootstrap"] = "false",
            ["RATE_LIMIT_ENABLED"] = "false", // rate-limit tests turn it on; the rest would trip the seed's bursts
            ["NexusRag:Ingestion:PollIntervalMs"] = "50",
            ["NexusRag:Ingestion:RetryBackoffBaseMs"] = "20",
            ["NexusRag:Ingestion:WorkerConcurrency"] = "2",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in settings ?? []) _settings[k] = v;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (k, v) in _settings) builder.UseSetting(k, v);
        if (_services is not null) builder.ConfigureTestServices(_services);
    }

    public T Service<T>() where T : notnull => Services.GetRequiredService<T>();

    public async Task<string> CreateKeyAsync(string tenant, Role role, string name = "test")
    {
        var created = await Service<ApiKeyService>().CreateAsync(tenant, role, name, null, "test", CancellationToken.None);
        return created.Plaintext;
    }

    private string? _operatorKey;

    /// <summary>A platform-operator key (minted the way the CLI does; no HTTP endpoint can).</summary>
    public async Task<string> CreateOperatorKeyAsync(string name = "test-operator")
    {
        var created = await Service<ApiKeyService>().CreateOperatorAsync(name, null, "test", CancellationToken.None);
        return created.Plaintext;
    }

    /// <summary>A client holding this server's platform-operator key.</summary>
    public async Task<HttpClient> OperatorAsync() => ClientWithKey(_operatorKey ??= await CreateOperatorKeyAsync());

    public HttpClient ClientWithKey(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>A tenant with an admin client and a corpus.</summary>
    public async Task<HttpClient> AdminForTenantAsync(string tenant, string? corpus = "docs")
    {
        var client = ClientWithKey(await CreateKeyAsync(tenant, Role.Admin));
        if (corpus is not null)
        {
            var resp = await client.PostAsJsonAsync("/v1/corpora", new { id = corpus, name = corpus });
            if (resp.StatusCode != System.Net.HttpStatusCode.Created)
                throw new InvalidOperationException($"corpus create failed: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
        }
        return client;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            // A shared folder outlives this server (restart tests); release its pooled SQLite handles either way,
            // and on PostgreSQL this database's idle pooled connections.
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (_settings.GetValueOrDefault("DATABASE_URL") is { Length: > 0 } pg && pg.Contains("Host=", StringComparison.Ordinal))
            {
                using var conn = new Npgsql.NpgsqlConnection(pg);
                Npgsql.NpgsqlConnection.ClearPool(conn);
            }
            _ownedDir?.Dispose();
        }
    }
}

/// <summary>A fresh folder under the system temp dir, deleted (after closing pooled SQLite handles) on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; }

    public TempDir(string prefix)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Waits out eventual consistency (caches, replicas, background workers) without asserting on timing.</summary>
public static class Eventually
{
    /// <summary>Reads until <paramref name="done"/> holds or <paramref name="timeoutSeconds"/> pass; returns the last value read.</summary>
    public static async Task<T> ReadAsync<T>(Func<Task<T>> read, Func<T, bool> done, int timeoutSeconds = 15, int pollMs = 50)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (true)
        {
            var value = await read();
            if (done(value) || DateTime.UtcNow > deadline) return value;
            await Task.Delay(pollMs);
        }
    }
}

public static class Http
{
    public static async Task<JsonElement> JsonAsync(this HttpResponseMessage resp)
    {
        var text = await resp.Content.ReadAsStringAsync();
        try
        {
            return JsonDocument.Parse(text).RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new Xunit.Sdk.XunitException($"Response {(int)resp.StatusCode} is not JSON: {text[..Math.Min(text.Length, 500)]}");
        }
    }

    /// <summary>Asserts the error envelope and returns the error code.</summary>
    public static async Task<string> AssertErrorAsync(this HttpResponseMessage resp, int status, string? code = null)
    {
        var body = await resp.Content.ReadAsStringAsync();
        Assert.True((int)resp.StatusCode == status, $"expected {status}, got {(int)resp.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        var error = root.GetProperty("error");
        var actual = error.GetProperty("code").GetString()!;
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.True(error.TryGetProperty("details", out _));
        var meta = root.GetProperty("meta");
        Assert.Equal("v1", meta.GetProperty("api_version").GetString());
        Assert.Equal(resp.Headers.GetValues("X-Request-Id").Single(), meta.GetProperty("request_id").GetString());
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        if (code is not null) Assert.Equal(code, actual);
        return actual;
    }

    public static async Task<JsonElement> DataAsync(this HttpResponseMessage resp, int status = 200)
    {
        var body = await resp.Content.ReadAsStringAsync();
        Assert.True((int)resp.StatusCode == status, $"expected {status}, got {(int)resp.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(resp.Headers.GetValues("X-Request-Id").Single(), doc.RootElement.GetProperty("meta").GetProperty("request_id").GetString());
        return doc.RootElement.GetProperty("data").Clone();
    }

    public static async Task<JsonElement> IngestTextAsync(this HttpClient client, string corpus, string text, string? documentId = null, bool overwrite = false, object? extra = null)
    {
        var body = new Dictionary<string, object?> { ["corpus_id"] = corpus, ["text"] = text, ["overwrite"] = overwrite };
        if (documentId is not null) body["document_id"] = documentId;
        var resp = await client.PostAsJsonAsync("/v1/documents/text", body);
        return await resp.DataAsync(202);
    }

    /// <summary>The operator puts a tenant on a plan (the seed's default is free: no audit, ops, TTS or provider-config patches).</summary>
    public static async Task SetPlanAsync(this NexusAppFactory app, string tenant, string plan)
    {
        var resp = await (await app.OperatorAsync()).PatchAsJsonAsync($"/v1/admin/plans/{tenant}", new { plan_id = plan });
        await resp.DataAsync();
    }

    /// <summary>Polls the document until it reaches a terminal status (or the timeout), and returns it.</summary>
    public static async Task<JsonElement> WaitForDocumentAsync(this HttpClient client, string documentId, string expected = "succeeded", int timeoutMs = 15000)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        JsonElement doc = default;
        while (sw.ElapsedMilliseconds < timeoutMs)
        {
            doc = await (await client.GetAsync($"/v1/documents/{documentId}")).DataAsync();
            var status = doc.GetProperty("status").GetString();
            if (status == expected) return doc;
            if (status is "succeeded" or "failed") break;
            await Task.Delay(25);
        }
        throw new Xunit.Sdk.XunitException($"document {documentId} did not reach {expected}: {doc}");
    }
}
