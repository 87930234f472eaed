using System.Text.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Transactions;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class KillSwitchPatch
{
    public Dictionary<string, JsonElement>? KillSwitches { get; set; }
}

public sealed class CanaryPatch
{
    public Dictionary<string, JsonElement>? CanaryPercentages { get; set; }
}

public sealed record KillSwitchesDto(IReadOnlyDictionary<string, bool> KillSwitches);
public sealed record CanaryDto(IReadOnlyDictionary<string, int> CanaryPercentages);

/// <summary>
/// Seed "Rollout Controls": platform-wide kill switches and canary percentages. They span tenants, so only the platform
/// operator changes them (audited in the platform's own chain); tenant admins may read them.
/// </summary>
public static class RolloutsApi
{
    public static IEndpointRouteBuilder MapRolloutsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin/rollouts").WithTags("Rollouts").WithAuditCategory("rollouts");
        g.MapGet("/killswitches", GetKill).RequireAdminOrOperator().WithRateClass(RouteClasses.Read).Produces<Envelope<KillSwitchesDto>>();
        g.MapPatch("/killswitches", PatchKill).RequireOperator().WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<KillSwitchPatch>("application/json").Produces<Envelope<KillSwitchesDto>>();
        g.MapGet("/canary", GetCanary).RequireAdminOrOperator().WithRateClass(RouteClasses.Read).Produces<Envelope<CanaryDto>>();
        g.MapPatch("/canary", PatchCanary).RequireOperator().WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<CanaryPatch>("application/json").Produces<Envelope<CanaryDto>>();

        // A tenant admin pausing its own tenant: affects that tenant only (ingestion endpoints and held jobs, or /v1/run).
        var own = app.MapGroup("/v1/self-serve/killswitches").WithTags("Rollouts").WithAuditCategory("self-serve");
        own.MapGet("/", GetOwnKill).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).Produces<Envelope<KillSwitchesDto>>();
        own.MapPatch("/", PatchOwnKill).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<KillSwitchPatch>("application/json").Produces<Envelope<KillSwitchesDto>>();
        return app;
    }

    private static KillSwitchesDto OwnDto(RolloutState state, string tenant) =>
        new(KillSwitches.Known.ToDictionary(k => k, k => state.TenantKillSwitches?.GetValueOrDefault(tenant)?.Contains(k) == true));

    private static async Task<IResult> GetOwnKill(HttpContext ctx, IRolloutStore store) =>
        ApiResults.Ok(ctx, OwnDto(await store.GetAsync(ctx.RequestAborted), ctx.GetPrincipal().TenantId));

    private static async Task<IResult> PatchOwnKill(HttpContext ctx, IRolloutStore store, RolloutGate gate, IAuditLog audit, IUnitOfWork uow)
    {
        var values = ParseKillSwitches(await JsonBody.ReadAsync<KillSwitchPatch>(ctx.Request));
        var tenant = ctx.GetPrincipal().TenantId;
        await uow.RunAsync(async ct =>
        {
            await store.SetTenantKillSwitchesAsync(tenant, values, ct);
            await ctx.AuditAsync(audit, "rollouts.tenant_killswitches.updated", "tenant", tenant, new() { ["changes"] = values.ToDictionary(kv => kv.Key, kv => (object?)kv.Value) });
            return 0;
        }, ctx.RequestAborted);
        gate.Invalidate();
        return ApiResults.Ok(ctx, OwnDto(await store.GetAsync(ctx.RequestAborted), tenant));
    }

    private static Dictionary<string, bool> ParseKillSwitches(KillSwitchPatch body)
    {
        if (body.KillSwitches is not { Count: > 0 } patch) throw NexusException.Validation("kill_switches", "must be a non-empty object of switch: true|false");
        var errors = new Dictionary<string, string[]>();
        var values = new Dictionary<string, bool>();
        foreach (var (name, v) in patch)
        {
            if (!KillSwitches.Known.Contains(name)) errors[$"kill_switches.{Text.Clip(name, 64)}"] = [$"unknown switch; known: {string.Join(", ", KillSwitches.Known)}"];
            else if (v.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) errors[$"kill_switches.{name}"] = ["must be true or false"];
            else values[name] = v.GetBoolean();
        }
        if (errors.Count > 0) throw NexusException.Validation(errors);
        return values;
    }

    private static async Task<IResult> GetKill(HttpContext ctx, IRolloutStore store) =>
        ApiResults.Ok(ctx, new KillSwitchesDto((await store.GetAsync(ctx.RequestAborted)).KillSwitches));

    private static async Task<IResult> GetCanary(HttpContext ctx, IRolloutStore store) =>
        ApiResults.Ok(ctx, new CanaryDto((await store.GetAsync(ctx.RequestAborted)).CanaryPercentages));

    private static async Task<IResult> PatchKill(HttpContext ctx, IRolloutStore store, RolloutGate gate, IAuditLog audit, IUnitOfWork uow)
    {
        var values = ParseKillSwitches(await JsonBody.ReadAsync<KillSwitchPatch>(ctx.Request));
        await uow.RunAsync(async ct =>
        {
            await store.SetKillSwitchesAsync(values, ct);
            await ctx.AuditAsync(audit, "rollouts.killswitches.updated", "rollouts", "killswitches", new() { ["changes"] = values.ToDictionary(kv => kv.Key, kv => (object?)kv.Value) });
            return 0;
        }, ctx.RequestAborted);
        gate.Invalidate();
        return ApiResults.Ok(ctx, new KillSwitchesDto((await store.GetAsync(ctx.RequestAborted)).KillSwitches));
    }

    private static async Task<IResult> PatchCanary(HttpContext ctx, IRolloutStore store, RolloutGate gate, IAuditLog audit, IUnitOfWork uow)
    {
        var body = await JsonBody.ReadAsync<CanaryPatch>(ctx.Request);
        if (body.CanaryPercentages is not { Count: > 0 } patch) throw NexusException.Validation("canary_percentages", "must be a non-empty object of rollout: 0..100");
        var errors = new Dictionary<string, string[]>();
        var values = new Dictionary<string, int>();
        foreach (var (name, v) in patch)
        {
            if (!name.StartsWith("rollout.", StringComparison.Ordinal) || name.Length > 100) errors[$"canary_percentages.{Text.Clip(name, 64)}"] = ["names start with 'rollout.'"];
            else if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var p) || p is < 0 or > 100) errors[$"canary_percentages.{name}"] = ["must be an integer 0..100"];
            else values[name] = p;
        }
        if (errors.Count > 0) throw NexusException.Validation(errors);
        await uow.RunAsync(async ct =>
        {
            await store.SetCanaryAsync(values, ct);
            await ctx.AuditAsync(audit, "rollouts.canary.updated", "rollouts", "canary", new() { ["changes"] = values.ToDictionary(kv => kv.Key, kv => (object?)kv.Value) });
            return 0;
        }, ctx.RequestAborted);
        gate.Invalidate();
        return ApiResults.Ok(ctx, new CanaryDto((await store.GetAsync(ctx.RequestAborted)).CanaryPercentages));
    }
}

public static class KillSwitchEndpointExtensions
{
    /// <summary>Answers 503 <c>FEATURE_DISABLED</c> while the switch is on for the platform or the caller's tenant (checked before the handler runs).</summary>
    public static TBuilder RequireNotKilled<TBuilder>(this TBuilder builder, string killSwitch, string what) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (ic, next) =>
        {
            await ic.HttpContext.RequestServices.GetRequiredService<RolloutGate>()
                .EnsureEnabledAsync(killSwitch, what, ic.HttpContext.GetPrincipal().TenantId, ic.HttpContext.RequestAborted);
            return await next(ic);
        });
}
