using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Auth;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Authorization;

/// <summary>API key rotation (API and CLI) and inactivity enforcement.</summary>
public sealed class ApiKeyRotationTests
{
    private static async Task<string> KeyIdAsync(HttpClient admin, string name) =>
        (await (await admin.GetAsync("/v1/self-serve/api-keys")).DataAsync()).EnumerateArray()
        .First(k => k.GetProperty("name").GetString() == name && k.GetProperty("active").GetBoolean()).GetProperty("id").GetString()!;

    [Fact]
    public async Task Rotation_through_the_API_replaces_the_key_and_revokes_the_old_one_unless_kept()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("rot-a");
        var oldKey = await app.CreateKeyAsync("rot-a", Role.Reader, "service-x");
        var old = app.ClientWithKey(oldKey);
        (await old.GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();

        var rotated = await (await admin.PostAsJsonAsync($"/v1/self-serve/api-keys/{await KeyIdAsync(admin, "service-x")}/rotate", new { })).DataAsync(201);
        var fresh = app.ClientWithKey(rotated.GetProperty("api_key").GetString()!);
        Assert.Equal("reader", rotated.GetProperty("key").GetProperty("role").GetString());
        Assert.Equal("service-x", rotated.GetProperty("key").GetProperty("name").GetString());
        Assert.False(rotated.GetProperty("previous_key_active").GetBoolean());
        (await fresh.GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();
        await (await old.GetAsync("/v1/corpora/docs")).AssertErrorAsync(401, "AUTH_REVOKED_KEY");

        // --keep-old-active: both work until the old one is revoked.
        var kept = await (await admin.PostAsJsonAsync($"/v1/self-serve/api-keys/{rotated.GetProperty("key").GetProperty("id").GetString()}/rotate", new { keep_old_active = true })).DataAsync(201);
        Assert.True(kept.GetProperty("previous_key_active").GetBoolean());
        (await fresh.GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();
        (await app.ClientWithKey(kept.GetProperty("api_key").GetString()!).GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();

        // A revoked key cannot be rotated; another tenant's key is not found; only admins rotate.
        var oldId = rotated.GetProperty("previous_key_id").GetString();
        await (await admin.PostAsJsonAsync($"/v1/self-serve/api-keys/{oldId}/rotate", new { })).AssertErrorAsync(409, "API_KEY_REVOKED");
        var other = await app.AdminForTenantAsync("rot-b");
        await (await other.PostAsJsonAsync($"/v1/self-serve/api-keys/{rotated.GetProperty("key").GetProperty("id").GetString()}/rotate", new { })).AssertErrorAsync(404);
        await (await fresh.PostAsJsonAsync($"/v1/self-serve/api-keys/{rotated.GetProperty("key").GetProperty("id").GetString()}/rotate", new { })).AssertErrorAsync(403);
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        Assert.Equal(2, await db.AuditEvents.CountAsync(e => e.TenantId == "rot-a" && e.EventType == "auth.api_key.rotated"));
    }

    [Fact]
    public async Task Inactive_keys_are_refused_when_enforced_listed_by_the_CLI_and_rotation_mints_a_fresh_one()
    {
        using var dir = new TempDir("nexusrag-inactive");
        var settings = new Dictionary<string, string?> { ["AUTH_API_KEY_INACTIVE_ENFORCED"] = "true", ["AUTH_API_KEY_INACTIVE_DAYS"] = "30" };
        using var app = new NexusAppFactory(settings, dataDir: dir.Path);
        var admin = await app.AdminForTenantAsync("idle");
        var idleKey = await app.CreateKeyAsync("idle", Role.Reader, "idle-service");
        var idle = app.ClientWithKey(idleKey);
        (await idle.GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();
        var idleId = await KeyIdAsync(admin, "idle-service");

        // Its last use (and creation) 31 days ago, as another replica would see it after 31 quiet days.
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var then = DateTime.UtcNow.AddDays(-31);
            await db.ApiKeys.Where(k => k.Id == idleId).ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, then).SetProperty(k => k.CreatedAt, then));
        }
        using var replica = new NexusAppFactory(settings, dataDir: dir.Path);
        await (await replica.ClientWithKey(idleKey).GetAsync("/v1/corpora/docs")).AssertErrorAsync(401, "AUTH_INACTIVE_KEY");
        (await replica.ClientWithKey(await replica.CreateKeyAsync("idle", Role.Reader, "busy")).GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();

        var (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(dir.Path).Concat(settings).ToDictionary(), "keys", "list", "--tenant", "idle", "--inactive-only");
        Assert.Equal(0, code);
        Assert.Contains(idleId, output);
        Assert.DoesNotContain("busy", output);
        Assert.Contains("1 key(s)", output);

        (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(dir.Path), "keys", "rotate", idleId);
        Assert.Equal(0, code);
        var newKey = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        (await replica.ClientWithKey(newKey).GetAsync("/v1/corpora/docs")).EnsureSuccessStatusCode();
        await (await replica.ClientWithKey(idleKey).GetAsync("/v1/corpora/docs")).AssertErrorAsync(401);
        (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(dir.Path), "keys", "rotate", "key_does_not_exist");
        Assert.Equal(1, code);
    }
}
