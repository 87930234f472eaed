using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>The platform operator owns what spans tenants; a tenant admin never raises its own entitlements or touches another tenant.</summary>
public sealed class OperatorTests : IClassFixture<OperatorTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public NexusAppFactory App { get; } = new();
        public HttpClient A { get; private set; } = null!;
        public HttpClient B { get; private set; } = null!;
        public HttpClient Op { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            A = await App.AdminForTenantAsync("tenant-a");
            B = await App.AdminForTenantAsync("tenant-b");
            Op = await App.OperatorAsync();
        }

        public Task DisposeAsync()
        {
            App.Dispose();
            return Task.CompletedTask;
        }
    }

    private readonly Fixture _f;
    public OperatorTests(Fixture f) => _f = f;

    public static TheoryData<string, string, string> OperatorOnlyWrites => new()
    {
        { "/v1/admin/plans/{t}", """{"plan_id":"enterprise"}""", "plan_id" },
        { "/v1/admin/plans/{t}/overrides", """{"feature_key":"feature.audit_access","enabled":true}""", "features" },
        { "/v1/admin/quotas/{t}", """{"daily_requests_limit":1000000}""", "daily_requests_limit" },
    };

    [Theory]
    [MemberData(nameof(OperatorOnlyWrites))]
    public async Task A_tenant_admin_gets_403_on_its_own_and_another_tenant_and_the_operator_succeeds_on_any(string path, string body, string field)
    {
        foreach (var target in new[] { "tenant-b", "tenant-a" })
        {
            var resp = await _f.B.PatchAsync(path.Replace("{t}", target), new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
            await resp.AssertErrorAsync(403, "FORBIDDEN");
            Assert.Equal("operator", (await resp.JsonAsync()).GetProperty("error").GetProperty("details").GetProperty("required_role").GetString());
        }
        var ok = await (await _f.Op.PatchAsync(path.Replace("{t}", "tenant-a"), new StringContent(body, System.Text.Encoding.UTF8, "application/json"))).DataAsync();
        Assert.True(ok.TryGetProperty(field, out _));
        Assert.Equal("tenant-a", ok.GetProperty("tenant_id").GetString());

        // The refusals are audited in the refused tenant's chain; the operator's change in the target tenant's chain, as the operator.
        var audit = _f.App.Service<IAuditLog>();
        var (forbidden, _) = await audit.QueryAsync(new AuditQuery("tenant-b", "rbac.forbidden", null, null, null, null, null, null, 100, null), default);
        Assert.NotEmpty(forbidden);
        var (changes, _) = await audit.QueryAsync(new AuditQuery("tenant-a", null, null, null, "tenant", "tenant-a", null, null, 100, null), default);
        Assert.Contains(changes, e => e.ActorType == "operator");
    }

    [Fact]
    public async Task Global_kill_switches_and_canaries_are_operator_only_and_a_tenant_admin_cannot_stop_another_tenant()
    {
        await (await _f.B.PatchAsJsonAsync("/v1/admin/rollouts/killswitches", new Dictionary<string, object> { ["kill_switches"] = new Dictionary<string, bool> { ["kill.run"] = true } }))
            .AssertErrorAsync(403, "FORBIDDEN");
        await (await _f.B.PatchAsJsonAsync("/v1/admin/rollouts/canary", new Dictionary<string, object> { ["canary_percentages"] = new Dictionary<string, int> { ["rollout.x"] = 100 } }))
            .AssertErrorAsync(403, "FORBIDDEN");
        var killed = await (await _f.A.GetAsync("/v1/admin/rollouts/killswitches")).DataAsync();
        Assert.False(killed.GetProperty("kill_switches").GetProperty("kill.run").GetBoolean());
        // tenant A still answers (the fake generator is not needed: the extractive default runs offline).
        var run = await _f.A.PostAsJsonAsync("/v1/run", new { session_id = "op-run-a", corpus_id = "docs", message = "hello" });
        Assert.Equal(HttpStatusCode.OK, run.StatusCode);

        var canary = await (await _f.Op.PatchAsJsonAsync("/v1/admin/rollouts/canary", new Dictionary<string, object> { ["canary_percentages"] = new Dictionary<string, int> { ["rollout.op"] = 7 } })).DataAsync();
        Assert.Equal(7, canary.GetProperty("canary_percentages").GetProperty("rollout.op").GetInt32());
    }

    [Fact]
    public async Task Reads_the_operator_may_do_on_any_tenant_and_a_tenant_admin_only_on_its_own()
    {
        foreach (var path in new[] { "/v1/admin/plans/tenant-a", "/v1/admin/quotas/tenant-a", "/v1/admin/usage/tenant-a" })
        {
            Assert.Equal("tenant-a", (await (await _f.Op.GetAsync(path)).DataAsync()).GetProperty("tenant_id").GetString());
            Assert.Equal("tenant-a", (await (await _f.A.GetAsync(path)).DataAsync()).GetProperty("tenant_id").GetString());
            await (await _f.B.GetAsync(path)).AssertErrorAsync(404, "NOT_FOUND");
        }
        await (await _f.Op.GetAsync("/v1/admin/plans/no-such-tenant")).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task The_operator_key_holds_no_tenant_role_and_operator_keys_cannot_be_minted_over_http()
    {
        // Tenant endpoints: the operator is nobody's reader.
        foreach (var path in new[] { "/v1/corpora", "/v1/documents", "/v1/self-serve/api-keys", "/v1/admin/api-keys", "/v1/self-serve/plan" })
            await (await _f.Op.GetAsync(path)).AssertErrorAsync(403, "FORBIDDEN");
        await (await _f.Op.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "x" })).AssertErrorAsync(403, "FORBIDDEN");

        // No HTTP endpoint mints an operator key: the role is refused, and no key a tenant admin creates acts as one.
        await (await _f.A.PostAsJsonAsync("/v1/self-serve/api-keys", new { name = "sneaky", role = "operator" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        var created = await (await _f.A.PostAsJsonAsync("/v1/self-serve/api-keys", new { name = "adminish", role = "admin" })).DataAsync(201);
        var minted = _f.App.ClientWithKey(created.GetProperty("api_key").GetString()!);
        await (await minted.PatchAsJsonAsync("/v1/admin/plans/tenant-a", new { plan_id = "enterprise" })).AssertErrorAsync(403, "FORBIDDEN");
        await using var db = await _f.App.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        Assert.DoesNotContain(await db.ApiKeys.Where(k => k.TenantId != Principal.PlatformTenant).Select(k => k.Role).ToListAsync(), r => r == "operator");
        // The operator's keys are not listed to any tenant.
        var listed = await (await _f.A.GetAsync("/v1/admin/api-keys")).DataAsync();
        Assert.All(listed.EnumerateArray(), k => Assert.Equal("tenant-a", k.GetProperty("tenant_id").GetString()));
        await (await _f.A.GetAsync($"/v1/admin/api-keys?tenant_id={Principal.PlatformTenant}")).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task A_tenant_admin_reads_its_plan_and_requests_an_upgrade_audited_with_an_outbox_message()
    {
        var plan = await (await _f.B.GetAsync("/v1/self-serve/plan")).DataAsync();
        Assert.Equal("tenant-b", plan.GetProperty("tenant_id").GetString());
        var current = plan.GetProperty("plan_id").GetString();
        var target = current == "free" ? "pro" : "enterprise";
        var req = await (await _f.B.PostAsJsonAsync("/v1/self-serve/plan/upgrade-request", new { target_plan = target, reason = "Need TTS" })).DataAsync(202);
        Assert.Equal("pending", req.GetProperty("status").GetString());
        Assert.Equal(target, req.GetProperty("target_plan").GetString());
        Assert.Equal(current, (await (await _f.B.GetAsync("/v1/self-serve/plan")).DataAsync()).GetProperty("plan_id").GetString()); // nothing changed

        var (events, _) = await _f.App.Service<IAuditLog>().QueryAsync(new AuditQuery("tenant-b", "plan.upgrade_requested", null, null, null, null, null, null, 10, null), default);
        Assert.Contains(events, e => e.MetadataJson!.Contains(req.GetProperty("id").GetString()!, StringComparison.Ordinal));
        await using var db = await _f.App.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        Assert.Contains(await db.Outbox.Where(o => o.TenantId == "tenant-b" && o.Topic == "plan.upgrade_requested").Select(o => o.PayloadJson).ToListAsync(),
            p => p.Contains(req.GetProperty("id").GetString()!, StringComparison.Ordinal));

        // The worker's outbox dispatcher delivers it (to the log subscriber) and marks it delivered.
        var status = await Eventually.ReadAsync(async () =>
        {
            await using var poll = await _f.App.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            return await poll.Outbox.Where(o => o.TenantId == "tenant-b" && o.Topic == "plan.upgrade_requested").Select(o => o.Status).FirstAsync();
        }, s => s == "delivered");
        Assert.Equal("delivered", status);

        await (await _f.B.PostAsJsonAsync("/v1/self-serve/plan/upgrade-request", new { target_plan = "free" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await _f.B.PostAsJsonAsync("/v1/self-serve/plan/upgrade-request", new { target_plan = "platinum" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await _f.B.PostAsJsonAsync("/v1/self-serve/plan/upgrade-request", new { target_plan = "pro", tenant_id = "tenant-a" })).AssertErrorAsync(400, "TENANT_ID_NOT_ALLOWED");
        var reader = _f.App.ClientWithKey(await _f.App.CreateKeyAsync("tenant-b", Role.Reader));
        await (await reader.PostAsJsonAsync("/v1/self-serve/plan/upgrade-request", new { target_plan = "enterprise" })).AssertErrorAsync(403, "FORBIDDEN");
    }
}
