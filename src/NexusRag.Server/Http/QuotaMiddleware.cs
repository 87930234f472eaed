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
public sealed class QuotaMiddleware(RequestDelegate next, RequestCharges charges)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        if (ctx.TryGetPrincipal() is not { } principal)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        var units = ctx.GetEndpoint()?.Metadata.GetMetadata<QuotaCost>()?.Units ?? 1;
        if (await charges.ChargeQuotaAsync(principal, units, RequestIdMiddleware.Get(ctx), ctx.RequestAborted).ConfigureAwait(false) is { } charged)
        {
            var (d, limits) = charged;
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
        }
        await next(ctx).ConfigureAwait(false);
    }
}
