using NexusRag.Core.Compliance;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class EvaluateControlsRequest
{
    public int? WindowDays { get; set; }
}

public sealed class CreateBundleRequest
{
    public string? BundleType { get; set; }
    public DateTime? PeriodStart { get; set; }
    public DateTime? PeriodEnd { get; set; }
}

public sealed class ArtifactRequest
{
    public string? ArtifactType { get; set; }
    public string? ArtifactUri { get; set; }
    public string? Sha256 { get; set; }
    public string? Notes { get; set; }
}

public sealed record SnapshotDto(string Id, DateTime CapturedAt, DateTime CreatedAt, int WindowDays, string Status, IReadOnlyList<ControlResult> ResultsJson, string CreatedBy)
{
    public static SnapshotDto From(ComplianceSnapshot s) => new(s.Id, s.CapturedAt, s.CapturedAt, s.WindowDays, s.Status, s.Results, s.CreatedBy);
}

/// <summary>
/// SOC 2 automation for the platform operator (seed "SOC 2 Compliance Automation"): control evaluation into snapshots,
/// signed evidence bundles and their verification, manual artefacts (CC8.1) and the compliance status. It spans every
/// tenant, so tenant keys are refused (403).
/// </summary>
public static class ComplianceApi
{
    public static IEndpointRouteBuilder MapComplianceApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin/compliance").WithTags("Compliance").WithAuditCategory("compliance");
        g.MapPost("/evaluate", Evaluate).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Accepts<EvaluateControlsRequest>("application/json")
            .Produces<Envelope<SnapshotDto>>(201).WithSummary("Evaluate the baseline controls (CC6.1, CC6.2, CC7.1, CC7.2, CC8.1, A1.1, C1.1) into a snapshot.");
        g.MapGet("/snapshots", Snapshots).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<SnapshotDto>>>();
        g.MapGet("/snapshots/{id}", Snapshot).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<SnapshotDto>>();
        g.MapPost("/bundles", CreateBundle).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Accepts<CreateBundleRequest>("application/json")
            .Produces<Envelope<ComplianceBundle>>(201).WithSummary("A signed evidence bundle for a period (a fresh evaluation, configuration redacted).");
        g.MapGet("/bundles", Bundles).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<ComplianceBundle>>>();
        g.MapGet("/bundles/{id}", Bundle).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<ComplianceBundle>>();
        g.MapGet("/bundles/{id}/download", Download).RequireOperator().WithRateClass(RouteClasses.Ops);
        // The seed's names for a snapshot's (newest) bundle.
        g.MapGet("/snapshots/{id}/download", DownloadOfSnapshot).RequireOperator().WithRateClass(RouteClasses.Ops);
        g.MapGet("/bundle/{id}.zip", DownloadOfSnapshot).RequireOperator().WithRateClass(RouteClasses.Ops);
        g.MapPost("/bundles/{id}/verify", Verify).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency();
        g.MapPost("/artifacts", AddArtifact).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Accepts<ArtifactRequest>("application/json")
            .Produces<Envelope<ComplianceArtifact>>(201);
        g.MapGet("/artifacts", Artifacts).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<ComplianceArtifact>>>();
        app.MapGet("/v1/ops/compliance/status", Status).WithTags("Compliance").WithAuditCategory("compliance").RequireOperator().WithRateClass(RouteClasses.Ops);
        return app;
    }

    private static async Task<IResult> Evaluate(HttpContext ctx, ComplianceService compliance)
    {
        var body = await JsonBody.ReadAsync<EvaluateControlsRequest>(ctx.Request, allowEmpty: true);
        var snapshot = await compliance.EvaluateAsync(ctx.GetPrincipal(), body.WindowDays ?? 30, ctx.TraceIdentifier, ctx.RequestAborted);
        return ApiResults.Ok(ctx, SnapshotDto.From(snapshot), StatusCodes.Status201Created);
    }

    private static async Task<IResult> Snapshots(HttpContext ctx, int? limit, IComplianceStore store)
    {
        if (limit is < 1 or > 200) throw NexusException.Validation("limit", "must be between 1 and 200");
        return ApiResults.Ok(ctx, (await store.ListSnapshotsAsync(limit ?? 20, ctx.RequestAborted)).Select(SnapshotDto.From).ToList());
    }

    private static async Task<IResult> Snapshot(HttpContext ctx, string id, IComplianceStore store) =>
        await store.GetSnapshotAsync(id, ctx.RequestAborted) is { } s ? ApiResults.Ok(ctx, SnapshotDto.From(s)) : throw NexusException.NotFound("compliance_snapshot", id);

    private static async Task<IResult> CreateBundle(HttpContext ctx, ComplianceService compliance)
    {
        var body = await JsonBody.ReadAsync<CreateBundleRequest>(ctx.Request, allowEmpty: true);
        var bundle = await compliance.CreateBundleAsync(ctx.GetPrincipal(), body.BundleType, body.PeriodStart, body.PeriodEnd, ctx.TraceIdentifier, ctx.RequestAborted);
        return ApiResults.Ok(ctx, bundle, StatusCodes.Status201Created);
    }

    private static async Task<IResult> Bundles(HttpContext ctx, IComplianceStore store) => ApiResults.Ok(ctx, await store.ListBundlesAsync(50, ctx.RequestAborted));

    private static async Task<IResult> Bundle(HttpContext ctx, string id, IComplianceStore store) =>
        await store.GetBundleAsync(id, ctx.RequestAborted) is { } b ? ApiResults.Ok(ctx, b) : throw NexusException.NotFound("compliance_bundle", id);

    private static async Task<IResult> Download(HttpContext ctx, string id, IComplianceStore store, ComplianceService compliance)
    {
        var bundle = await store.GetBundleAsync(id, ctx.RequestAborted) ?? throw NexusException.NotFound("compliance_bundle", id);
        var path = compliance.BundlePath(bundle.Id);
        if (!File.Exists(path)) throw NexusException.NotFound("compliance_bundle_file", id);
        ctx.Response.Headers["X-Content-SHA256"] = bundle.Sha256;
        return Results.File(path, "application/zip", $"{bundle.Id}.zip");
    }

    private static async Task<IResult> DownloadOfSnapshot(HttpContext ctx, string id, IComplianceStore store, ComplianceService compliance) =>
        await store.BundleOfSnapshotAsync(id, ctx.RequestAborted) is { } b
            ? await Download(ctx, b.Id, store, compliance)
            : throw NexusException.NotFound("compliance_bundle", id);

    private static async Task<IResult> Verify(HttpContext ctx, string id, ComplianceService compliance) =>
        ApiResults.Ok(ctx, new { bundle_id = id, verified = true, checks = await compliance.VerifyBundleAsync(id, ctx.RequestAborted) });

    private static async Task<IResult> AddArtifact(HttpContext ctx, ComplianceService compliance)
    {
        var body = await JsonBody.ReadAsync<ArtifactRequest>(ctx.Request);
        var artifact = await compliance.AddArtifactAsync(ctx.GetPrincipal(), body.ArtifactType, body.ArtifactUri, body.Sha256, body.Notes, ctx.TraceIdentifier, ctx.RequestAborted);
        return ApiResults.Ok(ctx, artifact, StatusCodes.Status201Created);
    }

    private static async Task<IResult> Artifacts(HttpContext ctx, IComplianceStore store) => ApiResults.Ok(ctx, await store.ListArtifactsAsync(null, ctx.RequestAborted));

    private static async Task<IResult> Status(HttpContext ctx, IComplianceStore store, TimeProvider clock)
    {
        var last = (await store.ListSnapshotsAsync(1, ctx.RequestAborted)).FirstOrDefault();
        var bundle = (await store.ListBundlesAsync(1, ctx.RequestAborted)).FirstOrDefault();
        return ApiResults.Ok(ctx, new
        {
            status = last?.Status ?? "never_evaluated",
            last_evaluation = last is null ? null : new
            {
                last.Id, captured_at = last.CapturedAt, age_hours = Math.Round((clock.GetUtcNow().UtcDateTime - last.CapturedAt).TotalHours, 2),
                controls = last.Results.ToDictionary(r => r.ControlId, r => r.Status),
            },
            last_bundle = bundle is null ? null : new { bundle.Id, bundle.CreatedAt, bundle.PeriodStart, bundle.PeriodEnd, bundle.Sha256 },
        });
    }
}
