using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Observability;
using NexusRag.Server.Hosting;
using NexusRag.Server.Http;
using NexusRag.Server.Ops;
using NexusRag.Server.Telemetry;

namespace NexusRag.Server.Apis;

public sealed record OpsCheckDto(string Status, bool Degraded, string? Detail, double DurationMs, IReadOnlyDictionary<string, object>? Data);

public sealed record WorkerDto(string WorkerId, string Role, string Host, int ProcessId, int Loops, DateTime StartedAt, DateTime LastSeenAt, double AgeS);

/// <summary>Seed "Ops Endpoints": 200 even when degraded; <c>degraded</c> names each dependency.</summary>
public sealed record OpsHealthDto(string Status, IReadOnlyDictionary<string, bool> Degraded, IReadOnlyDictionary<string, OpsCheckDto> Checks,
    double? WorkerHeartbeatAgeS, long? QueueDepth, long? IndexLag, IReadOnlyDictionary<string, string> CircuitBreakers,
    IReadOnlyList<WorkerDto>? Workers, string Version, string Role, string Scope);

public sealed record IngestionStatsDto(int Hours, string Scope, long Total, IReadOnlyDictionary<string, long> ByState,
    IReadOnlyList<FailureCount> FailuresByReason, IReadOnlyDictionary<string, double?> DurationMs);

public sealed record SloDto(string Window, double? Availability, IReadOnlyDictionary<string, double?> P95, SloBudgetDto ErrorBudget, string Status,
    double Target, long Requests, long Errors, string Scope);

public sealed record SloBudgetDto(double RemainingPct, [property: System.Text.Json.Serialization.JsonPropertyName("burn_rate_5m")] double BurnRate5m);

public sealed record RouteClassStatsDto(long Requests, long Errors, double? P50Ms, double? P95Ms, double? P99Ms);

public sealed record OpsMetricsDto(string Scope,
    [property: System.Text.Json.Serialization.JsonPropertyName("requests_5m")] IReadOnlyDictionary<string, RouteClassStatsDto> Requests5m,
    [property: System.Text.Json.Serialization.JsonPropertyName("requests_1h")] IReadOnlyDictionary<string, RouteClassStatsDto> Requests1h,
    IReadOnlyDictionary<string, long>? Jobs, long? QueueDepth, IReadOnlyDictionary<string, BulkheadDto> Bulkheads,
    IReadOnlyDictionary<string, string> CircuitBreakers, ProcessDto? Process);

public sealed record BulkheadDto(int InUse, int Limit);

public sealed record ProcessDto(double UptimeS, long WorkingSetBytes, long GcHeapBytes, int Gen0Collections, int Gen2Collections,
    int ThreadPoolThreads, long ThreadPoolQueueLength, double CpuSeconds);

/// <summary>
/// Seed "Ops Endpoints" and "SLO &amp; Error Budget": <c>/v1/ops/health</c>, <c>/v1/ops/ingestion</c>, <c>/v1/ops/metrics</c>,
/// <c>/v1/ops/slo</c>. A tenant admin (with <c>feature.ops_admin_access</c>) sees its tenant's queue, ingestion, requests
/// and SLO; the platform operator sees the whole platform (or one tenant with <c>?tenant_id=</c>) and the worker list.
/// </summary>
public static class OpsApi
{
    public static IEndpointRouteBuilder MapOpsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/ops").WithTags("Ops").WithAuditCategory("ops").RequireAdminOrOperator().WithRateClass(RouteClasses.Ops)
            .AddEndpointFilter(async (ic, next) =>
            {
                var p = ic.HttpContext.GetPrincipal();
                if (!p.IsOperator)
                    await ic.HttpContext.RequestServices.GetRequiredService<Entitlements>().EnsureAsync(p.TenantId, Plans.OpsAdminAccess, ic.HttpContext.RequestAborted);
                return await next(ic);
            });
        g.MapGet("/health", Health).Produces<Envelope<OpsHealthDto>>();
        g.MapGet("/ingestion", Ingestion).Produces<Envelope<IngestionStatsDto>>();
        g.MapGet("/metrics", Metrics).Produces<Envelope<OpsMetricsDto>>();
        g.MapGet("/slo", Slo).Produces<Envelope<SloDto>>();
        return app;
    }

    /// <summary>The tenant the caller may look at: its own, or for the operator all (null) or the one it names.</summary>
    private static string? Scope(HttpContext ctx, string? tenantId)
    {
        var p = ctx.GetPrincipal();
        if (!p.IsOperator)
        {
            if (tenantId is not null && tenantId != p.TenantId) throw NexusException.NotFound("tenant", tenantId);
            return p.TenantId;
        }
        return string.IsNullOrWhiteSpace(tenantId) ? null : tenantId;
    }

    private static async Task<IResult> Health(HttpContext ctx, HealthCheckService checks, IOpsStore ops, RoleInfo role, ServiceInfo info,
        CircuitBreakerBoard breakers, TimeProvider clock, string? tenant_id)
    {
        var scope = Scope(ctx, tenant_id);
        var report = await checks.CheckHealthAsync(r => r.Tags.Contains("ops"), ctx.RequestAborted);
        var dtos = report.Entries.ToDictionary(e => e.Key, e => new OpsCheckDto(
            e.Value.Status switch { HealthStatus.Healthy => "ok", HealthStatus.Degraded => "degraded", _ => "down" },
            e.Value.Status != HealthStatus.Healthy, e.Value.Description ?? e.Value.Exception?.GetType().Name,
            Math.Round(e.Value.Duration.TotalMilliseconds, 1), e.Value.Data.Count == 0 ? null : e.Value.Data.ToDictionary(kv => kv.Key, kv => kv.Value)));
        var degraded = dtos.ToDictionary(kv => kv.Key, kv => kv.Value.Degraded);
        var dbUp = !degraded.GetValueOrDefault("database");
        long? queueDepth = null;
        IReadOnlyList<WorkerDto>? workers = null;
        double? heartbeatAge = null;
        if (dbUp)
        {
            try
            {
                queueDepth = await ops.QueueDepthAsync(scope, ctx.RequestAborted);
                if (ctx.GetPrincipal().IsOperator)
                {
                    var now = clock.GetUtcNow().UtcDateTime;
                    workers = (await ops.HeartbeatsAsync(ctx.RequestAborted)).Select(b => new WorkerDto(b.WorkerId, b.Role, b.Host, b.ProcessId, b.Loops,
                        b.StartedAt, b.LastSeenAt, Math.Round(Math.Max(0, (now - b.LastSeenAt).TotalSeconds), 1))).ToList();
                }
            }
            catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex))
            {
                degraded["database"] = true;
                dtos["database"] = new OpsCheckDto("down", true, ex.GetBaseException().GetType().Name, 0, null);
            }
        }
        long? lag = dtos.TryGetValue("index", out var idx) && idx.Data?.GetValueOrDefault("lag") is long l ? l : null;
        heartbeatAge = dtos.TryGetValue("worker", out var worker) && worker.Data?.GetValueOrDefault("age_s") is double age ? age : null;
        var status = degraded.Values.Any(d => d) ? "degraded" : "ok";
        return ApiResults.Ok(ctx, new OpsHealthDto(status, degraded, dtos, heartbeatAge, queueDepth, lag, breakers.States(), workers,
            info.Version, role.Role.Wire(), scope ?? "platform"));
    }

    private static async Task<IResult> Ingestion(HttpContext ctx, IOpsStore ops, TimeProvider clock, int? hours, string? tenant_id)
    {
        var h = hours ?? 24;
        if (h is < 1 or > 720) throw NexusException.Validation("hours", "must be between 1 and 720");
        var scope = Scope(ctx, tenant_id);
        var stats = await ops.IngestionStatsAsync(scope, clock.GetUtcNow().UtcDateTime.AddHours(-h), ctx.RequestAborted);
        return ApiResults.Ok(ctx, new IngestionStatsDto(h, scope ?? "platform", stats.Total, stats.ByState, stats.Failures,
            new Dictionary<string, double?> { ["p50"] = stats.P50Ms, ["p95"] = stats.P95Ms }));
    }

    private static IResult Slo(HttpContext ctx, SloTracker slo, string? tenant_id)
    {
        var scope = Scope(ctx, tenant_id);
        var r = slo.Report(scope ?? SloTracker.All);
        return ApiResults.Ok(ctx, new SloDto(r.Window, r.Availability, r.P95, new SloBudgetDto(r.ErrorBudgetRemainingPct, r.BurnRate5m), r.Status,
            r.Target, r.Requests, r.Errors, scope ?? "platform"));
    }

    private static async Task<IResult> Metrics(HttpContext ctx, SloTracker slo, IOpsStore ops, OpsSampler sampler, Bulkheads bulkheads,
        CircuitBreakerBoard breakers, ServiceInfo info, TimeProvider clock, string? tenant_id)
    {
        var scope = Scope(ctx, tenant_id);
        var key = scope ?? SloTracker.All;
        static Dictionary<string, RouteClassStatsDto> Map(IReadOnlyDictionary<string, SloTracker.ClassWindow> w) =>
            w.ToDictionary(kv => kv.Key, kv => new RouteClassStatsDto(kv.Value.Requests, kv.Value.Errors, kv.Value.P50Ms, kv.Value.P95Ms, kv.Value.P99Ms));
        long? depth;
        try { depth = scope is null ? sampler.QueueDepth : await ops.QueueDepthAsync(scope, ctx.RequestAborted); }
        catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex)) { depth = null; }
        ProcessDto? process = null;
        if (scope is null)
        {
            using var self = Process.GetCurrentProcess();
            process = new ProcessDto(Math.Round((clock.GetUtcNow() - info.StartedAt).TotalSeconds, 1), self.WorkingSet64, GC.GetTotalMemory(false),
                GC.CollectionCount(0), GC.CollectionCount(2), ThreadPool.ThreadCount, ThreadPool.PendingWorkItemCount, Math.Round(self.TotalProcessorTime.TotalSeconds, 2));
        }
        return ApiResults.Ok(ctx, new OpsMetricsDto(scope ?? "platform", Map(slo.Window(5, key)), Map(slo.Window(SloTracker.WindowMinutes, key)),
            scope is null ? sampler.Jobs : null, depth,
            new[] { Bulkhead.Run, Bulkhead.Ingest }.ToDictionary(b => b, b => new BulkheadDto(bulkheads.InUse(b), bulkheads.Limit(b))),
            breakers.States(), process));
    }
}
