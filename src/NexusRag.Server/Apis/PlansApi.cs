using System.Text.Json;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Model;
using NexusRag.Core.Ports;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class AssignPlanRequest
{
    public string? PlanId { get; set; }
}

public sealed class OverrideRequest
{
    public string? FeatureKey { get; set; }
    public bool? Enabled { get; set; }
    public JsonElement? ConfigJson { get; set; }
}

public sealed record PlanDto(string PlanId, IReadOnlyList<string> Features);
public sealed record OverrideDto(string FeatureKey, bool Enabled, JsonElement? ConfigJson);
public sealed record TenantPlanDto(string TenantId, string PlanId, IReadOnlyDictionary<string, bool> Features, IReadOnlyList<OverrideDto> Overrides);

/// <summary>Seed "Plans &amp; Entitlements": the plan matrix, a tenant's plan and feature overrides (admin, own tenant only).</summary>
public static class PlansApi
{
    public static IEndpointRouteBuilder MapPlansApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin/plans").WithTags("Plans");
        g.MapGet("/", (HttpContext ctx) => ApiResults.Ok(ctx, Plans.All.Select(p => new PlanDto(p, Plans.FeaturesOf(p))).ToList()))
            .RequireRole(Role.Admin).Produces<Envelope<IReadOnlyList<PlanDto>>>();
        g.MapGet("/{tenantId}", Get).RequireRole(Role.Admin).Produces<Envelope<TenantPlanDto>>();
        g.MapPatch("/{tenantId}", Assign).RequireRole(Role.Admin).Accepts<AssignPlanRequest>("application/json").Produces<Envelope<TenantPlanDto>>();
        g.MapPatch("/{tenantId}/overrides", Override).RequireRole(Role.Admin).Accepts<OverrideRequest>("application/json").Produces<Envelope<TenantPlanDto>>();
        return app;
    }

    private static async Task<IResult> Get(HttpContext ctx, string tenantId, Entitlements entitlements, IPlanStore store) =>
        ApiResults.Ok(ctx, await DtoAsync(ctx.OwnTenant(tenantId), entitlements, store, ctx.RequestAborted));

    private static async Task<IResult> Assign(HttpContext ctx, string tenantId, Entitlements entitlements, IPlanStore store, IAuditLog audit)
    {
        var tenant = ctx.OwnTenant(tenantId);
        var body = await JsonBody.ReadAsync<AssignPlanRequest>(ctx.Request);
        if (body.PlanId is not { } plan || !Plans.All.Contains(plan)) throw ApiException.Validation("plan_id", $"must be one of {string.Join(", ", Plans.All)}");
        await store.SetPlanAsync(tenant, plan, ctx.RequestAborted);
        await ctx.AuditAsync(audit, "plans.assigned", "tenant", tenant, new() { ["plan_id"] = plan });
        return ApiResults.Ok(ctx, await DtoAsync(tenant, entitlements, store, ctx.RequestAborted));
    }

    private static async Task<IResult> Override(HttpContext ctx, string tenantId, Entitlements entitlements, IPlanStore store, IAuditLog audit)
    {
        var tenant = ctx.OwnTenant(tenantId);
        var body = await JsonBody.ReadAsync<OverrideRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        if (body.FeatureKey is not { } key || !Plans.Matrix.ContainsKey(key)) errors["feature_key"] = ["must be a known feature key (GET /v1/admin/plans)"];
        if (body.Enabled is null) errors["enabled"] = ["is required (true or false)"];
        if (body.ConfigJson is { } cfg && cfg.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null)) errors["config_json"] = ["must be an object"];
        if (errors.Count > 0) throw ApiException.Validation(errors);
        var config = body.ConfigJson is { ValueKind: JsonValueKind.Object } c ? c.GetRawText() : null;
        await store.SetOverrideAsync(tenant, new PlanOverride(body.FeatureKey!, body.Enabled!.Value, config), ctx.RequestAborted);
        await ctx.AuditAsync(audit, "plans.override.updated", "tenant", tenant, new() { ["feature_key"] = body.FeatureKey, ["enabled"] = body.Enabled });
        return ApiResults.Ok(ctx, await DtoAsync(tenant, entitlements, store, ctx.RequestAborted));
    }

    private static async Task<TenantPlanDto> DtoAsync(string tenant, Entitlements entitlements, IPlanStore store, CancellationToken ct)
    {
        var (plan, features) = await entitlements.ResolveAsync(tenant, ct);
        var tp = await store.GetAsync(tenant, ct);
        return new TenantPlanDto(tenant, plan, features, tp.Overrides.Select(o =>
        {
            JsonElement? cfg = null;
            if (o.ConfigJson is { } j) { using var d = JsonDocument.Parse(j); cfg = d.RootElement.Clone(); }
            return new OverrideDto(o.FeatureKey, o.Enabled, cfg);
        }).ToList());
    }
}

public static class FeatureEndpointExtensions
{
    /// <summary>403 <c>FEATURE_NOT_ENABLED</c> unless the caller's tenant has the feature (checked before the handler).</summary>
    public static TBuilder RequireFeature<TBuilder>(this TBuilder builder, string featureKey) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (ic, next) =>
        {
            await ic.HttpContext.RequestServices.GetRequiredService<Entitlements>()
                .EnsureAsync(ic.HttpContext.GetPrincipal().TenantId, featureKey, ic.HttpContext.RequestAborted);
            return await next(ic);
        });
}
