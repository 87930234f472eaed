using System.Net;
using System.Net.Http.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>The seed's "Rate Limiting" examples, on the in-process buckets and on the Redis script.</summary>
public class RateLimitTests
{
    private static Dictionary<string, string?> Settings(string impl, int keyBurst, int tenantBurst, string? redisUrl = null)
    {
        var s = new Dictionary<string, string?>
        {
            ["RATE_LIMIT_ENABLED"] = "true",
            // Near-zero refill so the bursts decide, whatever the machine's speed.
            ["NexusRag:RateLimit:Read:Key:Rps"] = "0.01", ["NexusRag:RateLimit:Read:Key:Burst"] = keyBurst.ToString(),
            ["NexusRag:RateLimit:Read:Tenant:Rps"] = "0.01", ["NexusRag:RateLimit:Read:Tenant:Burst"] = tenantBurst.ToString(),
        };
        if (impl == "redis")
            s["REDIS_URL"] = redisUrl ?? $"redis://{Environment.GetEnvironmentVariable("NEXUSRAG_TEST_REDIS") ?? throw new InvalidOperationException("NEXUSRAG_TEST_REDIS is not set: run scripts/test.sh")}/0";
        return s;
    }

    [Theory]
    [InlineData("inprocess")]
    [InlineData("redis")]
    public async Task After_the_key_burst_a_429_carries_the_seed_body_and_headers_and_is_audited(string impl)
    {
        using var app = new NexusAppFactory(Settings(impl, keyBurst: 3, tenantBurst: 100));
        var tenant = $"rl-{Guid.NewGuid():N}"[..12];
        var client = app.ClientWithKey(await app.CreateKeyAsync(tenant, Role.Admin));
        for (var i = 0; i < 3; i++)
        {
            var ok = await client.GetAsync("/v1/corpora");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("3", ok.Headers.GetValues("X-RateLimit-Limit").Single());
            Assert.Equal((2 - i).ToString(), ok.Headers.GetValues("X-RateLimit-Remaining").Single());
            Assert.True(long.Parse(ok.Headers.GetValues("X-RateLimit-Reset").Single()) > 0);
        }
        var limited = await client.GetAsync("/v1/corpora");
        await limited.AssertErrorAsync(429, "RATE_LIMITED");
        var body = await limited.JsonAsync();
        var details = body.GetProperty("error").GetProperty("details");
        Assert.Equal("api_key", details.GetProperty("scope").GetString());
        Assert.Equal("read", details.GetProperty("route_class").GetString());
        var retryMs = details.GetProperty("retry_after_ms").GetInt64();
        Assert.True(retryMs > 0);
        Assert.Equal("Rate limit exceeded", body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("api_key", limited.Headers.GetValues("X-RateLimit-Scope").Single());
        Assert.Equal("read", limited.Headers.GetValues("X-RateLimit-Route-Class").Single());
        Assert.Equal(retryMs.ToString(), limited.Headers.GetValues("X-RateLimit-Retry-After-Ms").Single());
        Assert.Equal(Math.Ceiling(retryMs / 1000.0).ToString(), limited.Headers.GetValues("Retry-After").Single());
        Assert.Equal("0", limited.Headers.GetValues("X-RateLimit-Remaining").Single());

        // Other route classes have their own buckets; the refusal is in the audit log.
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/v1/corpora", new { id = "c2" })).StatusCode);
        var (events, _) = await app.Service<IAuditLog>().QueryAsync(new AuditQuery(tenant, "security.rate_limited", null, null, null, null, null, null, 10, null), default);
        var e = Assert.Single(events);
        Assert.Equal("read", e.ResourceId);
    }

    [Theory]
    [InlineData("inprocess")]
    [InlineData("redis")]
    public async Task Two_keys_share_the_tenant_bucket_and_its_refusal_says_scope_tenant(string impl)
    {
        using var app = new NexusAppFactory(Settings(impl, keyBurst: 3, tenantBurst: 4));
        var tenant = $"rl-{Guid.NewGuid():N}"[..12];
        var a = app.ClientWithKey(await app.CreateKeyAsync(tenant, Role.Reader, "a"));
        var b = app.ClientWithKey(await app.CreateKeyAsync(tenant, Role.Reader, "b"));
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await a.GetAsync("/v1/corpora")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await b.GetAsync("/v1/corpora")).StatusCode); // key b fresh, tenant at 4/4
        var limited = await b.GetAsync("/v1/corpora");
        await limited.AssertErrorAsync(429, "RATE_LIMITED");
        Assert.Equal("tenant", limited.Headers.GetValues("X-RateLimit-Scope").Single());
        // Another tenant is untouched.
        var other = app.ClientWithKey(await app.CreateKeyAsync(tenant + "x", Role.Reader));
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/v1/corpora")).StatusCode);
    }

    [Theory]
    [InlineData("open")]
    [InlineData("closed")]
    public async Task A_lost_redis_fails_open_with_a_degraded_header_or_closed_with_503(string mode)
    {
        var settings = Settings("redis", 3, 3, redisUrl: "redis://127.0.0.1:1/0");
        settings["RL_FAIL_MODE"] = mode;
        using var app = new NexusAppFactory(settings);
        var client = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        var resp = await client.GetAsync("/v1/corpora");
        if (mode == "open")
        {
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            Assert.Equal("degraded", resp.Headers.GetValues("X-RateLimit-Status").Single());
            var (events, _) = await app.Service<IAuditLog>().QueryAsync(new AuditQuery("t1", "system.rate_limit.degraded", null, null, null, null, null, null, 10, null), default);
            Assert.NotEmpty(events);
        }
        else await resp.AssertErrorAsync(503, "RATE_LIMIT_UNAVAILABLE");
    }

    [Fact]
    public async Task Turned_off_it_never_limits_and_public_endpoints_are_never_limited()
    {
        var settings = Settings("inprocess", 1, 1);
        settings["RATE_LIMIT_ENABLED"] = "false";
        using var app = new NexusAppFactory(settings);
        var client = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        for (var i = 0; i < 5; i++)
        {
            var resp = await client.GetAsync("/v1/corpora");
            Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
            Assert.False(resp.Headers.Contains("X-RateLimit-Limit"));
        }
        using var on = new NexusAppFactory(Settings("inprocess", 1, 1));
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.OK, (await on.CreateClient().GetAsync("/v1/health")).StatusCode);
    }
}
