using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Jobs;

namespace NexusRag.Core.Backups;

/// <summary>The seed's maintenance tasks that apply to this product now.</summary>
public static class MaintenanceTasks
{
    public const string PruneIdempotency = "prune_idempotency";
    public const string PruneAudit = "prune_audit";
    public const string PruneUsage = "prune_usage";
    public const string BackupCreateScheduled = "backup_create_scheduled";
    public const string BackupPruneRetention = "backup_prune_retention";
    public const string RestoreDrillScheduled = "restore_drill_scheduled";
    /// <summary>Queues a retention run for every tenant with a retention policy.</summary>
    public const string GovernanceRetention = "governance_retention";
    /// <summary>Compliance snapshots, bundles and artefact records past COMPLIANCE_EVIDENCE_RETENTION_DAYS.</summary>
    public const string PruneComplianceEvidence = "prune_compliance_evidence";
    public static readonly string[] All =
        [PruneIdempotency, PruneAudit, PruneUsage, BackupCreateScheduled, BackupPruneRetention, RestoreDrillScheduled, GovernanceRetention, PruneComplianceEvidence];
}

/// <summary>
/// Maintenance (section <c>NexusRag:Maintenance</c>; <c>AUDIT_RETENTION_DAYS</c>, <c>USAGE_COUNTER_RETENTION_DAYS</c>,
/// <c>MAINTENANCE_SCHEDULE</c> as <c>task=cron;task=cron</c>, UTC). <c>BACKUP_SCHEDULE_CRON</c> and
/// <c>RESTORE_DRILL_SCHEDULE_CRON</c> schedule the backup and drill tasks.
/// </summary>
public sealed class MaintenanceOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Maintenance";
    /// <summary>Audit events older than this are pruned behind a checkpoint of the chain (0: never).</summary>
    [Range(0, 36_500)] [FlatName("AUDIT_RETENTION_DAYS")] public int AuditRetentionDays { get; set; } = 365;
    /// <summary>Usage counters of periods that ended longer ago than this are pruned.</summary>
    [Range(32, 36_500)] [FlatName("USAGE_COUNTER_RETENTION_DAYS")] public int UsageRetentionDays { get; set; } = 400;
    /// <summary><c>task=cron;…</c>; the defaults prune idempotency records hourly and usage counters and audit events daily.</summary>
    [FlatName("MAINTENANCE_SCHEDULE")] public string Schedule { get; set; } = "prune_idempotency=17 * * * *;prune_usage=23 3 * * *;prune_audit=41 3 * * *;governance_retention=7 2 * * *;prune_compliance_evidence=13 4 * * 0";
    /// <summary>How often each replica looks for due tasks.</summary>
    [Range(1, 3600)] public int SchedulerIntervalSeconds { get; set; } = 30;
    public List<string> ParseErrors { get; } = [];

    /// <summary>The schedule per task (the backup and drill crons included), or the problems with it.</summary>
    public IReadOnlyDictionary<string, string> Crons(BackupOptions backup, List<string>? problems = null)
    {
        var crons = new Dictionary<string, string>();
        foreach (var part in Schedule.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2, StringSplitOptions.TrimEntries);
            if (kv.Length != 2 || !MaintenanceTasks.All.Contains(kv[0])) { problems?.Add($"MAINTENANCE_SCHEDULE: '{part}' is not task=cron with a known task ({string.Join(", ", MaintenanceTasks.All)})"); continue; }
            crons[kv[0]] = kv[1];
        }
        if (backup.Enabled && !string.IsNullOrWhiteSpace(backup.ScheduleCron))
        {
            crons[MaintenanceTasks.BackupCreateScheduled] = backup.ScheduleCron.Trim();
            crons.TryAdd(MaintenanceTasks.BackupPruneRetention, backup.ScheduleCron.Trim());
        }
        if (backup.Enabled && !string.IsNullOrWhiteSpace(backup.DrillScheduleCron)) crons[MaintenanceTasks.RestoreDrillScheduled] = backup.DrillScheduleCron.Trim();
        foreach (var (task, cron) in crons)
        {
            try { Cronos.CronExpression.Parse(cron); }
            catch (Cronos.CronFormatException ex) { problems?.Add($"the schedule of {task} ('{cron}') is not a valid cron expression: {ex.Message}"); }
        }
        return crons;
    }
}

/// <summary>One run of a maintenance task (<c>maintenance_runs</c>).</summary>
public sealed record MaintenanceRun(string Id, string Task, string Status, string Trigger, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt,
    string? ResultJson, string? Error, string? JobId);

public static class MaintenanceRunStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>Runs and schedules of maintenance tasks.</summary>
public interface IMaintenanceStore
{
    /// <summary>Records a queued run and enqueues its job in one transaction; <paramref name="argsJson"/> goes to the task.</summary>
    Task<MaintenanceRun> EnqueueAsync(string task, string trigger, CancellationToken ct, string? argsJson = null);
    Task MarkAsync(string runId, string status, string? resultJson, string? error, CancellationToken ct);
    Task<MaintenanceRun?> GetAsync(string runId, CancellationToken ct);
    Task<IReadOnlyList<MaintenanceRun>> ListAsync(string? task, int limit, CancellationToken ct);
    /// <summary>
    /// Takes the occurrence of a task's schedule that is due (next_run_at ≤ now): moves next_run_at to <paramref name="next"/>
    /// only if it still is <paramref name="expectedDue"/> (one replica wins); a task without a row gets one at <paramref name="next"/>.
    /// </summary>
    Task<DateTime?> NextDueAsync(string task, CancellationToken ct);
    Task<bool> ClaimDueAsync(string task, DateTime? expectedDue, DateTime next, CancellationToken ct);
}

/// <summary>One maintenance task: what it did, as a JSON-serialisable object.</summary>
public interface IMaintenanceTask
{
    string Name { get; }
    /// <summary>Runs the task; <paramref name="args"/> is what the caller passed (a backup's <c>type</c>), or an empty object.</summary>
    Task<object> RunAsync(JsonElement args, CancellationToken ct);
}

/// <summary>
/// Runs a maintenance run's task (job kind <c>maintenance</c>, payload <c>{run_id, task}</c>): marks it running, then
/// succeeded with the task's result or failed with the error, and audits it on the platform chain
/// (<c>maintenance.task.succeeded</c> / <c>maintenance.task.failed</c>).
/// </summary>
public sealed class MaintenanceJobHandler(IEnumerable<IMaintenanceTask> tasks, IMaintenanceStore runs, IAuditLog audit, ILogger<MaintenanceJobHandler> logger) : IJobHandler
{
    public const string Kind = "maintenance";
    private static readonly JsonSerializerOptions ResultJson = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private readonly Dictionary<string, IMaintenanceTask> _tasks = tasks.ToDictionary(t => t.Name);

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];
    public string? HeldBy => null;

    public async Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
    {
        using var payload = JsonDocument.Parse(job.PayloadJson ?? "{}");
        var runId = payload.RootElement.GetProperty("run_id").GetString()!;
        var name = payload.RootElement.GetProperty("task").GetString()!;
        var args = payload.RootElement.TryGetProperty("args", out var a) && a.ValueKind == JsonValueKind.Object ? a.Clone() : JsonDocument.Parse("{}").RootElement.Clone();
        if (!_tasks.TryGetValue(name, out var task)) throw new PermanentJobFailure($"unknown maintenance task {name}");
        await runs.MarkAsync(runId, MaintenanceRunStatus.Running, null, null, ct).ConfigureAwait(false);
        try
        {
            var result = await task.RunAsync(args, ct).ConfigureAwait(false);
            var json = JsonSerializer.Serialize(result, ResultJson);
            await runs.MarkAsync(runId, MaintenanceRunStatus.Succeeded, json, null, CancellationToken.None).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(Auth.Principal.PlatformTenant, "maintenance.task.succeeded", "success", "system", "maintenance", "maintenance_run", runId,
                null, new Dictionary<string, object?> { ["task"] = name, ["job_id"] = job.Id }), CancellationToken.None).ConfigureAwait(false);
            return JobResult.Done;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Maintenance task {Task} (run {RunId}) failed", name, runId);
            var error = Errors.Text.Clip(ex.Message, 500);
            await runs.MarkAsync(runId, MaintenanceRunStatus.Failed, null, error, CancellationToken.None).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(Auth.Principal.PlatformTenant, "maintenance.task.failed", "failure", "system", "maintenance", "maintenance_run", runId,
                null, new Dictionary<string, object?> { ["task"] = name, ["job_id"] = job.Id, ["error"] = error }), CancellationToken.None).ConfigureAwait(false);
            throw new PermanentJobFailure(error, ex); // recorded; the next occurrence (or an operator) runs it again
        }
    }
}

/// <summary>
/// Enqueues scheduled maintenance: on every replica that runs workers, each interval it looks for tasks whose cron
/// occurrence is due and claims it with a compare-and-set on <c>maintenance_schedules.next_run_at</c>, so exactly one
/// replica enqueues each occurrence; the job runner then runs it on one worker.
/// </summary>
public sealed class MaintenanceScheduler(IMaintenanceStore store, IOptions<MaintenanceOptions> options, IOptions<BackupOptions> backup, TimeProvider clock,
    ILogger<MaintenanceScheduler> logger)
{
    public async Task<IReadOnlyList<string>> TickAsync(CancellationToken ct)
    {
        var enqueued = new List<string>();
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var (task, cron) in options.Value.Crons(backup.Value))
        {
            var expression = Cronos.CronExpression.Parse(cron);
            var due = await store.NextDueAsync(task, ct).ConfigureAwait(false);
            var next = expression.GetNextOccurrence(now, TimeZoneInfo.Utc) ?? DateTime.MaxValue;
            if (due is null)
            {
                await store.ClaimDueAsync(task, null, next, ct).ConfigureAwait(false); // first sight: schedule the next occurrence
                continue;
            }
            if (due > now) continue;
            if (!await store.ClaimDueAsync(task, due, next, ct).ConfigureAwait(false)) continue; // another replica took it
            var run = await store.EnqueueAsync(task, "schedule", ct).ConfigureAwait(false);
            logger.LogInformation("Scheduled maintenance {Task} enqueued as run {RunId}", task, run.Id);
            enqueued.Add(task);
        }
        return enqueued;
    }
}
