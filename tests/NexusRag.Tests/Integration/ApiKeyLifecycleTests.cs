using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public class ApiKeyLifecycleTests
{
    private static HttpClient With(NexusAppFactory app, string key)
    {
        var c = app.CreateClient();
        c.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return c;
    }

    [Fact]
    public async Task A_key_revoked_through_one_replica_is_refused_there_at_once_and_on_another_replica_shortly_after()
    {
        using var dir = new TempDir("nexusrag-key-replicas");
        using var one = new NexusAppFactory(dataDir: dir.Path);
        using var two = new NexusAppFactory(dataDir: dir.Path);
        var admin = one.ClientWithKey(await one.CreateKeyAsync("acme", Core.Auth.Role.Admin));
        var created = await (await admin.PostAsJsonAsync("/v1/self-serve/api-keys", new { name = "bot", role = "reader" })).DataAsync(201);
        var key = created.GetProperty("api_key").GetString()!;
        var onOne = With(one, key);
        var onTwo = With(two, key);
        Assert.Equal(HttpStatusCode.OK, (await onOne.GetAsync("/v1/corpora")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await onTwo.GetAsync("/v1/corpora")).StatusCode); // now cached on both replicas

        await (await admin.PostAsync($"/v1/self-serve/api-keys/{created.GetProperty("key").GetProperty("id").GetString()}/revoke", null)).DataAsync();
        await (await onOne.GetAsync("/v1/corpora")).AssertErrorAsync(401, "AUTH_REVOKED_KEY");
        var resp = await Eventually.ReadAsync(() => onTwo.GetAsync("/v1/corpora"), r => r.StatusCode == HttpStatusCode.Unauthorized);
        await resp.AssertErrorAsync(401, "AUTH_REVOKED_KEY");
    }

    [Fact]
    public async Task Self_serve_create_list_revoke_and_admin_deactivate_reactivate()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("acme", corpus: null);

        var createdResp = await admin.PostAsJsonAsync("/v1/self-serve/api-keys", new { name = "ci-bot", role = "editor" });
        var created = await createdResp.DataAsync(201);
        var plaintext = created.GetProperty("api_key").GetString()!;
        var keyId = created.GetProperty("key").GetProperty("id").GetString()!;
        Assert.StartsWith("nrgk_", plaintext);
        Assert.Equal("editor", created.GetProperty("key").GetProperty("role").GetString());
        var bot = With(app, plaintext);
        Assert.Equal(HttpStatusCode.OK, (await bot.GetAsync("/v1/corpora")).StatusCode);
        await (await bot.PostAsJsonAsync("/v1/self-serve/api-keys", new { name = "x", role = "admin" })).AssertErrorAsync(403, "FORBIDDEN");

        var listResp = await admin.GetAsync("/v1/self-serve/api-keys");
        var listText = await listResp.Content.ReadAsStringAsync();
        Assert.DoesNotContain(plaintext, listText);
        var list = await listResp.DataAsync();
        Assert.Contains(list.EnumerateArray(), k => k.GetProperty("id").GetString() == keyId && k.GetProperty("active").GetBoolean());

        // Deactivate and reactivate through the admin API, then revoke (idempotently) through self-serve.
        var off = await (await admin.PatchAsJsonAsync($"/v1/admin/api-keys/{keyId}", new { active = false })).DataAsync();
        Assert.False(off.GetProperty("active").GetBoolean());
        await (await bot.GetAsync("/v1/corpora")).AssertErrorAsync(401, "AUTH_REVOKED_KEY");
        var on = await (await admin.PatchAsJsonAsync($"/v1/admin/api-keys/{keyId}", new { active = true })).DataAsync();
        Assert.True(on.GetProperty("active").GetBoolean());
        Assert.NotEqual(System.Text.Json.JsonValueKind.Null, on.GetProperty("last_used_at").ValueKind);
        Assert.Equal(HttpStatusCode.OK, (await bot.GetAsync("/v1/corpora")).StatusCode);
        Assert.False((await (await admin.PostAsync($"/v1/self-serve/api-keys/{keyId}/revoke", null)).DataAsync()).GetProperty("active").GetBoolean());
        Assert.False((await (await admin.PostAsync($"/v1/self-serve/api-keys/{keyId}/revoke", null)).DataAsync()).GetProperty("active").GetBoolean());
        await (await bot.GetAsync("/v1/corpora")).AssertErrorAsync(401, "AUTH_REVOKED_KEY");

        var admins = await (await admin.GetAsync("/v1/admin/api-keys?tenant_id=acme")).DataAsync();
        Assert.True(admins.GetArrayLength() >= 2);
    }

    [Fact]
    public async Task Another_tenant_cannot_see_or_touch_the_keys()
    {
        using var app = new NexusAppFactory();
        var acme = await app.AdminForTenantAsync("acme", corpus: null);
        var keyId = (await (await acme.PostAsJsonAsync("/v1/self-serve/api-keys", new { name = "k", role = "reader" })).DataAsync(201))
            .GetProperty("key").GetProperty("id").GetString();
        var bob = await app.AdminForTenantAsync("bob", corpus: null);
        await (await bob.PostAsync($"/v1/self-serve/api-keys/{keyId}/revoke", null)).AssertErrorAsync(404, "NOT_FOUND");
        await (await bob.PatchAsJsonAsync($"/v1/admin/api-keys/{keyId}", new { active = false })).AssertErrorAsync(404, "NOT_FOUND");
        await (await bob.GetAsync("/v1/admin/api-keys?tenant_id=acme")).AssertErrorAsync(404, "NOT_FOUND");
        var bobs = await (await bob.GetAsync("/v1/self-serve/api-keys")).DataAsync();
        Assert.DoesNotContain(bobs.EnumerateArray(), k => k.GetProperty("id").GetString() == keyId);
        Assert.All(bobs.EnumerateArray(), k => Assert.Equal("bob", k.GetProperty("tenant_id").GetString()));
    }

    [Theory]
    [InlineData("""{"name":"x","role":"root"}""", 422, "VALIDATION_ERROR")]
    [InlineData("""{"role":"reader"}""", 422, "VALIDATION_ERROR")]
    [InlineData("""{"name":"x","role":"reader","expires_in":"soon"}""", 422, "VALIDATION_ERROR")]
    [InlineData("""{"name":"x","role":"reader","tenant_id":"other"}""", 400, "TENANT_ID_NOT_ALLOWED")]
    [InlineData("""{"name":"x","role":"reader","scopes":[]}""", 400, "UNKNOWN_FIELD")]
    public async Task Bad_create_requests_are_refused(string body, int status, string code)
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("acme", corpus: null);
        var resp = await admin.PostAsync("/v1/self-serve/api-keys", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await resp.AssertErrorAsync(status, code);
    }
}
