using System.Globalization;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Ports;

namespace NexusRag.Server.Http;

/// <summary>
/// Token buckets per API key and per tenant for the route class the endpoint declares (<see cref="RateClass"/>; seed "Rate Limiting"). Refusals are 429
/// <c>RATE_LIMITED</c> with <c>Retry-After</c>, <c>X-RateLimit-Scope</c>, <c>X-RateLimit-Route-Class</c>,
/// <c>X-RateLimit-Retry-After-Ms</c> and are audited as <c>security.rate_limited</c>; every limited response carries
/// <c>X-RateLimit-Limit</c>, <c>X-RateLimit-Remaining</c>, <c>X-RateLimit-Reset</c> for the key bucket. When the shared
/// store fails: <c>RL_FAIL_MODE=open</c> lets traffic through with <c>X-RateLimit-Status: degraded</c>, <c>closed</c>
/// answers 503 <c>RATE_LIMIT_UNAVAILABLE</c>.
/// </summary>
public sealed class RateLimitMiddleware(RequestDelegate next, IRateLimiter limiter, IOptions<RateLimitOptions> options, IAuditLog audit,
    ILogger<RateLimitMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        var o = options.Value;
        if (!o.Enabled || ctx.TryGetPrincipal() is not { } principal || ctx.GetEndpoint()?.Metadata.GetMetadata<RateClass>() is not { Name: var routeClass })
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        RateLimitDecision decision;
        try
        {
            decision = await limiter.CheckAsync(new RateLimitRequest(principal.TenantId, principal.ApiKeyId ?? $"actor:{principal.Actor}",
                routeClass, o.For(routeClass)), ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (SharedStateUnavailableException ex)
        {
            logger.LogWarning("Rate limiter unavailable ({Error}); fail mode {Mode}", ex.Message, o.FailMode);
            if (o.FailMode == "closed")
                throw new NexusException(ErrorKind.Unavailable, ErrorCodes.RateLimitUnavailable, "Rate limiting is unavailable; retry shortly");
            ctx.Response.OnStarting(() => { ctx.Response.Headers["X-RateLimit-Status"] = "degraded"; return Task.CompletedTask; });
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "system.rate_limit.degraded", "degraded", "system", "rate_limiter",
                "route_class", routeClass, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?> { ["error"] = Text.Clip(ex.Message, 200) }),
                ctx.RequestAborted).ConfigureAwait(false);
            await next(ctx).ConfigureAwait(false);
            return;
        }

        ctx.Response.OnStarting(() =>
        {
            var h = ctx.Response.Headers;
            h["X-RateLimit-Limit"] = decision.Limit.ToString(CultureInfo.InvariantCulture);
            h["X-RateLimit-Remaining"] = Math.Max(0, decision.Remaining).ToString(CultureInfo.InvariantCulture);
            h["X-RateLimit-Reset"] = decision.ResetSeconds.ToString(CultureInfo.InvariantCulture);
            if (!decision.Allowed)
            {
                h.RetryAfter = Math.Max(1, (long)Math.Ceiling(decision.RetryAfterMs / 1000.0)).ToString(CultureInfo.InvariantCulture);
                h["X-RateLimit-Scope"] = decision.Scope;
                h["X-RateLimit-Route-Class"] = routeClass;
                h["X-RateLimit-Retry-After-Ms"] = decision.RetryAfterMs.ToString(CultureInfo.InvariantCulture);
            }
            return Task.CompletedTask;
        });
        if (decision.Allowed)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        await audit.AppendAsync(new AuditEntry(principal.TenantId, "security.rate_limited", "denied", principal.ActorType, principal.ActorId,
            "route_class", routeClass, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?>
            {
                ["scope"] = decision.Scope, ["retry_after_ms"] = decision.RetryAfterMs, ["method"] = ctx.Request.Method, ["path"] = ctx.Request.Path.Value,
            }), ctx.RequestAborted).ConfigureAwait(false);
        throw new NexusException(ErrorKind.RateLimited, ErrorCodes.RateLimited, "Rate limit exceeded", new Dictionary<string, object?>
        {
            ["scope"] = decision.Scope, ["route_class"] = routeClass, ["retry_after_ms"] = decision.RetryAfterMs,
        });
    }
}
