using System.Net;
using System.Net.Http.Json;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public class PlanTests
{
    [Fact]
    public async Task The_matrix_the_default_free_plan_assignment_and_overrides_decide_feature_access()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("acme");

        var plans = await (await admin.GetAsync("/v1/admin/plans")).DataAsync();
        Assert.Equal(["free", "pro", "enterprise"], plans.EnumerateArray().Select(p => p.GetProperty("plan_id").GetString()));
        var enterprise = plans[2].GetProperty("features").EnumerateArray().Select(f => f.GetString()).ToList();
        Assert.Contains("feature.retrieval.aws_bedrock_kb", enterprise);
        Assert.DoesNotContain("feature.audit_access", plans[0].GetProperty("features").EnumerateArray().Select(f => f.GetString()));

        var mine = await (await admin.GetAsync("/v1/admin/plans/acme")).DataAsync();
        Assert.Equal("free", mine.GetProperty("plan_id").GetString());
        Assert.False(mine.GetProperty("features").GetProperty("feature.audit_access").GetBoolean());
        var denied = await admin.GetAsync("/v1/audit/events");
        await denied.AssertErrorAsync(403, "FEATURE_NOT_ENABLED");
        var error = (await denied.JsonAsync()).GetProperty("error");
        Assert.Equal("Feature not enabled for tenant plan", error.GetProperty("message").GetString());
        Assert.Equal("feature.audit_access", error.GetProperty("details").GetProperty("feature_key").GetString());
        await (await admin.GetAsync("/v1/ops/audit/verify")).AssertErrorAsync(403, "FEATURE_NOT_ENABLED");
        await (await admin.PatchAsJsonAsync("/v1/corpora/docs", new { provider_config_json = new { retrieval = new { top_k_default = 3 } } })).AssertErrorAsync(403, "FEATURE_NOT_ENABLED");
        Assert.Equal(HttpStatusCode.OK, (await admin.PatchAsJsonAsync("/v1/corpora/docs", new { name = "renamed" })).StatusCode); // no provider change: allowed

        await app.SetPlanAsync("acme", "pro");
        var op = await app.OperatorAsync();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/audit/events")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.PatchAsJsonAsync("/v1/corpora/docs", new { provider_config_json = new { retrieval = new { top_k_default = 3 } } })).StatusCode);

        // An override beats the plan, both ways.
        var overridden = await (await op.PatchAsJsonAsync("/v1/admin/plans/acme/overrides", new { feature_key = "feature.audit_access", enabled = false, config_json = new { reason = "legal hold" } })).DataAsync();
        Assert.False(overridden.GetProperty("features").GetProperty("feature.audit_access").GetBoolean());
        Assert.Equal("legal hold", overridden.GetProperty("overrides")[0].GetProperty("config_json").GetProperty("reason").GetString());
        await (await admin.GetAsync("/v1/audit/events")).AssertErrorAsync(403, "FEATURE_NOT_ENABLED");
        (await op.PatchAsJsonAsync("/v1/admin/plans/acme/overrides", new { feature_key = "feature.chargeback_reports", enabled = true })).EnsureSuccessStatusCode();
        Assert.True((await (await admin.GetAsync("/v1/admin/plans/acme")).DataAsync()).GetProperty("features").GetProperty("feature.chargeback_reports").GetBoolean());
    }

    [Fact]
    public async Task Plans_are_read_tenant_scoped_and_changed_only_by_the_operator_with_validation()
    {
        using var app = new NexusAppFactory();
        var acme = await app.AdminForTenantAsync("acme", corpus: null);
        await app.AdminForTenantAsync("bob", corpus: null);
        var op = await app.OperatorAsync();
        await (await acme.GetAsync("/v1/admin/plans/bob")).AssertErrorAsync(404, "NOT_FOUND");
        // A tenant admin can never raise entitlements, its own or another tenant's.
        await (await acme.PatchAsJsonAsync("/v1/admin/plans/acme", new { plan_id = "enterprise" })).AssertErrorAsync(403, "FORBIDDEN");
        await (await acme.PatchAsJsonAsync("/v1/admin/plans/bob", new { plan_id = "enterprise" })).AssertErrorAsync(403, "FORBIDDEN");
        await (await acme.PatchAsJsonAsync("/v1/admin/plans/acme/overrides", new { feature_key = "feature.audit_access", enabled = true })).AssertErrorAsync(403, "FORBIDDEN");
        Assert.Equal("free", (await (await acme.GetAsync("/v1/admin/plans/acme")).DataAsync()).GetProperty("plan_id").GetString());
        Assert.Equal("free", (await (await op.GetAsync("/v1/admin/plans/bob")).DataAsync()).GetProperty("plan_id").GetString());

        await (await op.PatchAsJsonAsync("/v1/admin/plans/acme", new { plan_id = "platinum" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await op.PatchAsJsonAsync("/v1/admin/plans/acme/overrides", new { feature_key = "feature.teleport", enabled = true })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await op.PatchAsJsonAsync("/v1/admin/plans/acme/overrides", new { feature_key = "feature.tts" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await op.PatchAsJsonAsync("/v1/admin/plans/nobody", new { plan_id = "pro" })).AssertErrorAsync(404, "NOT_FOUND");
        var editor = app.ClientWithKey(await app.CreateKeyAsync("acme", Role.Editor));
        await (await editor.GetAsync("/v1/admin/plans/acme")).AssertErrorAsync(403, "FORBIDDEN");
    }
}
