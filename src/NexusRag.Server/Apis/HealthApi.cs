using NexusRag.Core.Auth;
using NexusRag.Core.Documents;
using NexusRag.Core.Ports;
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

    private static async Task<IResult> V1Health(HttpContext ctx, IDatabaseHealth db, ServiceInfo info, RoleInfo roleInfo,
        IChunkChangeFeed feed, Core.Search.ISearchIndex index, ISharedStateHealth redis)
    {
        var role = roleInfo.Role;
        var dbOk = await db.IsHealthyAsync(ctx.RequestAborted);
        var redisState = await redis.CheckAsync(ctx.RequestAborted);
        var checks = new Dictionary<string, string> { ["database"] = dbOk ? "ok" : "down", ["redis"] = redisState };
        long? lag = null;
        if (role.ServesApi() && dbOk)
        {
            try
            {
                lag = await Ops.IndexHealthCheck.LagAsync(feed, index, ctx.RequestAborted);
                checks["index"] = lag == 0 ? "ok" : "catching_up";
            }
            catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex)) { dbOk = false; checks["database"] = "down"; }
        }
        var ok = dbOk && redisState != "down";
        return ApiResults.Ok(ctx, new HealthDto(ok ? "ok" : "degraded", info.Version, info.Environment, role.Wire(), checks, lag));
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
