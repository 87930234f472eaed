using System.Diagnostics;
using Microsoft.Extensions.Options;
using NexusRag.Core.Observability;
using NexusRag.Server.Http;

namespace NexusRag.Server.Telemetry;

/// <summary>
/// One measurement per request, used three ways: the <c>http.server.request.duration</c> histogram (route template,
/// route class, status class), the request and 5xx counters and <see cref="SloTracker"/>; plus <c>X-Trace-Id</c> on the
/// response, the request's log scope (request id, then tenant) and one access-log line at Information.
/// </summary>
public sealed class RequestTelemetryMiddleware(RequestDelegate next, NexusInstrumentation telemetry, SloTracker slo,
    IOptions<TelemetryOptions> options, ILoggerFactory loggers)
{
    public const string TraceHeader = "X-Trace-Id";
    private readonly ILogger _access = loggers.CreateLogger("NexusRag.Access");
    private readonly bool _accessLog = options.Value.AccessLog;

    public async Task InvokeAsync(HttpContext ctx)
    {
        var started = Stopwatch.GetTimestamp();
        if (Activity.Current is { } activity)
        {
            var traceId = activity.TraceId.ToHexString();
            ctx.Response.OnStarting(() =>
            {
                ctx.Response.Headers[TraceHeader] = traceId; // set late: an error answer clears the headers set before it
                return Task.CompletedTask;
            });
        }
        var scope = new RequestLogScope(RequestIdMiddleware.Get(ctx));
        ctx.Items[typeof(RequestLogScope)] = scope;
        using var logScope = _access.BeginScope(scope);
        var threw = false;
        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        catch
        {
            threw = true;
            throw;
        }
        finally
        {
            var status = threw && !ctx.Response.HasStarted ? (ctx.RequestAborted.IsCancellationRequested ? 499 : 500) : ctx.Response.StatusCode;
            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var endpoint = ctx.GetEndpoint();
            var route = (endpoint as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            var routeClass = endpoint?.Metadata.GetMetadata<RateClass>()?.Name ?? (endpoint is null ? "unmatched" : "public");
            var statusClass = StatusClass(status);
            var tags = new TagList
            {
                { "http.request.method", ctx.Request.Method }, { "http.route", route },
                { "route_class", routeClass }, { "status_class", statusClass },
            };
            telemetry.HttpDuration.Record(elapsed, tags);
            telemetry.HttpRequests.Add(1, new KeyValuePair<string, object?>("route_class", routeClass), new KeyValuePair<string, object?>("status_class", statusClass));
            if (status >= 500) telemetry.HttpErrors.Add(1, new KeyValuePair<string, object?>("route_class", routeClass));
            if (endpoint is not null) slo.Record(routeClass, elapsed, status, ctx.TryGetPrincipal() is { IsOperator: false } p ? p.TenantId : null);
            if (_accessLog && _access.IsEnabled(LogLevel.Information))
                _access.LogInformation("{Method} {Route} {Status} {DurationMs} ms", ctx.Request.Method, route, status, Math.Round(elapsed * 1000, 1));
        }
    }

    /// <summary>Puts the authenticated tenant on the request's log scope.</summary>
    public static void SetTenant(HttpContext ctx, string tenantId)
    {
        if (ctx.Items[typeof(RequestLogScope)] is RequestLogScope scope) scope.TenantId = tenantId;
    }

    private static string StatusClass(int status) => status switch
    {
        < 200 => "1xx",
        < 300 => "2xx",
        < 400 => "3xx",
        499 => "aborted",
        < 500 => "4xx",
        _ => "5xx",
    };
}
