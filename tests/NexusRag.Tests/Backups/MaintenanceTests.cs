using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Backups;
using NexusRag.Storage;
using NexusRag.Storage.Backups;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Backups;

/// <summary>
/// Maintenance tasks as recorded, audited jobs: audit pruning behind a checkpoint (the chain still verifies), usage
/// pruning, the backup API, retention, the restore drill, DR readiness and the scheduler's one-enqueue-per-occurrence.
/// </summary>
public sealed class MaintenanceTests : IDisposable
{
    private readonly TempDir _backups = new("nexusrag-mnt-backups");

    public void Dispose() => _backups.Dispose();

    private NexusAppFactory App(ManualClock? clock = null, Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?> { ["BACKUP_LOCAL_DIR"] = _backups.Path, ["MAINTENANCE_SCHEDULE"] = "" };
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        return new NexusAppFactory(settings, clock is null ? null : s => s.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)));
    }

    /// <summary>Runs a task through the API and waits for its run to finish; returns the run.</summary>
    private static async Task<JsonElement> RunTaskAsync(HttpClient op, string task, string expected = "succeeded")
    {
        var queued = await (await op.PostAsync($"/v1/admin/maintenance/run?task={task}", null)).DataAsync(202);
        Assert.Equal("queued", queued.GetProperty("status").GetString());
        var id = queued.GetProperty("id").GetString();
        var run = await Eventually.ReadAsync(async () => await (await op.GetAsync($"/v1/admin/maintenance/runs/{id}")).DataAsync(),
            r => r.GetProperty("status").GetString() is "succeeded" or "failed", timeoutSeconds: 60);
        Assert.True(run.GetProperty("status").GetString() == expected, run.GetRawText());
        return run;
    }

    [Fact]
    public async Task Pruning_the_audit_log_checkpoints_each_chain_so_it_still_verifies_and_still_detects_tampering()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddDays(-400));
        using var app = App(clock);
        var admin = await app.AdminForTenantAsync("t1");
        for (var i = 0; i < 3; i++) await admin.IngestTextAsync("docs", $"Old document {i}.", $"old{i}");
        for (var i = 0; i < 3; i++) await admin.WaitForDocumentAsync($"old{i}");
        clock.Now = DateTimeOffset.UtcNow;
        for (var i = 0; i < 2; i++) await admin.IngestTextAsync("docs", $"New document {i}.", $"new{i}");
        var log = app.Service<IAuditLog>();
        long Count(string tenant)
        {
            using var db = app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContext();
            return db.AuditEvents.LongCount(e => e.TenantId == tenant);
        }
        var before = Count("t1");
        Assert.True((await log.VerifyAsync("t1", default)).Ok);

        var op = await app.OperatorAsync();
        var run = await RunTaskAsync(op, "prune_audit");
        Assert.True(run.GetProperty("result").GetProperty("pruned").GetInt64() >= 4);
        var after = Count("t1");
        Assert.InRange(after, 1, before - 4);
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var head = await db.AuditChainHeads.SingleAsync(h => h.TenantId == "t1");
            Assert.True(head.CheckpointSeq > 0);
            Assert.NotNull(head.CheckpointHash);
            Assert.False(await db.AuditEvents.AnyAsync(e => e.TenantId == "t1" && e.OccurredAt < DateTime.UtcNow.AddDays(-365)));
        }
        var verified = await log.VerifyAsync("t1", default);
        Assert.True(verified.Ok, verified.Reason);
        Assert.Equal(after, verified.Events);

        // The chain goes on from the checkpoint, and an edited kept row is still caught.
        await admin.IngestTextAsync("docs", "After the pruning.", "later");
        Assert.True((await log.VerifyAsync("t1", default)).Ok);
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var first = await db.AuditEvents.Where(e => e.TenantId == "t1").OrderBy(e => e.ChainSeq).FirstAsync();
            await db.AuditEvents.Where(e => e.Id == first.Id).ExecuteUpdateAsync(s => s.SetProperty(e => e.ActorId, "someone-else"));
        }
        var broken = await log.VerifyAsync("t1", default);
        Assert.False(broken.Ok);
        Assert.Contains("edited", broken.Reason);

        // The run was audited on the platform chain.
        var (events, _) = await log.QueryAsync(new AuditQuery(Principal.PlatformTenant, "maintenance.task.succeeded", null, null, null, null, null, null, 10, null), default);
        Assert.Contains(events, e => e.ResourceId == run.GetProperty("id").GetString());
    }

    [Fact]
    public async Task Maintenance_runs_are_operator_only_validated_recorded_and_prune_usage_counters()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddDays(-500));
        using var app = App(clock);
        var admin = await app.AdminForTenantAsync("t1");
        var op = await app.OperatorAsync();
        await (await op.PatchAsJsonAsync("/v1/admin/quotas/t1", new { daily_requests_limit = 1000, hard_cap_enabled = true })).DataAsync();
        (await admin.GetAsync("/v1/corpora")).EnsureSuccessStatusCode(); // counted 500 days ago
        clock.Now = DateTimeOffset.UtcNow;
        (await admin.GetAsync("/v1/corpora")).EnsureSuccessStatusCode(); // counted today
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
            Assert.Equal(4, await db.UsageCounters.CountAsync(u => u.TenantId == "t1")); // a day and a month, twice

        var run = await RunTaskAsync(op, "prune_usage");
        Assert.Equal(1, run.GetProperty("result").GetProperty("pruned_days").GetInt32());
        Assert.Equal(1, run.GetProperty("result").GetProperty("pruned_months").GetInt32());
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var left = await db.UsageCounters.Where(u => u.TenantId == "t1").Select(u => u.PeriodKey).ToListAsync();
            Assert.Equal([$"day:{DateTime.UtcNow:yyyy-MM-dd}", $"month:{DateTime.UtcNow:yyyy-MM}"], left.Order());
        }
        await RunTaskAsync(op, "prune_idempotency");

        await (await op.PostAsync("/v1/admin/maintenance/run?task=drop_tables", null)).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await admin.PostAsync("/v1/admin/maintenance/run?task=prune_audit", null)).AssertErrorAsync(403, "FORBIDDEN");
        await (await admin.GetAsync("/v1/admin/maintenance/runs")).AssertErrorAsync(403, "FORBIDDEN");
        await (await admin.GetAsync("/v1/admin/backups")).AssertErrorAsync(403, "FORBIDDEN");
        await (await admin.GetAsync("/v1/ops/dr/readiness")).AssertErrorAsync(403, "FORBIDDEN");
        var runs = await (await op.GetAsync("/v1/admin/maintenance/runs?task=prune_usage")).DataAsync();
        Assert.Equal("succeeded", runs.EnumerateArray().Single().GetProperty("status").GetString());
        Assert.Equal("api", runs[0].GetProperty("trigger").GetString());
    }

    [Fact]
    public async Task The_backup_api_the_restore_drill_and_dr_readiness()
    {
        using var app = new NexusAppFactory(new Dictionary<string, string?>
        {
            ["BACKUP_LOCAL_DIR"] = _backups.Path, ["MAINTENANCE_SCHEDULE"] = "", ["NexusRag:Maintenance:SchedulerIntervalSeconds"] = "3600",
            ["BACKUP_ENCRYPTION_ENABLED"] = "true", ["BACKUP_ENCRYPTION_KEY"] = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray()),
            ["BACKUP_SIGNING_ENABLED"] = "true", ["BACKUP_SIGNING_KEY"] = "signing-key-of-the-maintenance-tests-0123",
            ["RESTORE_REQUIRE_SIGNATURE"] = "true", ["BACKUP_SCHEDULE_CRON"] = "0 2 * * *", ["RESTORE_DRILL_SCHEDULE_CRON"] = "0 4 * * 0",
        });
        var admin = await app.AdminForTenantAsync("t1");
        for (var i = 0; i < 6; i++) await admin.IngestTextAsync("docs", $"Chapter {i}: the lighthouse keeper number {i} logs storms, tides and ships in ledger {i * 7}.", $"ch{i}");
        for (var i = 0; i < 6; i++) await admin.WaitForDocumentAsync($"ch{i}");
        var op = await app.OperatorAsync();

        var notReady = await (await op.GetAsync("/v1/ops/dr/readiness")).DataAsync();
        Assert.Equal("not_ready", notReady.GetProperty("status").GetString());
        Assert.Contains("no backup with a database yet", notReady.GetProperty("missing").EnumerateArray().Select(m => m.GetString()));

        await (await op.PostAsJsonAsync("/v1/admin/backups", new { type = "everything" })).AssertErrorAsync(422, "VALIDATION_ERROR");
        var queued = await (await op.PostAsJsonAsync("/v1/admin/backups", new { type = "all" })).DataAsync(202);
        var run = await Eventually.ReadAsync(async () => await (await op.GetAsync($"/v1/admin/maintenance/runs/{queued.GetProperty("id").GetString()}")).DataAsync(),
            r => r.GetProperty("status").GetString() is "succeeded" or "failed", timeoutSeconds: 60);
        Assert.True(run.GetProperty("status").GetString() == "succeeded", run.GetRawText());
        var backupId = run.GetProperty("result").GetProperty("backup_id").GetString()!;
        var sets = await (await op.GetAsync("/v1/admin/backups")).DataAsync();
        var set = sets.EnumerateArray().Single(s => s.GetProperty("id").GetString() == backupId);
        Assert.Equal("aes-256-gcm", set.GetProperty("encryption").GetString());
        Assert.Equal(6, set.GetProperty("counts").GetProperty("documents").GetInt64());
        await (await op.GetAsync("/v1/admin/backups/bkp_nope")).AssertErrorAsync(404, "NOT_FOUND");

        var drill = await RunTaskAsync(op, "restore_drill_scheduled");
        var result = drill.GetProperty("result");
        Assert.Equal(backupId, result.GetProperty("backup_id").GetString());
        Assert.True(result.GetProperty("ok").GetBoolean());
        Assert.Equal(["integrity", "row_counts", "audit_chain", "searches"], result.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        Assert.All(result.GetProperty("checks").EnumerateArray(), c => Assert.True(c.GetProperty("ok").GetBoolean(), c.GetRawText()));

        var ready = await (await op.GetAsync("/v1/ops/dr/readiness")).DataAsync();
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        Assert.Empty(ready.GetProperty("missing").EnumerateArray());
        Assert.Equal(backupId, ready.GetProperty("last_backup").GetProperty("id").GetString());
        Assert.Equal(24, ready.GetProperty("rpo_estimate_hours").GetDouble());
        Assert.True(ready.GetProperty("rto_estimate_seconds").GetDouble() >= 0);

        // A drill of a damaged backup fails (and readiness still names the last good one).
        var component = Directory.GetFiles(Path.Combine(_backups.Path, backupId), "db.*").Single();
        var bytes = await File.ReadAllBytesAsync(component);
        bytes[^5] ^= 0xFF;
        await File.WriteAllBytesAsync(component, bytes);
        var failed = await RunTaskAsync(op, "restore_drill_scheduled", expected: "failed");
        Assert.Contains("does not match its checksum", failed.GetProperty("error").GetString());
        var after = await (await op.GetAsync("/v1/ops/dr/readiness")).DataAsync();
        Assert.Equal("failed", after.GetProperty("last_drill").GetProperty("status").GetString());
        Assert.Equal(ready.GetProperty("last_successful_drill_at").GetString(), after.GetProperty("last_successful_drill_at").GetString());
    }

    [Fact]
    public async Task Retention_prunes_old_sets_but_keeps_the_newest_and_the_scheduler_enqueues_each_occurrence_once()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddDays(-90));
        using var app = App(clock, new() { ["BACKUP_RETENTION_DAYS"] = "30" });
        await app.AdminForTenantAsync("t1");
        var backups = app.Service<BackupService>();
        var old1 = await backups.CreateAsync("metadata", default);
        clock.Advance(TimeSpan.FromDays(1));
        var old2 = await backups.CreateAsync("metadata", default);
        clock.Now = DateTimeOffset.UtcNow.AddDays(-100);
        Assert.Equal([old2.Id, old1.Id], backups.List().Select(m => m.Id));
        clock.Now = DateTimeOffset.UtcNow;
        // Both are past retention, but the newest set is always kept.
        Assert.Equal([old1.Id], backups.Prune());
        Assert.Equal([old2.Id], backups.List().Select(m => m.Id));
        var fresh = await backups.CreateAsync("metadata", default);
        Assert.Equal([old2.Id], backups.Prune());
        Assert.Equal([fresh.Id], backups.List().Select(m => m.Id));

        // Two schedulers (two replicas) on one store: the first tick schedules, a due occurrence is enqueued once.
        var store = app.Service<IMaintenanceStore>();
        // (The app's own scheduler has no schedule here, so it never races these.)
        var hourly = Options.Create(new BackupOptions { ScheduleCron = "0 * * * *" });
        MaintenanceScheduler Scheduler() => new(store, Options.Create(new MaintenanceOptions { Schedule = "" }), hourly, clock,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<MaintenanceScheduler>.Instance);
        Assert.Empty(await Scheduler().TickAsync(default));
        clock.Advance(TimeSpan.FromHours(1));
        var ticks = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Scheduler().TickAsync(default)));
        Assert.Equal(1, ticks.Count(t => t.Contains(MaintenanceTasks.BackupCreateScheduled)));
        Assert.Single(await store.ListAsync(MaintenanceTasks.BackupCreateScheduled, 10, default), r => r.Trigger == "schedule");
        Assert.Empty(await Scheduler().TickAsync(default)); // not due again until the next occurrence
    }
}
