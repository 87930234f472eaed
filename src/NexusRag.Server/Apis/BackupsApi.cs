using System.Text.Json;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Backups;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Server.Http;
using NexusRag.Storage;
using NexusRag.Storage.Backups;

namespace NexusRag.Server.Apis;

public sealed class CreateBackupRequest
{
    public string? Type { get; set; }
}

public sealed record MaintenanceRunDto(string Id, string Task, string Status, string Trigger, string? JobId, DateTime CreatedAt, DateTime? StartedAt,
    DateTime? FinishedAt, JsonElement? Result, string? Error)
{
    public static MaintenanceRunDto From(MaintenanceRun r)
    {
        JsonElement? result = null;
        if (r.ResultJson is { } json) { using var doc = JsonDocument.Parse(json); result = doc.RootElement.Clone(); }
        return new(r.Id, r.Task, r.Status, r.Trigger, r.JobId, r.CreatedAt, r.StartedAt, r.FinishedAt, result, r.Error);
    }
}

public sealed record BackupSetDto(string Id, DateTime CreatedAt, string Type, string Store, string SchemaVersion, string Release, long Bytes,
    string Encryption, string Signing, IReadOnlyList<BackupComponent> Components, IReadOnlyDictionary<string, long> Counts, double DurationMs)
{
    public static BackupSetDto From(BackupManifest m) => new(m.Id, m.CreatedAt, m.Type, m.Store, m.SchemaVersion, m.Release, m.Components.Sum(c => c.Bytes),
        m.Policy.Encryption, m.Policy.Signing, m.Components, m.Facts.Counts, m.DurationMs);
}

/// <summary>
/// Disaster recovery for the platform operator (seed "Disaster Recovery", "Maintenance Tasks"): backup sets, maintenance
/// runs (each a leased job, recorded and audited on the platform chain) and DR readiness. Restores are a CLI step
/// (<c>nexusrag backup restore</c>) with the servers stopped.
/// </summary>
public static class BackupsApi
{
    public static IEndpointRouteBuilder MapBackupsApi(this IEndpointRouteBuilder app)
    {
        var admin = app.MapGroup("/v1/admin").WithTags("Disaster recovery").WithAuditCategory("backups");
        admin.MapPost("/backups", Create).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency()
            .Accepts<CreateBackupRequest>("application/json").Produces<Envelope<MaintenanceRunDto>>(202)
            .WithSummary("Start a backup (type all | db | schema | metadata) as a job; poll its maintenance run.");
        admin.MapGet("/backups", List).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<BackupSetDto>>>();
        admin.MapGet("/backups/{id}", Get).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<BackupSetDto>>();
        admin.MapPost("/maintenance/run", Run).RequireOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Produces<Envelope<MaintenanceRunDto>>(202)
            .WithSummary("Run a maintenance task now: prune_idempotency, prune_audit, prune_usage, backup_create_scheduled, backup_prune_retention, restore_drill_scheduled.");
        admin.MapGet("/maintenance/runs", Runs).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<MaintenanceRunDto>>>();
        admin.MapGet("/maintenance/runs/{id}", RunById).RequireOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<MaintenanceRunDto>>();
        app.MapGet("/v1/ops/dr/readiness", Readiness).WithTags("Disaster recovery").WithAuditCategory("backups").RequireOperator().WithRateClass(RouteClasses.Ops)
            .WithSummary("Last backup age, last successful restore drill, RPO/RTO estimates and what is missing.");
        return app;
    }

    private static async Task<IResult> Create(HttpContext ctx, IMaintenanceStore runs, IAuditLog audit, IOptions<BackupOptions> options)
    {
        var body = await JsonBody.ReadAsync<CreateBackupRequest>(ctx.Request, allowEmpty: true);
        var type = body.Type?.Trim().ToLowerInvariant() ?? "all";
        if (!BackupTypes.All.Contains(type)) throw NexusException.Validation("type", $"must be one of {string.Join(", ", BackupTypes.All)}");
        if (!options.Value.Enabled)
            throw new NexusException(ErrorKind.Conflict, "BACKUP_DISABLED", "Backups are switched off (BACKUP_ENABLED=false); the CLI still works");
        var run = await runs.EnqueueAsync(MaintenanceTasks.BackupCreateScheduled, "api", ctx.RequestAborted, JsonSerializer.Serialize(new { type }));
        await ctx.AuditForAsync(audit, Principal.PlatformTenant, "backups.requested", "maintenance_run", run.Id, new() { ["type"] = type });
        return ApiResults.Ok(ctx, MaintenanceRunDto.From(run), StatusCodes.Status202Accepted);
    }

    private static IResult List(HttpContext ctx, BackupService backups) =>
        ApiResults.Ok(ctx, backups.List().Select(BackupSetDto.From).ToList());

    private static IResult Get(HttpContext ctx, string id, BackupService backups) =>
        backups.List().FirstOrDefault(m => m.Id == id) is { } m ? ApiResults.Ok(ctx, BackupSetDto.From(m)) : throw NexusException.NotFound("backup", id);

    private static async Task<IResult> Run(HttpContext ctx, string? task, IMaintenanceStore runs, IAuditLog audit, IEnumerable<IMaintenanceTask> tasks)
    {
        if (string.IsNullOrWhiteSpace(task) || !MaintenanceTasks.All.Contains(task))
            throw NexusException.Validation("task", $"must be one of {string.Join(", ", MaintenanceTasks.All)}");
        if (tasks.All(t => t.Name != task)) throw new NexusException(ErrorKind.Conflict, "MAINTENANCE_TASK_UNAVAILABLE", $"{task} is not available on this deployment");
        var run = await runs.EnqueueAsync(task, "api", ctx.RequestAborted);
        await ctx.AuditForAsync(audit, Principal.PlatformTenant, "maintenance.run.requested", "maintenance_run", run.Id, new() { ["task"] = task });
        return ApiResults.Ok(ctx, MaintenanceRunDto.From(run), StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> Runs(HttpContext ctx, IMaintenanceStore runs, string? task, int? limit)
    {
        if (task is not null && !MaintenanceTasks.All.Contains(task)) throw NexusException.Validation("task", $"must be one of {string.Join(", ", MaintenanceTasks.All)}");
        if (limit is < 1 or > 200) throw NexusException.Validation("limit", "must be between 1 and 200");
        return ApiResults.Ok(ctx, (await runs.ListAsync(task, limit ?? 50, ctx.RequestAborted)).Select(MaintenanceRunDto.From).ToList());
    }

    private static async Task<IResult> RunById(HttpContext ctx, string id, IMaintenanceStore runs) =>
        await runs.GetAsync(id, ctx.RequestAborted) is { } r ? ApiResults.Ok(ctx, MaintenanceRunDto.From(r)) : throw NexusException.NotFound("maintenance_run", id);

    private static async Task<IResult> Readiness(HttpContext ctx, BackupService backups, IMaintenanceStore runs, IOptions<BackupOptions> options,
        IOptions<MaintenanceOptions> maintenance, IOptions<StorageOptions> storage, TimeProvider clock)
    {
        var o = options.Value;
        var now = clock.GetUtcNow().UtcDateTime;
        var last = backups.List().FirstOrDefault(m => m.Components.Any(c => c.Name == BackupComponents.Db));
        var drills = await runs.ListAsync(MaintenanceTasks.RestoreDrillScheduled, 50, ctx.RequestAborted);
        var lastDrill = drills.FirstOrDefault(r => r.Status is MaintenanceRunStatus.Succeeded or MaintenanceRunStatus.Failed);
        var lastGoodDrill = drills.FirstOrDefault(r => r.Status == MaintenanceRunStatus.Succeeded);
        double? restoreMs = null;
        if (lastGoodDrill?.ResultJson is { } json)
        {
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.TryGetProperty("restore_ms", out var ms)) restoreMs = ms.GetDouble();
        }
        var crons = maintenance.Value.Crons(o);
        double? intervalHours = null;
        if (crons.TryGetValue(MaintenanceTasks.BackupCreateScheduled, out var cron))
        {
            var e = Cronos.CronExpression.Parse(cron);
            if (e.GetNextOccurrence(now, TimeZoneInfo.Utc) is { } a && e.GetNextOccurrence(a, TimeZoneInfo.Utc) is { } b) intervalHours = (b - a).TotalHours;
        }
        var ageHours = last is null ? (double?)null : Math.Round((now - last.CreatedAt).TotalHours, 2);
        var missing = new List<string>();
        if (!o.Enabled) missing.Add("backups are switched off (BACKUP_ENABLED=false)");
        if (last is null) missing.Add("no backup with a database yet");
        else if (ageHours > Math.Max(24, (intervalHours ?? 24) * 2)) missing.Add($"the last backup is {ageHours:F0} h old");
        if (intervalHours is null) missing.Add("no backup schedule (BACKUP_SCHEDULE_CRON)");
        if (!o.EncryptionEnabled) missing.Add("backups are not encrypted (BACKUP_ENCRYPTION_ENABLED)");
        if (!o.SigningEnabled) missing.Add("backups are not signed (BACKUP_SIGNING_ENABLED)");
        if (!o.RequireSignature) missing.Add("restores accept unsigned backups (RESTORE_REQUIRE_SIGNATURE=false)");
        if (lastGoodDrill is null) missing.Add("no successful restore drill yet");
        else if ((now - (lastGoodDrill.FinishedAt ?? lastGoodDrill.CreatedAt)).TotalDays > 30) missing.Add("no successful restore drill in the last 30 days");
        if (string.IsNullOrWhiteSpace(o.DrillScheduleCron)) missing.Add("no restore drill schedule (RESTORE_DRILL_SCHEDULE_CRON)");
        var dataDir = storage.Value.ResolveDataDir() + Path.DirectorySeparatorChar;
        if ((backups.Root + Path.DirectorySeparatorChar).StartsWith(dataDir, StringComparison.Ordinal))
            missing.Add("BACKUP_LOCAL_DIR is inside the data directory: a lost disk loses the backups too");
        var critical = last is null || lastGoodDrill is null || !o.Enabled;
        return ApiResults.Ok(ctx, new Dictionary<string, object?>
        {
            ["status"] = critical ? "not_ready" : missing.Count > 0 ? "at_risk" : "ready",
            ["last_backup"] = last is null ? null : new Dictionary<string, object?>
            {
                ["id"] = last.Id, ["created_at"] = last.CreatedAt, ["age_hours"] = ageHours, ["type"] = last.Type,
                ["bytes"] = last.Components.Sum(c => c.Bytes), ["encryption"] = last.Policy.Encryption, ["signing"] = last.Policy.Signing,
            },
            ["last_drill"] = lastDrill is null ? null : new Dictionary<string, object?>
            {
                ["run_id"] = lastDrill.Id, ["status"] = lastDrill.Status, ["finished_at"] = lastDrill.FinishedAt, ["error"] = lastDrill.Error,
            },
            ["last_successful_drill_at"] = lastGoodDrill?.FinishedAt,
            // RPO: what a loss now would cost, at worst the schedule interval; RTO: how long the last drill took to restore.
            ["rpo_estimate_hours"] = intervalHours is { } h ? Math.Round(Math.Max(h, ageHours ?? 0), 2) : ageHours,
            ["rto_estimate_seconds"] = restoreMs is { } r ? Math.Round(r / 1000, 1) : null,
            ["schedule"] = new Dictionary<string, object?>
            {
                ["backup_cron"] = o.ScheduleCron, ["drill_cron"] = o.DrillScheduleCron, ["retention_days"] = o.RetentionDays,
            },
            ["missing"] = missing,
        });
    }
}
