using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Auth;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public sealed class AuthTests : IClassFixture<AuthTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public NexusAppFactory App { get; } = new();
        public Dictionary<Role, HttpClient> Clients { get; } = [];

        public async Task InitializeAsync()
        {
            await App.AdminForTenantAsync("rbac", "c1");
            foreach (var role in Enum.GetValues<Role>()) Clients[role] = App.ClientWithKey(await App.CreateKeyAsync("rbac", role, role.ToWire()));
        }

        public Task DisposeAsync()
        {
            App.Dispose();
            return Task.CompletedTask;
        }
    }

    private readonly Fixture _f;
    public AuthTests(Fixture f) => _f = f;

    /// <summary>Every endpoint of the foundation with the lowest role that may call it (seed role matrix).</summary>
    public static TheoryData<string, string, string> Matrix => new()
    {
        { "GET", "/v1/corpora", "reader" },
        { "GET", "/v1/corpora/c1", "reader" },
        { "POST", "/v1/corpora", "admin" },
        { "PATCH", "/v1/corpora/c1", "editor" },
        { "DELETE", "/v1/corpora/{new}", "admin" },
        { "GET", "/v1/documents", "reader" },
        { "GET", "/v1/documents/{doc}", "reader" },
        { "GET", "/v1/documents/{doc}/chunks", "reader" },
        { "POST", "/v1/documents", "editor" },
        { "POST", "/v1/documents/text", "editor" },
        { "POST", "/v1/documents/{doc}/reindex", "editor" },
        { "DELETE", "/v1/documents/{doc}", "editor" },
    };

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Role_matrix(string method, string path, string minimum)
    {
        Assert.True(Roles.TryParse(minimum, out var min));
        foreach (var role in Enum.GetValues<Role>())
        {
            var (request, _) = await BuildAsync(method, path);
            var resp = await _f.Clients[role].SendAsync(request);
            if (role >= min)
            {
                Assert.True((int)resp.StatusCode is >= 200 and < 300, $"{role} on {method} {path}: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
            }
            else
            {
                await resp.AssertErrorAsync(403, "FORBIDDEN");
            }
        }
    }

    [Fact]
    public async Task Forbidden_is_audited_as_rbac_forbidden()
    {
        var resp = await _f.Clients[Role.Reader].PostAsJsonAsync("/v1/corpora", new { id = "nope" });
        await resp.AssertErrorAsync(403, "FORBIDDEN");
        var requestId = resp.Headers.GetValues("X-Request-Id").Single();
        await using var db = await _f.App.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        // The request's refusal is one rbac.forbidden event (a key's first use in a while is also audited, as auth.access.success).
        var evt = await db.AuditEvents.SingleAsync(e => e.RequestId == requestId && e.Outcome == "failure");
        Assert.Equal("rbac.forbidden", evt.EventType);
        Assert.Equal("rbac", evt.TenantId);
        Assert.Equal("failure", evt.Outcome);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer")]
    [InlineData("Bearer nrgk_aaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer ' OR 1=1 --")]
    public async Task Missing_or_invalid_keys_get_401(string? authorization)
    {
        var client = _f.App.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/corpora");
        if (authorization is not null) request.Headers.TryAddWithoutValidation("Authorization", authorization);
        await (await client.SendAsync(request)).AssertErrorAsync(401, "AUTH_UNAUTHORIZED");
    }

    [Fact]
    public async Task Revoked_key_gets_AUTH_REVOKED_KEY_and_the_failure_is_audited()
    {
        var created = await _f.App.Service<Core.Services.ApiKeyService>().CreateAsync("rbac", Role.Admin, "to-revoke", null, "test", default);
        var client = _f.App.ClientWithKey(created.Plaintext);
        await (await client.GetAsync("/v1/corpora")).DataAsync();
        await _f.App.Service<Core.Services.ApiKeyService>().RevokeAsync(created.Key.Id, "test", default);
        var resp = await client.GetAsync("/v1/corpora");
        await resp.AssertErrorAsync(401, "AUTH_REVOKED_KEY");
        await using var db = await _f.App.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var requestId = resp.Headers.GetValues("X-Request-Id").Single();
        Assert.Equal("auth.access.failure", (await db.AuditEvents.SingleAsync(e => e.RequestId == requestId)).EventType);
        Assert.True(await db.AuditEvents.AnyAsync(e => e.EventType == "auth.api_key.revoked" && e.ResourceId == created.Key.Id));
    }

    [Fact]
    public async Task Expired_key_gets_AUTH_EXPIRED_KEY()
    {
        var g = ApiKeys.Generate();
        await _f.App.Service<IIdentityStore>().CreateApiKeyAsync("rbac", "expired", Role.Admin, g.Prefix, g.Hash, DateTime.UtcNow.AddSeconds(-1), false, default);
        await (await _f.App.ClientWithKey(g.Plaintext).GetAsync("/v1/corpora")).AssertErrorAsync(401, "AUTH_EXPIRED_KEY");
    }

    [Fact]
    public async Task Keys_are_stored_only_as_hashes()
    {
        var created = await _f.App.Service<Core.Services.ApiKeyService>().CreateAsync("rbac", Role.Reader, "hash-check", null, "test", default);
        string all;
        if (TestStore.IsPostgres)
        {
            // Everything the api_keys table holds, as text.
            await using var conn = new Npgsql.NpgsqlConnection(TestStore.DatabaseFor(_f.App.DataDir));
            await conn.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand("SELECT string_agg(t::text, ' ') FROM api_keys t", conn);
            all = (string)(await cmd.ExecuteScalarAsync())!;
        }
        else
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(_f.App.DataDir, "nexusrag.db"));
            var wal = Path.Combine(_f.App.DataDir, "nexusrag.db-wal");
            all = System.Text.Encoding.ASCII.GetString(bytes) + (File.Exists(wal) ? System.Text.Encoding.ASCII.GetString(await File.ReadAllBytesAsync(wal)) : "");
        }
        Assert.DoesNotContain(created.Plaintext, all, StringComparison.Ordinal);
        Assert.Contains(ApiKeys.Hash(created.Plaintext), all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_bypass_headers_are_ignored_unless_enabled()
    {
        var client = _f.App.CreateClient();
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/corpora");
        request.Headers.Add("X-Tenant-Id", "rbac");
        request.Headers.Add("X-Role", "admin");
        await (await client.SendAsync(request)).AssertErrorAsync(401, "AUTH_UNAUTHORIZED");
    }

    [Fact]
    public async Task Dev_bypass_when_enabled_uses_the_tenant_and_role_headers()
    {
        using var app = new NexusAppFactory(new() { ["AUTH_DEV_BYPASS"] = "true" });
        var client = app.CreateClient();
        var create = new HttpRequestMessage(HttpMethod.Post, "/v1/corpora") { Content = JsonContent.Create(new { id = "dev" }) };
        create.Headers.Add("X-Tenant-Id", "devtenant");
        await (await client.SendAsync(create)).DataAsync(201);

        var asReader = new HttpRequestMessage(HttpMethod.Delete, "/v1/corpora/dev");
        asReader.Headers.Add("X-Tenant-Id", "devtenant");
        asReader.Headers.Add("X-Role", "reader");
        await (await client.SendAsync(asReader)).AssertErrorAsync(403, "FORBIDDEN");

        var other = new HttpRequestMessage(HttpMethod.Get, "/v1/corpora/dev");
        other.Headers.Add("X-Tenant-Id", "someone-else");
        await (await client.SendAsync(other)).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task Public_endpoints_need_no_key()
    {
        var client = _f.App.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
    }

    private async Task<(HttpRequestMessage, string?)> BuildAsync(string method, string path)
    {
        var admin = _f.Clients[Role.Admin];
        string? id = null;
        if (path.Contains("{doc}", StringComparison.Ordinal))
        {
            id = "doc-" + Guid.NewGuid().ToString("N")[..8];
            await admin.IngestTextAsync("c1", "Role matrix document text.", id);
            await admin.WaitForDocumentAsync(id);
            path = path.Replace("{doc}", id, StringComparison.Ordinal);
        }
        if (path.Contains("{new}", StringComparison.Ordinal))
        {
            id = "tmp-" + Guid.NewGuid().ToString("N")[..8];
            await (await admin.PostAsJsonAsync("/v1/corpora", new { id })).DataAsync(201);
            path = path.Replace("{new}", id, StringComparison.Ordinal);
        }
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST" && path == "/v1/corpora") request.Content = JsonContent.Create(new { id = "m-" + Guid.NewGuid().ToString("N")[..8] });
        else if (method == "PATCH") request.Content = JsonContent.Create(new { name = "renamed" });
        else if (path == "/v1/documents/text") request.Content = JsonContent.Create(new { corpus_id = "c1", text = "matrix text" });
        else if (method == "POST" && path == "/v1/documents")
        {
            var form = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" } };
            var file = new ByteArrayContent("uploaded matrix text"u8.ToArray());
            file.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
            form.Add(file, "file", "matrix.txt");
            request.Content = form;
        }
        else if (path.EndsWith("/reindex", StringComparison.Ordinal)) request.Content = JsonContent.Create(new { chunk_size_chars = 500, chunk_overlap_chars = 50 });
        return (request, id);
    }
}
