using System.Globalization;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Transactions;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class QuotaPatchRequest
{
    public int? DailyRequestsLimit { get; set; }
    public int? MonthlyRequestsLimit { get; set; }
    public double? SoftCapRatio { get; set; }
    public bool? HardCapEnabled { get; set; }
}

public sealed record QuotaDto(string TenantId, int? DailyRequestsLimit, int? MonthlyRequestsLimit, double SoftCapRatio, bool HardCapEnabled);
public sealed record UsageDto(string TenantId, string Period, string Start, int? Limit, long Used, long? Remaining);

/// <summary>
/// Seed "Usage Quotas" admin endpoints: a tenant admin reads its own tenant's limits and usage; only the platform
/// operator sets limits (on any tenant).
/// </summary>
public static class QuotasApi
{
    public static IEndpointRouteBuilder MapQuotasApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin").WithTags("Quotas").WithAuditCategory("quotas");
        g.MapGet("/quotas/{tenantId}", Get).RequireAdminOrOperator().WithRateClass(RouteClasses.Read).Produces<Envelope<QuotaDto>>();
        g.MapPatch("/quotas/{tenantId}", Patch).RequireOperator().WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<QuotaPatchRequest>("application/json").Produces<Envelope<QuotaDto>>();
        g.MapGet("/usage/{tenantId}", Usage).RequireAdminOrOperator().WithRateClass(RouteClasses.Read).Produces<Envelope<UsageDto>>();
        return app;
    }

    private static QuotaDto Dto(string tenant, QuotaLimits l) => new(tenant, l.DailyRequestsLimit, l.MonthlyRequestsLimit, l.SoftCapRatio, l.HardCapEnabled);

    private static async Task<IResult> Get(HttpContext ctx, string tenantId, IQuotaStore store, IIdentityStore identity)
    {
        var tenant = await ctx.TenantInScopeAsync(tenantId, identity);
        return ApiResults.Ok(ctx, Dto(tenant, await store.GetLimitsAsync(tenant, ctx.RequestAborted) ?? QuotaLimits.None));
    }

    private static async Task<IResult> Patch(HttpContext ctx, string tenantId, IQuotaStore store, QuotaLimitsProvider limits, IAuditLog audit,
        IIdentityStore identity, IUnitOfWork uow)
    {
        var tenant = await ctx.TenantInScopeAsync(tenantId, identity);
        var body = await JsonBody.ReadAsync<QuotaPatchRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        if (body.DailyRequestsLimit is < 1) errors["daily_requests_limit"] = ["must be a positive integer (or omitted)"];
        if (body.MonthlyRequestsLimit is < 1) errors["monthly_requests_limit"] = ["must be a positive integer (or omitted)"];
        if (body.SoftCapRatio is { } r && (r <= 0 || r > 1)) errors["soft_cap_ratio"] = ["must be in (0, 1]"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var current = await store.GetLimitsAsync(tenant, ctx.RequestAborted) ?? QuotaLimits.None;
        var next = new QuotaLimits(body.DailyRequestsLimit ?? current.DailyRequestsLimit, body.MonthlyRequestsLimit ?? current.MonthlyRequestsLimit,
            body.SoftCapRatio ?? current.SoftCapRatio, body.HardCapEnabled ?? current.HardCapEnabled);
        await uow.RunAsync(async ct =>
        {
            await store.SetLimitsAsync(tenant, next, ct);
            await ctx.AuditForAsync(audit, tenant, "quotas.updated", "tenant", tenant, new()
            {
                ["daily"] = next.DailyRequestsLimit, ["monthly"] = next.MonthlyRequestsLimit, ["soft_cap_ratio"] = next.SoftCapRatio, ["hard_cap_enabled"] = next.HardCapEnabled,
            });
            return 0;
        }, ctx.RequestAborted);
        limits.Invalidate(tenant);
        return ApiResults.Ok(ctx, Dto(tenant, next));
    }

    private static async Task<IResult> Usage(HttpContext ctx, string tenantId, IQuotaStore store, IIdentityStore identity, TimeProvider clock, string? period, string? start)
    {
        var tenant = await ctx.TenantInScopeAsync(tenantId, identity);
        var p = period ?? "month";
        if (p is not ("day" or "month")) throw NexusException.Validation("period", "must be day or month");
        var at = clock.GetUtcNow().UtcDateTime;
        if (start is not null && !DateTime.TryParseExact(start, ["yyyy-MM-dd", "yyyy-MM"], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at))
            throw NexusException.Validation("start", "must be a date (YYYY-MM-DD)");
        var key = p == "day" ? QuotaPeriods.Day(at) : QuotaPeriods.Month(at);
        var used = await store.UsedAsync(tenant, $"{p}:{key}", ctx.RequestAborted);
        var limits = await store.GetLimitsAsync(tenant, ctx.RequestAborted) ?? QuotaLimits.None;
        var limit = p == "day" ? limits.DailyRequestsLimit : limits.MonthlyRequestsLimit;
        return ApiResults.Ok(ctx, new UsageDto(tenant, p, key, limit, used, limit is { } l ? Math.Max(0, l - used) : null));
    }
}
