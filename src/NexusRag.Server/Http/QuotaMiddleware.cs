using System.Globalization;
using NexusRag.Core.Audit;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;

namespace NexusRag.Server.Http;

/// <summary>
/// Daily and monthly request caps per tenant (seed "Usage Quotas"), for tenants with quotas set through
/// <c>/v1/admin/quotas/{tenant}</c>. Runs after rate limiting, so throttled requests do not count. A request counts the
/// endpoint's <see cref="QuotaCost"/> (1 unless declared; <c>/v1/run</c> declares 3); the platform operator is not a
/// tenant and is not counted. Over a hard cap: 402 <c>QUOTA_EXCEEDED</c> (enforce) or an overage event (observe).
/// Successful responses carry every <c>X-Quota-*</c> header; soft-cap and overage events fire once per period.
/// </summary>
public sealed class QuotaMiddleware(RequestDelegate next, IQuotaStore store, QuotaLimitsProvider quotaLimits, IAuditLog audit, TimeProvider clock)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        if (ctx.TryGetPrincipal() is not { IsOperator: false } principal
            || await quotaLimits.GetAsync(principal.TenantId, ctx.RequestAborted).ConfigureAwait(false) is not { Any: true } limits)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        var units = ctx.GetEndpoint()?.Metadata.GetMetadata<QuotaCost>()?.Units ?? 1;
        var d = await store.CountAsync(principal.TenantId, limits, units, clock.GetUtcNow().UtcDateTime, ctx.RequestAborted).ConfigureAwait(false);
        var actor = principal.ActorId;
        var requestId = RequestIdMiddleware.Get(ctx);
        foreach (var period in d.SoftCapCrossedNow)
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "quota.soft_cap_reached", "success", "system", "quota", "quota_period", period, requestId,
                Meta(period == "day" ? d.Day : d.Month)), ctx.RequestAborted).ConfigureAwait(false);
        foreach (var period in d.OverageObservedNow)
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "quota.overage_observed", "success", "system", "quota", "quota_period", period, requestId,
                Meta(period == "day" ? d.Day : d.Month)), ctx.RequestAborted).ConfigureAwait(false);
        if (!d.Allowed)
        {
            var u = d.BlockedPeriod == "day" ? d.Day : d.Month;
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "quota.hard_cap_blocked", "denied", "api_key", actor, "quota_period", u.Period, requestId, Meta(u)),
                ctx.RequestAborted).ConfigureAwait(false);
            throw new NexusException(ErrorKind.QuotaExceeded, ErrorCodes.QuotaExceeded, $"{(u.Period == "day" ? "Daily" : "Monthly")} request quota exceeded",
                new Dictionary<string, object?> { ["period"] = u.Period, ["limit"] = u.Limit, ["used"] = u.Used, ["remaining"] = u.Remaining ?? 0 });
        }
        ctx.Response.OnStarting(() =>
        {
            var h = ctx.Response.Headers;
            string N(long? v) => v is { } x ? x.ToString(CultureInfo.InvariantCulture) : "unlimited";
            h["X-Quota-Day-Limit"] = N(d.Day.Limit);
            h["X-Quota-Day-Used"] = N(d.Day.Used);
            h["X-Quota-Day-Remaining"] = N(d.Day.Remaining);
            h["X-Quota-Month-Limit"] = N(d.Month.Limit);
            h["X-Quota-Month-Used"] = N(d.Month.Used);
            h["X-Quota-Month-Remaining"] = N(d.Month.Remaining);
            h["X-Quota-SoftCap-Reached"] = d.SoftCapReached ? "true" : "false";
            h["X-Quota-HardCap-Mode"] = limits.HardCapEnabled ? "enforce" : "observe";
            return Task.CompletedTask;
        });
        await next(ctx).ConfigureAwait(false);

        static Dictionary<string, object?> Meta(PeriodUsage u) => new() { ["period"] = u.Period, ["start"] = u.Start, ["limit"] = u.Limit, ["used"] = u.Used };
    }
}
