using NexusRag.Server.Hosting;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

/// <summary><c>index_lag</c>: change-log entries committed but not yet applied to this replica's search index (null on a worker).</summary>
public sealed record HealthDto(string Status, string Version, string Environment, string Role, IReadOnlyDictionary<string, string> Checks, long? IndexLag);

/// <summary>Liveness/readiness in the shape of seed 004 §2.</summary>
public sealed record ProbeDto(string Status, long UptimeMs, DateTime Timestamp, IReadOnlyDictionary<string, string> Checks);

public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/health", V1Health).AllowPublic().WithTags("Health").Produces<Envelope<HealthDto>>();
        app.MapGet("/health", Probe).AllowPublic().WithTags("Health").Produces<ProbeDto>().Produces<ProbeDto>(503);
        return app;
    }

    private static async Task<IResult> V1Health(HttpContext ctx, Ops.HealthState health, ServiceInfo info, RoleInfo roleInfo)
    {
        var f = await health.GetAsync().WaitAsync(ctx.RequestAborted);
        var checks = new Dictionary<string, string> { ["database"] = f.DatabaseOk ? "ok" : "down", ["redis"] = f.Redis };
        if (f.IndexLag is { } lag) checks["index"] = lag == 0 ? "ok" : "catching_up";
        var ok = f.DatabaseOk && f.Redis != "down";
        return ApiResults.Ok(ctx, new HealthDto(ok ? "ok" : "degraded", info.Version, info.Environment, roleInfo.Role.Wire(), checks, f.IndexLag));
    }

    private static async Task<IResult> Probe(HttpContext ctx, Ops.HealthState health, ServiceInfo info, TimeProvider clock)
    {
        var f = await health.GetAsync().WaitAsync(ctx.RequestAborted);
        var now = clock.GetUtcNow();
        var dto = new ProbeDto(f.DatabaseOk ? "ok" : "degraded", (long)(now - info.StartedAt).TotalMilliseconds, now.UtcDateTime,
            new Dictionary<string, string> { ["http_server"] = "ok", ["database"] = f.DatabaseOk ? "ok" : "down" });
        return TypedResults.Json(dto, ApiJson.Options, statusCode: f.DatabaseOk ? 200 : 503);
    }
}
