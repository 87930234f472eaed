using NexusRag.Core.Ports;
using NexusRag.Server.Hosting;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed record HealthDto(string Status, string Version, string Environment, IReadOnlyDictionary<string, string> Checks);

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

    private static async Task<IResult> V1Health(HttpContext ctx, IDatabaseHealth db, ServiceInfo info)
    {
        var dbOk = await db.IsHealthyAsync(ctx.RequestAborted);
        var checks = new Dictionary<string, string> { ["database"] = dbOk ? "ok" : "down" };
        return ApiResults.Ok(ctx, new HealthDto(dbOk ? "ok" : "degraded", info.Version, info.Environment, checks));
    }

    private static async Task<IResult> Probe(HttpContext ctx, IDatabaseHealth db, ServiceInfo info, TimeProvider clock)
    {
        var dbOk = await db.IsHealthyAsync(ctx.RequestAborted);
        var now = clock.GetUtcNow();
        var dto = new ProbeDto(dbOk ? "ok" : "degraded", (long)(now - info.StartedAt).TotalMilliseconds, now.UtcDateTime,
            new Dictionary<string, string> { ["http_server"] = "ok", ["database"] = dbOk ? "ok" : "down" });
        return TypedResults.Json(dto, ApiJson.Options, statusCode: dbOk ? 200 : 503);
    }
}
