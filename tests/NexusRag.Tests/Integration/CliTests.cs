using NexusRag.Cli;
using NexusRag.Tests.Infrastructure;
using Spectre.Console;

namespace NexusRag.Tests.Integration;

/// <summary>The nexusrag CLI against a real SQLite file, then the server reading what the CLI wrote.</summary>
public sealed class CliTests : IDisposable
{
    private readonly TempDir _tmp = new("nexusrag-cli");
    private string _dir => _tmp.Path;

    public void Dispose() => _tmp.Dispose();

    private Task<(int Code, string Output)> Run(params string[] args) => CliRunner.RunAsync(TestStore.SettingsFor(_dir), args);

    [Fact]
    public async Task Keys_create_operator_mints_a_platform_key_the_server_treats_as_the_operator()
    {
        var (code, output) = await Run("keys", "create", "--operator", "--name", "ops-team");
        Assert.Equal(0, code);
        var key = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        Assert.Contains("platform-operator", output, StringComparison.Ordinal);
        (code, output) = await Run("keys", "list", "--operator");
        Assert.Equal(0, code);
        Assert.Contains("operator", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, output, StringComparison.Ordinal);
        // An operator key has no tenant and no role: the flags cannot be combined, and a tenant key needs both.
        Assert.NotEqual(0, (await Run("keys", "create", "--operator", "--tenant", "acme", "--name", "x")).Code);
        Assert.NotEqual(0, (await Run("keys", "create", "--tenant", "acme", "--name", "x")).Code);

        (code, output) = await Run("keys", "create", "--tenant", "acme", "--role", "admin", "--name", "a");
        var tenantKey = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        using var app = new NexusAppFactory(dataDir: _dir);
        var op = app.ClientWithKey(key);
        await (await op.PatchAsync("/v1/admin/plans/acme", System.Net.Http.Json.JsonContent.Create(new { plan_id = "pro" }))).DataAsync();
        Assert.Equal("pro", (await (await app.ClientWithKey(tenantKey).GetAsync("/v1/admin/plans/acme")).DataAsync()).GetProperty("plan_id").GetString());
    }

    [Fact]
    public async Task Keys_create_list_revoke_and_the_server_honours_them()
    {
        var (code, output) = await Run("keys", "create", "--tenant", "acme", "--role", "editor", "--name", "ci", "--expires-in", "30d");
        Assert.Equal(0, code);
        var key = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        var keyId = System.Text.RegularExpressions.Regex.Match(output, "key_[0-9a-f]+").Value;

        (code, output) = await Run("keys", "list", "--tenant", "acme");
        Assert.Equal(0, code);
        Assert.Contains(keyId, output, StringComparison.Ordinal);
        Assert.Contains("editor", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, output, StringComparison.Ordinal);

        using (var app = new NexusAppFactory(dataDir: _dir))
        {
            var client = app.ClientWithKey(key);
            await (await client.GetAsync("/v1/corpora")).DataAsync();
            await (await client.PostAsync("/v1/corpora", System.Net.Http.Json.JsonContent.Create(new { id = "x" }))).AssertErrorAsync(403, "FORBIDDEN");

            (code, _) = await Run("keys", "revoke", keyId);
            Assert.Equal(0, code);
            // The CLI is another process: the server's verified-key cache (2 s) lets the revocation through shortly.
            var after = await Eventually.ReadAsync(() => client.GetAsync("/v1/corpora"), r => r.StatusCode == System.Net.HttpStatusCode.Unauthorized);
            await after.AssertErrorAsync(401, "AUTH_REVOKED_KEY");
        }

        (code, output) = await Run("keys", "revoke", "key_does_not_exist");
        Assert.Equal(1, code);
        Assert.Contains("No such key", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_arguments_fail_clearly()
    {
        var (code, output) = await Run("keys", "create", "--tenant", "acme", "--role", "superuser", "--name", "x");
        Assert.NotEqual(0, code);
        Assert.Contains("role", output, StringComparison.Ordinal);
        (code, _) = await Run("keys", "create", "--tenant", "../etc", "--role", "admin", "--name", "x");
        Assert.NotEqual(0, code);
        (code, _) = await Run("keys", "create", "--tenant", "acme", "--role", "admin", "--name", "x", "--expires-in", "soon");
        Assert.NotEqual(0, code);
        (code, _) = await Run("keys", "create", "--role", "admin");
        Assert.NotEqual(0, code);
    }

    [Fact]
    public async Task Migrate_and_seed_are_idempotent()
    {
        var (code, output) = await Run("migrate");
        Assert.Equal(0, code);
        Assert.Contains("Applied", output, StringComparison.Ordinal);
        (code, output) = await Run("migrate");
        Assert.Contains("up to date", output, StringComparison.Ordinal);

        (code, output) = await Run("seed");
        Assert.Equal(0, code);
        Assert.Contains("3 document(s) queued", output, StringComparison.Ordinal);
        (code, output) = await Run("seed");
        Assert.Equal(0, code);
        Assert.Contains("already seeded", output, StringComparison.Ordinal);

        // A server on the same data directory processes what the CLI queued.
        using var app = new NexusAppFactory(dataDir: _dir);
        var client = app.ClientWithKey(await app.CreateKeyAsync("t1", Core.Auth.Role.Reader));
        foreach (var d in Core.Bootstrap.DemoData.Documents) await client.WaitForDocumentAsync(d.Id);
    }
}
