using System.Text.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Transactions;
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

public sealed class UpgradeRequestBody
{
    public string? TargetPlan { get; set; }
    public string? Reason { get; set; }
}

public sealed record UpgradeRequestDto(string Id, string TenantId, string CurrentPlan, string TargetPlan, string? Reason, string Status, DateTime RequestedAt);

public sealed record PlanDto(string PlanId, IReadOnlyList<string> Features);
public sealed record OverrideDto(string FeatureKey, bool Enabled, JsonElement? ConfigJson);
public sealed record TenantPlanDto(string TenantId, string PlanId, IReadOnlyDictionary<string, bool> Features, IReadOnlyList<OverrideDto> Overrides);

/// <summary>
/// Seed "Plans &amp; Entitlements": the plan matrix, a tenant's plan and feature overrides. Assigning plans and overriding
/// features is the platform operator's (a tenant admin can never raise its own entitlements); a tenant admin reads its
/// own tenant's plan and asks for an upgrade through <c>/v1/self-serve/plan</c>.
/// </summary>
public static class PlansApi
{
    public static IEndpointRouteBuilder MapPlansApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin/plans").WithTags("Plans").WithAuditCategory("plans");
        g.MapGet("/", (HttpContext ctx) => ApiResults.Ok(ctx, Plans.All.Select(p => new PlanDto(p, Plans.FeaturesOf(p))).ToList()))
            .RequireAdminOrOperator().WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<PlanDto>>>();
        g.MapGet("/{tenantId}", Get).RequireAdminOrOperator().WithRateClass(RouteClasses.Read).Produces<Envelope<TenantPlanDto>>();
        g.MapPatch("/{tenantId}", Assign).RequireOperator().WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<AssignPlanRequest>("application/json").Produces<Envelope<TenantPlanDto>>();
        g.MapPatch("/{tenantId}/overrides", Override).RequireOperator().WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<OverrideRequest>("application/json").Produces<Envelope<TenantPlanDto>>();

        var self = app.MapGroup("/v1/self-serve/plan").WithTags("Plans").WithAuditCategory("self-serve");
        self.MapGet("/", SelfGet).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).Produces<Envelope<TenantPlanDto>>();
        self.MapPost("/upgrade-request", UpgradeRequest).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<UpgradeRequestBody>("application/json").Produces<Envelope<UpgradeRequestDto>>(202);
        return app;
    }

    private static async Task<IResult> Get(HttpContext ctx, string tenantId, Entitlements entitlements, IPlanStore store, IIdentityStore identity) =>
        ApiResults.Ok(ctx, await DtoAsync(await ctx.TenantInScopeAsync(tenantId, identity), entitlements, store, ctx.RequestAborted));

    private static async Task<IResult> SelfGet(HttpContext ctx, Entitlements entitlements, IPlanStore store, IAuditLog audit)
    {
        var tenant = ctx.GetPrincipal().TenantId;
        var dto = await DtoAsync(tenant, entitlements, store, ctx.RequestAborted);
        await ctx.AuditAsync(audit, "selfserve.plan.viewed", "tenant", tenant, new() { ["plan_id"] = dto.PlanId });
        return ApiResults.Ok(ctx, dto);
    }

    /// <summary>
    /// A tenant admin asks the operator for a higher plan (seed "Tenant Self-Serve API"): recorded as
    /// <c>plan.upgrade_requested</c> in the tenant's audit chain, with an outbox message for the operator's notification
    /// channel, in one transaction. Nothing changes until the operator assigns the plan.
    /// </summary>
    private static async Task<IResult> UpgradeRequest(HttpContext ctx, Entitlements entitlements, IUnitOfWork uow, IAuditLog audit, IOutbox outbox, TimeProvider clock)
    {
        var body = await JsonBody.ReadAsync<UpgradeRequestBody>(ctx.Request);
        var tenant = ctx.GetPrincipal().TenantId;
        var (current, _) = await entitlements.ResolveAsync(tenant, ctx.RequestAborted);
        var errors = new Dictionary<string, string[]>();
        if (body.TargetPlan is not { } target || !Plans.All.Contains(target)) errors["target_plan"] = [$"must be one of {string.Join(", ", Plans.All)}"];
        else if (Array.IndexOf(Plans.All, target) <= Array.IndexOf(Plans.All, current)) errors["target_plan"] = [$"must be a higher plan than the current '{current}'"];
        if (body.Reason is { Length: > 2000 }) errors["reason"] = ["must be at most 2000 characters"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var dto = new UpgradeRequestDto(Core.Services.Identifiers.NewId("upg"), tenant, current, body.TargetPlan!, body.Reason, "pending", clock.GetUtcNow().UtcDateTime);
        var meta = new Dictionary<string, object?> { ["upgrade_request_id"] = dto.Id, ["current_plan"] = current, ["target_plan"] = dto.TargetPlan, ["reason"] = dto.Reason };
        await uow.RunAsync(async ct =>
        {
            await ctx.AuditAsync(audit, "plan.upgrade_requested", "tenant", tenant, meta);
            await outbox.EnqueueAsync(new OutboxMessage(tenant, "plan.upgrade_requested", System.Text.Json.JsonSerializer.Serialize(meta)), ct);
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, dto, StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> Assign(HttpContext ctx, string tenantId, Entitlements entitlements, IPlanStore store, IAuditLog audit, IIdentityStore identity, IUnitOfWork uow)
    {
        var tenant = await ctx.TenantInScopeAsync(tenantId, identity);
        var body = await JsonBody.ReadAsync<AssignPlanRequest>(ctx.Request);
        if (body.PlanId is not { } plan || !Plans.All.Contains(plan)) throw NexusException.Validation("plan_id", $"must be one of {string.Join(", ", Plans.All)}");
        await uow.RunAsync(async ct =>
        {
            await store.SetPlanAsync(tenant, plan, ct);
            await ctx.AuditForAsync(audit, tenant, "plans.assigned", "tenant", tenant, new() { ["plan_id"] = plan });
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, await DtoAsync(tenant, entitlements, store, ctx.RequestAborted));
    }

    private static async Task<IResult> Override(HttpContext ctx, string tenantId, Entitlements entitlements, IPlanStore store, IAuditLog audit, IIdentityStore identity, IUnitOfWork uow)
    {
        var tenant = await ctx.TenantInScopeAsync(tenantId, identity);
        var body = await JsonBody.ReadAsync<OverrideRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        if (body.FeatureKey is not { } key || !Plans.Matrix.ContainsKey(key)) errors["feature_key"] = ["must be a known feature key (GET /v1/admin/plans)"];
        if (body.Enabled is null) errors["enabled"] = ["is required (true or false)"];
        if (body.ConfigJson is { } cfg && cfg.ValueKind is not (JsonValueKind.Object or JsonValueKind.Null)) errors["config_json"] = ["must be an object"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var config = body.ConfigJson is { ValueKind: JsonValueKind.Object } c ? c.GetRawText() : null;
        await uow.RunAsync(async ct =>
        {
            await store.SetOverrideAsync(tenant, new PlanOverride(body.FeatureKey!, body.Enabled!.Value, config), ct);
            await ctx.AuditForAsync(audit, tenant, "plans.override.updated", "tenant", tenant, new() { ["feature_key"] = body.FeatureKey, ["enabled"] = body.Enabled });
            return 0;
        }, ctx.RequestAborted);
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
