using System.Text.Json;
using Microsoft.Extensions.Logging;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Jobs;

namespace NexusRag.Core.DataGovernance;

/// <summary>
/// Retention (seed "Retention Policy Model"): a run applies the tenant's policy as of the run's clock. Messages older than
/// <c>messages_ttl_days</c> and documents older than <c>documents_ttl_days</c> are deleted (<c>hard_delete_enabled</c>),
/// anonymized (<c>anonymize_instead_of_delete</c>: content dropped, ids and counts kept) or, with neither, only counted;
/// audit events older than <c>audit_ttl_days</c> are pruned behind a chain checkpoint. Anything under an active legal
/// hold is left and reported as held (a tenant hold holds everything). A run is a job (kind <c>retention</c>) whose report
/// is kept; the maintenance task <c>governance_retention</c> runs every tenant with a policy (daily by default).
/// </summary>
public sealed class RetentionService(
    IGovernanceStore store, IJobQueue jobs, Transactions.IUnitOfWork uow, IAuditLog audit, TimeProvider clock)
{
    public const string RunKind = "retention";

    public async Task<RetentionPolicy> GetPolicyAsync(string tenantId, CancellationToken ct) =>
        await store.GetRetentionPolicyAsync(tenantId, ct).ConfigureAwait(false) ?? RetentionPolicy.Default(tenantId);

    public async Task<RetentionPolicy> UpdatePolicyAsync(Principal principal, RetentionPolicy policy, string? requestId, CancellationToken ct)
    {
        var updated = policy with { UpdatedAt = clock.GetUtcNow().UtcDateTime, UpdatedBy = principal.ActorId };
        await uow.RunAsync(async c =>
        {
            await store.SaveRetentionPolicyAsync(updated, c).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(policy.TenantId, "governance.retention.policy_updated", "success", principal.ActorType, principal.ActorId,
                "retention_policy", policy.TenantId, requestId, new Dictionary<string, object?>
                {
                    ["messages_ttl_days"] = policy.MessagesTtlDays, ["audit_ttl_days"] = policy.AuditTtlDays, ["documents_ttl_days"] = policy.DocumentsTtlDays,
                    ["checkpoints_ttl_days"] = policy.CheckpointsTtlDays, ["backups_ttl_days"] = policy.BackupsTtlDays,
                    ["hard_delete_enabled"] = policy.HardDeleteEnabled, ["anonymize_instead_of_delete"] = policy.AnonymizeInsteadOfDelete,
                }), c).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
        return updated;
    }

    /// <summary>Queues a retention run of the tenant (its job and record commit together).</summary>
    public Task<GovernanceRun> EnqueueAsync(string tenantId, string trigger, CancellationToken ct) =>
        uow.RunAsync(async c =>
        {
            var id = Services.Identifiers.NewId("ret");
            var jobId = await jobs.EnqueueAsync(new NewJob(tenantId, RetentionJobHandler.Kind, 3, JsonSerializer.Serialize(new Dictionary<string, string> { ["run_id"] = id })), c)
                .ConfigureAwait(false);
            var run = new GovernanceRun(id, tenantId, RunKind, "queued", trigger, jobId, null, null, clock.GetUtcNow().UtcDateTime, null);
            await store.AddRunAsync(run, c).ConfigureAwait(false);
            return run;
        }, ct);
}

/// <summary>Job kind <c>retention</c>: applies a tenant's retention policy and records the report.</summary>
public sealed class RetentionJobHandler(
    IGovernanceStore store, LegalHolds holds, Services.DocumentService documents, IAuditLog audit, TimeProvider clock, ILogger<RetentionJobHandler> logger) : IJobHandler
{
    public const string Kind = "retention";
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];
    public string? HeldBy => null;

    public async Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
    {
        using var payload = JsonDocument.Parse(job.PayloadJson ?? "{}");
        var runId = payload.RootElement.GetProperty("run_id").GetString()!;
        var run = await store.GetRunAsync(job.TenantId, runId, ct).ConfigureAwait(false) ?? throw new PermanentJobFailure($"retention run {runId} not found");
        try
        {
            var report = await ApplyAsync(job.TenantId, ct).ConfigureAwait(false);
            var json = JsonSerializer.Serialize(report, Json);
            await store.FinishRunAsync(run.Id, "succeeded", json, null, clock.GetUtcNow().UtcDateTime, CancellationToken.None).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(job.TenantId, "governance.retention.completed", "success", "system", "retention", "retention_run", run.Id, null,
                new Dictionary<string, object?> { ["report"] = JsonDocument.Parse(json).RootElement.Clone() }), CancellationToken.None).ConfigureAwait(false);
            return JobResult.Done;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Retention run {RunId} of tenant {TenantId} failed", run.Id, job.TenantId);
            await store.FinishRunAsync(run.Id, "failed", null, Text.Clip(ex.Message, 500), clock.GetUtcNow().UtcDateTime, CancellationToken.None).ConfigureAwait(false);
            throw new PermanentJobFailure(ex.Message, ex);
        }
    }

    public sealed record Report(
        string Mode, DateTime EvaluatedAt, IReadOnlyDictionary<string, DataOutcome?> Outcomes, IReadOnlyDictionary<string, DateTime?> Cutoffs,
        IReadOnlyList<string> HeldBy, IReadOnlyList<string> Notes);

    private async Task<Report> ApplyAsync(string tenantId, CancellationToken ct)
    {
        var policy = await store.GetRetentionPolicyAsync(tenantId, ct).ConfigureAwait(false) ?? RetentionPolicy.Default(tenantId);
        var now = clock.GetUtcNow().UtcDateTime;
        var active = await holds.ActiveAsync(tenantId, ct).ConfigureAwait(false);
        var outcomes = new Dictionary<string, DataOutcome?>();
        var cutoffs = new Dictionary<string, DateTime?>();
        var notes = new List<string>();
        DateTime? Cutoff(int? days) => days is { } d ? now.AddDays(-d) : null;
        var mode = policy.Mode;

        // Messages: a tenant hold keeps all of them; session holds keep theirs.
        cutoffs["messages"] = Cutoff(policy.MessagesTtlDays);
        if (cutoffs["messages"] is { } mc)
        {
            if (active.Tenant is not null)
            {
                var counted = await store.ExpireMessagesAsync(tenantId, mc, new HashSet<string>(), "report", now, ct).ConfigureAwait(false);
                outcomes["messages"] = new DataOutcome(counted.Eligible, 0, counted.Eligible);
            }
            else outcomes["messages"] = await store.ExpireMessagesAsync(tenantId, mc, active.Ids(HoldScopes.Session), mode, now, ct).ConfigureAwait(false);
        }

        cutoffs["documents"] = Cutoff(policy.DocumentsTtlDays);
        if (cutoffs["documents"] is { } dc)
        {
            var expired = await store.ExpiredDocumentsAsync(tenantId, dc, ct).ConfigureAwait(false);
            long changed = 0, heldCount = 0;
            foreach (var id in expired)
            {
                if (active.CoveringDocument(id) is not null) { heldCount++; continue; }
                if (mode == "report") continue;
                if (await documents.EraseAsSystemAsync(tenantId, id, mode, "retention", ct).ConfigureAwait(false)) changed++;
            }
            outcomes["documents"] = new DataOutcome(expired.Count, changed, heldCount);
        }

        cutoffs["audit"] = Cutoff(policy.AuditTtlDays);
        if (cutoffs["audit"] is { } ac)
        {
            if (active.Tenant is not null) outcomes["audit"] = new DataOutcome(0, 0, 1);
            else if (mode == "report") notes.Add("audit: pruning needs hard_delete_enabled or anonymize_instead_of_delete");
            else outcomes["audit"] = new DataOutcome(0, await audit.PruneBeforeAsync(ac, ct, tenantId).ConfigureAwait(false), 0);
        }

        cutoffs["checkpoints"] = Cutoff(policy.CheckpointsTtlDays);
        if (policy.CheckpointsTtlDays is not null) notes.Add("checkpoints: this deployment keeps no agent checkpoints (sessions keep messages only)");
        cutoffs["backups"] = Cutoff(policy.BackupsTtlDays);
        if (policy.BackupsTtlDays is not null) notes.Add("backups: sets are the platform's (BACKUP_RETENTION_DAYS, backup_prune_retention); backup_set holds keep them");
        return new Report(mode, now, outcomes, cutoffs, active.All.Select(h => $"{h.ScopeType}:{h.ScopeId}").ToList(), notes);
    }
}

/// <summary>Maintenance task <c>governance_retention</c>: queues a retention run for every tenant with a retention policy.</summary>
public sealed class GovernanceRetentionTask(IGovernanceStore store, RetentionService retention) : Backups.IMaintenanceTask
{
    public string Name => Backups.MaintenanceTasks.GovernanceRetention;

    public async Task<object> RunAsync(JsonElement args, CancellationToken ct)
    {
        var runs = new List<string>();
        foreach (var tenant in await store.TenantsWithRetentionPolicyAsync(ct).ConfigureAwait(false))
            runs.Add((await retention.EnqueueAsync(tenant, "schedule", ct).ConfigureAwait(false)).Id);
        return new { runs };
    }
}
