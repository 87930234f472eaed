using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Ports;

namespace NexusRag.Server.Http;

/// <summary>What a rate-limit check decided; <see cref="Degraded"/>: the shared store failed and RL_FAIL_MODE=open let it through.</summary>
public sealed record RateLimitOutcome(RateLimitDecision? Decision, bool Degraded);

/// <summary>
/// The rate-limit and quota decisions of one request (seed "Rate Limiting", "Usage Quotas"), with their audit events and
/// refusals, in one place: the middlewares apply them to every endpoint by its metadata, and a call that carries more
/// than one request's worth of work (an MCP <c>ask</c> inside a read-class MCP request) charges the rest through them.
/// </summary>
public sealed class RequestCharges(IRateLimiter limiter, IOptions<RateLimitOptions> rateOptions, IQuotaStore quotas, QuotaLimitsProvider quotaLimits,
    IAuditLog audit, TimeProvider clock, ILogger<RequestCharges> logger)
{
    /// <summary>
    /// Checks the principal's buckets for <paramref name="routeClass"/>; a refusal is audited (<c>security.rate_limited</c>)
    /// and returned, for the caller to answer with <see cref="Refusal"/> (429 <c>RATE_LIMITED</c>) after its headers.
    /// </summary>
    public async Task<RateLimitOutcome> RateLimitAsync(Principal principal, string routeClass, string? requestId, string method, string? path, CancellationToken ct)
    {
        var o = rateOptions.Value;
        if (!o.Enabled) return new RateLimitOutcome(null, false);
        RateLimitDecision decision;
        try
        {
            decision = await limiter.CheckAsync(new RateLimitRequest(principal.TenantId, principal.ApiKeyId ?? $"actor:{principal.Actor}",
                routeClass, o.For(routeClass)), ct).ConfigureAwait(false);
        }
        catch (SharedStateUnavailableException ex)
        {
            logger.LogWarning("Rate limiter unavailable ({Error}); fail mode {Mode}", ex.Message, o.FailMode);
            if (o.FailMode == "closed")
                throw new NexusException(ErrorKind.Unavailable, ErrorCodes.RateLimitUnavailable, "Rate limiting is unavailable; retry shortly");
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "system.rate_limit.degraded", "degraded", "system", "rate_limiter",
                "route_class", routeClass, requestId, new Dictionary<string, object?> { ["error"] = Text.Clip(ex.Message, 200) }), ct).ConfigureAwait(false);
            return new RateLimitOutcome(null, true);
        }
        if (!decision.Allowed)
        {
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "security.rate_limited", "denied", principal.ActorType, principal.ActorId,
                "route_class", routeClass, requestId, new Dictionary<string, object?>
                {
                    ["scope"] = decision.Scope, ["retry_after_ms"] = decision.RetryAfterMs, ["method"] = method, ["path"] = path,
                }), ct).ConfigureAwait(false);
        }
        return new RateLimitOutcome(decision, false);
    }

    public static NexusException Refusal(RateLimitDecision decision, string routeClass) =>
        new(ErrorKind.RateLimited, ErrorCodes.RateLimited, "Rate limit exceeded", new Dictionary<string, object?>
        {
            ["scope"] = decision.Scope, ["route_class"] = routeClass, ["retry_after_ms"] = decision.RetryAfterMs,
        });

    /// <summary>
    /// Counts <paramref name="units"/> for a tenant with quota limits (null: none set, or the operator); soft-cap and overage
    /// events fire once per period; over a hard cap → audited <c>quota.hard_cap_blocked</c>, 402 <c>QUOTA_EXCEEDED</c>.
    /// </summary>
    public async Task<(QuotaDecision Decision, QuotaLimits Limits)?> ChargeQuotaAsync(Principal principal, int units, string? requestId, CancellationToken ct)
    {
        if (principal.IsOperator || await quotaLimits.GetAsync(principal.TenantId, ct).ConfigureAwait(false) is not { Any: true } limits) return null;
        var d = await quotas.CountAsync(principal.TenantId, limits, units, clock.GetUtcNow().UtcDateTime, ct).ConfigureAwait(false);
        foreach (var period in d.SoftCapCrossedNow)
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "quota.soft_cap_reached", "success", "system", "quota", "quota_period", period, requestId,
                Meta(period == "day" ? d.Day : d.Month)), ct).ConfigureAwait(false);
        foreach (var period in d.OverageObservedNow)
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "quota.overage_observed", "success", "system", "quota", "quota_period", period, requestId,
                Meta(period == "day" ? d.Day : d.Month)), ct).ConfigureAwait(false);
        if (!d.Allowed)
        {
            var u = d.BlockedPeriod == "day" ? d.Day : d.Month;
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "quota.hard_cap_blocked", "denied", "api_key", principal.ActorId, "quota_period", u.Period, requestId, Meta(u)),
                ct).ConfigureAwait(false);
            throw new NexusException(ErrorKind.QuotaExceeded, ErrorCodes.QuotaExceeded, $"{(u.Period == "day" ? "Daily" : "Monthly")} request quota exceeded",
                new Dictionary<string, object?> { ["period"] = u.Period, ["limit"] = u.Limit, ["used"] = u.Used, ["remaining"] = u.Remaining ?? 0 });
        }
        return (d, limits);

        static Dictionary<string, object?> Meta(PeriodUsage u) => new() { ["period"] = u.Period, ["start"] = u.Start, ["limit"] = u.Limit, ["used"] = u.Used };
    }
}
