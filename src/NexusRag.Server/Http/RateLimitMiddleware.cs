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
public sealed class RateLimitMiddleware(RequestDelegate next, RequestCharges charges)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        if (ctx.TryGetPrincipal() is not { } principal || ctx.GetEndpoint()?.Metadata.GetMetadata<RateClass>() is not { Name: var routeClass })
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        var outcome = await charges.RateLimitAsync(principal, routeClass, RequestIdMiddleware.Get(ctx), ctx.Request.Method, ctx.Request.Path.Value, ctx.RequestAborted)
            .ConfigureAwait(false);
        if (outcome.Degraded) ctx.Response.OnStarting(() => { ctx.Response.Headers["X-RateLimit-Status"] = "degraded"; return Task.CompletedTask; });
        if (outcome.Decision is not { } decision)
        {
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
        if (!decision.Allowed) throw RequestCharges.Refusal(decision, routeClass);
        await next(ctx).ConfigureAwait(false);
    }
}
