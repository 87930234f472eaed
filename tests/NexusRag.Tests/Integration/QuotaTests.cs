using System.Net;
using System.Net.Http.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Governance;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public class QuotaTests
{
    private static async Task<int> CountEventsAsync(NexusAppFactory app, string tenant, string type) =>
        (await app.Service<IAuditLog>().QueryAsync(new AuditQuery(tenant, type, null, null, null, null, null, null, 100, null), default)).Items.Count;

    [Fact]
    public async Task Headers_soft_cap_once_and_402_at_the_hard_cap()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("acme");
        var set = await (await (await app.OperatorAsync()).PatchAsJsonAsync("/v1/admin/quotas/acme", new { daily_requests_limit = 5, monthly_requests_limit = 100, soft_cap_ratio = 0.6, hard_cap_enabled = true })).DataAsync();
        Assert.Equal(5, set.GetProperty("daily_requests_limit").GetInt32());

        for (var i = 1; i <= 5; i++)
        {
            var ok = await admin.GetAsync("/v1/corpora");
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            Assert.Equal("5", ok.Headers.GetValues("X-Quota-Day-Limit").Single());
            Assert.Equal(i.ToString(), ok.Headers.GetValues("X-Quota-Day-Used").Single());
            Assert.Equal((5 - i).ToString(), ok.Headers.GetValues("X-Quota-Day-Remaining").Single());
            Assert.Equal("100", ok.Headers.GetValues("X-Quota-Month-Limit").Single());
            Assert.Equal(i.ToString(), ok.Headers.GetValues("X-Quota-Month-Used").Single());
            Assert.Equal((100 - i).ToString(), ok.Headers.GetValues("X-Quota-Month-Remaining").Single());
            Assert.Equal(i >= 3 ? "true" : "false", ok.Headers.GetValues("X-Quota-SoftCap-Reached").Single());
            Assert.Equal("enforce", ok.Headers.GetValues("X-Quota-HardCap-Mode").Single());
        }
        Assert.Equal(1, await CountEventsAsync(app, "acme", "quota.soft_cap_reached")); // once per period

        var blocked = await admin.GetAsync("/v1/corpora");
        await blocked.AssertErrorAsync(402, "QUOTA_EXCEEDED");
        var error = (await blocked.JsonAsync()).GetProperty("error");
        Assert.Equal("Daily request quota exceeded", error.GetProperty("message").GetString());
        var d = error.GetProperty("details");
        Assert.Equal(("day", 5, 5, 0), (d.GetProperty("period").GetString(), d.GetProperty("limit").GetInt32(), d.GetProperty("used").GetInt32(), d.GetProperty("remaining").GetInt32()));
        Assert.Equal(1, await CountEventsAsync(app, "acme", "quota.hard_cap_blocked"));
        Assert.Equal(5, await app.Service<IQuotaStore>().UsedAsync("acme", "day:" + QuotaPeriods.Day(DateTime.UtcNow), default)); // blocked requests are not counted

        // Another tenant is unaffected and cannot read acme's quotas.
        var bob = await app.AdminForTenantAsync("bob", corpus: null);
        Assert.Equal(HttpStatusCode.OK, (await bob.GetAsync("/v1/corpora")).StatusCode);
        await (await bob.GetAsync("/v1/admin/quotas/acme")).AssertErrorAsync(404, "NOT_FOUND");
        await (await bob.GetAsync("/v1/admin/usage/acme")).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task Run_counts_three_units_observe_mode_lets_overage_through_once_audited_and_usage_reports_it()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("acme");
        var op = await app.OperatorAsync();
        (await op.PatchAsJsonAsync("/v1/admin/quotas/acme", new { daily_requests_limit = 4, hard_cap_enabled = false })).EnsureSuccessStatusCode();
        var (run, _) = await Run.SseClient.RunAsync(admin, new { session_id = "q1", corpus_id = "docs", message = "hello" });
        Assert.Equal("3", run.Headers.GetValues("X-Quota-Day-Used").Single());
        Assert.Equal("observe", run.Headers.GetValues("X-Quota-HardCap-Mode").Single());
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/corpora")).StatusCode); // 4, 5, 6: over, still allowed
        Assert.Equal(1, await CountEventsAsync(app, "acme", "quota.overage_observed"));
        var usage = await (await admin.GetAsync("/v1/admin/usage/acme?period=day")).DataAsync();
        Assert.Equal(7, usage.GetProperty("used").GetInt64()); // counted before answering, this request included
        Assert.Equal(4, usage.GetProperty("limit").GetInt32());
        await (await admin.GetAsync("/v1/admin/usage/acme?period=year")).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await op.PatchAsJsonAsync("/v1/admin/quotas/acme", new { soft_cap_ratio = 1.5 })).AssertErrorAsync(422, "VALIDATION_ERROR");
        // A tenant admin cannot lift its own limits.
        await (await admin.PatchAsJsonAsync("/v1/admin/quotas/acme", new { daily_requests_limit = 1_000_000 })).AssertErrorAsync(403, "FORBIDDEN");
    }

    [Fact]
    public async Task Rate_limited_requests_do_not_count()
    {
        using var app = new NexusAppFactory(new()
        {
            ["RATE_LIMIT_ENABLED"] = "true", ["NexusRag:RateLimit:Read:Key:Rps"] = "0.01", ["NexusRag:RateLimit:Read:Key:Burst"] = "2",
        });
        var admin = app.ClientWithKey(await app.CreateKeyAsync("acme", Role.Admin));
        (await (await app.OperatorAsync()).PatchAsJsonAsync("/v1/admin/quotas/acme", new { daily_requests_limit = 100 })).EnsureSuccessStatusCode();
        for (var i = 0; i < 2; i++) Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/corpora")).StatusCode);
        for (var i = 0; i < 3; i++) await (await admin.GetAsync("/v1/corpora")).AssertErrorAsync(429, "RATE_LIMITED");
        Assert.Equal(2, await app.Service<IQuotaStore>().UsedAsync("acme", "day:" + QuotaPeriods.Day(DateTime.UtcNow), default));
    }
}
