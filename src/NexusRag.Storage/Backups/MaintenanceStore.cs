using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Backups;
using NexusRag.Core.Governance;
using NexusRag.Core.Jobs;
using NexusRag.Core.Services;
using NexusRag.Core.Transactions;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Backups;

public sealed class EfMaintenanceStore(IDbContextFactory<NexusDbContext> factory, IUnitOfWork uow, IJobQueue jobs, TimeProvider clock) : IMaintenanceStore
{
    private static MaintenanceRun Map(MaintenanceRunRow r) => new(r.Id, r.Task, r.Status, r.Trigger, r.CreatedAt, r.StartedAt, r.FinishedAt, r.ResultJson, r.Error, r.JobId);

    public Task<MaintenanceRun> EnqueueAsync(string task, string trigger, CancellationToken ct, string? argsJson = null) =>
        uow.RunAsync(async c =>
        {
            var id = Identifiers.NewId("mnt");
            var jobId = await jobs.EnqueueAsync(new NewJob(Core.Auth.Principal.PlatformTenant, MaintenanceJobHandler.Kind, 1,
                JsonSerializer.Serialize(new { run_id = id, task, args = argsJson is null ? (JsonElement?)null : JsonDocument.Parse(argsJson).RootElement })), c).ConfigureAwait(false);
            await using var db = await factory.CreateDbContextAsync(c).ConfigureAwait(false);
            var row = new MaintenanceRunRow
            {
                Id = id, Task = task, Status = MaintenanceRunStatus.Queued, Trigger = Core.Errors.Text.Clip(trigger, 128), JobId = jobId, CreatedAt = clock.GetUtcNow().UtcDateTime,
            };
            db.MaintenanceRuns.Add(row);
            await db.SaveChangesAsync(c).ConfigureAwait(false);
            return Map(row);
        }, ct);

    public async Task MarkAsync(string runId, string status, string? resultJson, string? error, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var running = status == MaintenanceRunStatus.Running;
        await db.MaintenanceRuns.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, status)
            .SetProperty(r => r.StartedAt, r => running ? now : r.StartedAt)
            .SetProperty(r => r.FinishedAt, r => running ? null : now)
            .SetProperty(r => r.ResultJson, resultJson)
            .SetProperty(r => r.Error, error), ct).ConfigureAwait(false);
    }

    public async Task<MaintenanceRun?> GetAsync(string runId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.MaintenanceRuns.AsNoTracking().FirstOrDefaultAsync(r => r.Id == runId, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<IReadOnlyList<MaintenanceRun>> ListAsync(string? task, int limit, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.MaintenanceRuns.AsNoTracking();
        if (task is not null) q = q.Where(r => r.Task == task);
        return (await q.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).Take(limit).ToListAsync(ct).ConfigureAwait(false)).Select(Map).ToList();
    }

    public async Task<DateTime?> NextDueAsync(string task, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.MaintenanceSchedules.AsNoTracking().FirstOrDefaultAsync(s => s.Task == task, ct).ConfigureAwait(false))?.NextRunAt;
    }

    public async Task<bool> ClaimDueAsync(string task, DateTime? expectedDue, DateTime next, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        if (expectedDue is null)
        {
            var inserted = await db.Database.ExecuteSqlInterpolatedAsync(
                $"INSERT INTO maintenance_schedules (task, next_run_at) VALUES ({task}, {next}) ON CONFLICT (task) DO NOTHING", ct).ConfigureAwait(false);
            return inserted == 1;
        }
        var due = expectedDue.Value;
        return await db.MaintenanceSchedules.Where(s => s.Task == task && s.NextRunAt == due)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.NextRunAt, next), ct).ConfigureAwait(false) == 1;
    }
}

/// <summary><c>prune_idempotency</c>: drops expired idempotency records (Redis expires its own keys; the in-process store is swept here).</summary>
public sealed class PruneIdempotencyTask(IIdempotencyStore store) : IMaintenanceTask
{
    public string Name => MaintenanceTasks.PruneIdempotency;

    public async Task<object> RunAsync(JsonElement args, CancellationToken ct) => new { pruned = await store.PruneExpiredAsync(ct).ConfigureAwait(false) };
}

/// <summary><c>prune_audit</c>: events older than <c>AUDIT_RETENTION_DAYS</c>, behind a checkpoint of each chain (still verifiable).</summary>
public sealed class PruneAuditTask(IAuditLog audit, IOptions<MaintenanceOptions> options, TimeProvider clock) : IMaintenanceTask
{
    public string Name => MaintenanceTasks.PruneAudit;

    public async Task<object> RunAsync(JsonElement args, CancellationToken ct)
    {
        var days = options.Value.AuditRetentionDays;
        if (days == 0) return new { pruned = 0L, retention_days = 0, note = "AUDIT_RETENTION_DAYS=0 keeps every event" };
        var cutoff = clock.GetUtcNow().UtcDateTime.AddDays(-days);
        return new { pruned = await audit.PruneBeforeAsync(cutoff, ct).ConfigureAwait(false), retention_days = days, cutoff };
    }
}

/// <summary><c>prune_usage</c>: usage counters of days and months that ended more than <c>USAGE_COUNTER_RETENTION_DAYS</c> ago.</summary>
public sealed class PruneUsageTask(IDbContextFactory<NexusDbContext> factory, IOptions<MaintenanceOptions> options, TimeProvider clock) : IMaintenanceTask
{
    public string Name => MaintenanceTasks.PruneUsage;

    public async Task<object> RunAsync(JsonElement args, CancellationToken ct)
    {
        var cutoff = clock.GetUtcNow().UtcDateTime.AddDays(-options.Value.UsageRetentionDays);
        var day = $"day:{cutoff:yyyy-MM-dd}";
        // A month ends before the cutoff when the month after it starts on or before the cutoff.
        var month = $"month:{cutoff.AddMonths(-1):yyyy-MM}";
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var days = await db.UsageCounters.Where(u => u.PeriodKey.StartsWith("day:") && string.Compare(u.PeriodKey, day) < 0).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        var months = await db.UsageCounters.Where(u => u.PeriodKey.StartsWith("month:") && string.Compare(u.PeriodKey, month) <= 0).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        return new { pruned_days = days, pruned_months = months, retention_days = options.Value.UsageRetentionDays };
    }
}

/// <summary><c>backup_create_scheduled</c>: a full backup set.</summary>
public sealed class BackupCreateTask(BackupService backups) : IMaintenanceTask
{
    public string Name => MaintenanceTasks.BackupCreateScheduled;

    public async Task<object> RunAsync(JsonElement args, CancellationToken ct)
    {
        var type = args.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "all";
        var m = await backups.CreateAsync(type, ct).ConfigureAwait(false);
        return new { backup_id = m.Id, bytes = m.Components.Sum(c => c.Bytes), m.Policy.Encryption, m.Policy.Signing, duration_ms = m.DurationMs };
    }
}

/// <summary><c>backup_prune_retention</c>: sets older than <c>BACKUP_RETENTION_DAYS</c> (the newest always kept).</summary>
public sealed class BackupPruneTask(BackupService backups, Core.DataGovernance.IGovernanceStore governance) : IMaintenanceTask
{
    public string Name => MaintenanceTasks.BackupPruneRetention;

    /// <summary>Sets past <c>BACKUP_RETENTION_DAYS</c> go, except the newest and any under an active <c>backup_set</c> legal hold.</summary>
    public async Task<object> RunAsync(JsonElement args, CancellationToken ct)
    {
        var held = (await governance.ActiveBackupHoldsAsync(ct).ConfigureAwait(false)).Select(h => h.ScopeId).ToHashSet(StringComparer.Ordinal);
        return new { pruned = backups.Prune(held.Contains), held = held.Order(StringComparer.Ordinal).ToList() };
    }
}
