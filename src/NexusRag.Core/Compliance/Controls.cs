using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Backups;
using NexusRag.Core.Crypto;

namespace NexusRag.Core.Compliance;

public sealed record ControlContext(DateTime Now, int WindowDays)
{
    public DateTime WindowStart => Now.AddDays(-WindowDays);
}

/// <summary>One SOC 2 baseline control, computed from the deployment's real state (one class per control).</summary>
public interface IControlCheck
{
    string ControlId { get; }
    string Title { get; }
    /// <summary><c>automated</c>, <c>hybrid</c> or <c>manual</c>.</summary>
    string Kind { get; }
    Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct);
}

internal static class Controls
{
    public static ControlResult Result(IControlCheck c, bool ok, string passSummary, IEnumerable<string> problems, Dictionary<string, object?> evidence)
    {
        var list = problems.ToList();
        evidence["problems"] = list;
        return new ControlResult(c.ControlId, c.Title, c.Kind, ok && list.Count == 0 ? ControlStatus.Pass : ControlStatus.Fail,
            ok && list.Count == 0 ? passSummary : string.Join("; ", list), evidence);
    }

    public static bool Flag(IConfiguration config, string name, bool fallback) =>
        config[name]?.Trim().ToLowerInvariant() switch { "true" or "1" or "yes" => true, "false" or "0" or "no" => false, _ => fallback };

    public static bool IsProd(IConfiguration config) => (config["NEXUSRAG_ENV"] ?? config["NexusRag:Env"] ?? "local").Trim().Equals("prod", StringComparison.OrdinalIgnoreCase);
}

/// <summary>CC6.1: authentication is enforced (no dev bypass) and document access is decided by policy.</summary>
public sealed class AccessControlCheck(IConfiguration config) : IControlCheck
{
    public string ControlId => "CC6.1";
    public string Title => "Access control enforcement";
    public string Kind => "automated";

    public Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct)
    {
        var auth = Controls.Flag(config, "AUTH_ENABLED", true);
        var bypass = Controls.Flag(config, "AUTH_DEV_BYPASS", false);
        var problems = new List<string>();
        if (!auth) problems.Add("AUTH_ENABLED=false: requests are not authenticated");
        if (bypass) problems.Add("AUTH_DEV_BYPASS=true: a header can stand in for an API key");
        return Task.FromResult(Controls.Result(this, true, "API keys are required on every endpoint that is not public; endpoints without a policy do not start", problems,
            new Dictionary<string, object?>
            {
                ["auth_enabled"] = auth, ["auth_dev_bypass"] = bypass, ["authz_default_deny"] = Controls.Flag(config, "AUTHZ_DEFAULT_DENY", false),
                ["endpoint_policy_enforced_at_start"] = true,
            }));
    }
}

/// <summary>CC6.2: no active API key older than <c>COMPLIANCE_KEY_MAX_AGE_DAYS</c> without an expiry, and none left unused past the inactivity window.</summary>
public sealed class ApiKeyGovernanceCheck(IComplianceStore store, IOptions<ComplianceOptions> options, IConfiguration config) : IControlCheck
{
    public string ControlId => "CC6.2";
    public string Title => "API key governance";
    public string Kind => "automated";

    public async Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct)
    {
        var maxAge = options.Value.KeyMaxAgeDays;
        var inactiveDays = int.TryParse(config["AUTH_API_KEY_INACTIVE_DAYS"], out var d) ? d : 90;
        var keys = (await store.ApiKeysAsync(ct).ConfigureAwait(false)).Where(k => k.Active).ToList();
        var old = keys.Where(k => k.ExpiresAt is null && (context.Now - k.CreatedAt).TotalDays > maxAge).Select(k => k.Id).ToList();
        var stale = keys.Where(k => (context.Now - (k.LastUsedAt ?? k.CreatedAt)).TotalDays > inactiveDays).Select(k => k.Id).ToList();
        var problems = new List<string>();
        if (old.Count > 0) problems.Add($"{old.Count} active key(s) older than {maxAge} days without an expiry: {string.Join(", ", old.Take(10))}");
        if (stale.Count > 0 && !Controls.Flag(config, "AUTH_API_KEY_INACTIVE_ENFORCED", false))
            problems.Add($"{stale.Count} active key(s) unused for more than {inactiveDays} days and AUTH_API_KEY_INACTIVE_ENFORCED=false: {string.Join(", ", stale.Take(10))}");
        return Controls.Result(this, true, $"{keys.Count} active key(s), none past {maxAge} days or left inactive", problems, new Dictionary<string, object?>
        {
            ["active_keys"] = keys.Count, ["operator_keys"] = keys.Count(k => k.IsOperator), ["older_than_max_age"] = old, ["inactive"] = stale,
            ["max_age_days"] = maxAge, ["inactive_days"] = inactiveDays,
        });
    }
}

/// <summary>CC7.1: the store runs exactly the schema this release ships (no pending or unknown migrations); changes are on record.</summary>
public sealed class ChangeManagementCheck(IComplianceStore store, IAuditLog audit) : IControlCheck
{
    public string ControlId => "CC7.1";
    public string Title => "Change management evidence";
    public string Kind => "automated";

    public async Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct)
    {
        var (applied, pending) = await store.SchemaAsync(ct).ConfigureAwait(false);
        var (changes, _) = await audit.QueryAsync(new AuditQuery(Auth.Principal.PlatformTenant, null, null, null, null, null, context.WindowStart, null, 500, null), ct)
            .ConfigureAwait(false);
        var problems = pending.Count > 0 ? new[] { $"{pending.Count} migration(s) not applied: {string.Join(", ", pending)}" } : [];
        return Controls.Result(this, true, $"schema at {applied.LastOrDefault() ?? "(none)"}; {changes.Count} platform change event(s) on record in the window", problems,
            new Dictionary<string, object?>
            {
                ["schema_version"] = applied.LastOrDefault(), ["migrations_applied"] = applied.Count, ["migrations_pending"] = pending,
                ["platform_events_in_window"] = changes.Count,
                ["release"] = typeof(ChangeManagementCheck).Assembly.GetName().Version?.ToString(),
            });
    }
}

/// <summary>CC7.2: every tenant's tamper-evident audit chain verifies, and metrics are protected in production (incident detection and evidence).</summary>
public sealed class MonitoringReadinessCheck(IAuditLog audit, IConfiguration config) : IControlCheck
{
    public string ControlId => "CC7.2";
    public string Title => "Monitoring and incident response readiness";
    public string Kind => "automated";

    public async Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct)
    {
        var broken = new List<object>();
        var tenants = await audit.ChainedTenantsAsync(ct).ConfigureAwait(false);
        long events = 0;
        foreach (var tenant in tenants)
        {
            var v = await audit.VerifyAsync(tenant, ct).ConfigureAwait(false);
            events += v.Events;
            if (!v.Ok) broken.Add(new { tenant_id = tenant, broken_event_id = v.BrokenEventId, broken_chain_seq = v.BrokenChainSeq, reason = v.Reason });
        }
        var problems = new List<string>();
        if (broken.Count > 0) problems.Add($"the audit chain of {broken.Count} tenant(s) does not verify: the audit trail was altered");
        var metricsToken = !string.IsNullOrWhiteSpace(config["METRICS_TOKEN"]);
        if (Controls.IsProd(config) && !metricsToken) problems.Add("METRICS_TOKEN is not set: /v1/metrics is not protected");
        return Controls.Result(this, true, $"{tenants.Count} audit chain(s), {events} event(s), all verify", problems, new Dictionary<string, object?>
        {
            ["chains_verified"] = tenants.Count, ["events_verified"] = events, ["broken_chains"] = broken, ["metrics_token_set"] = metricsToken,
        });
    }
}

/// <summary>CC8.1 (manual artefact): a dependency or vulnerability scan, or a patch report, uploaded within the window.</summary>
public sealed class PatchCadenceCheck(IComplianceStore store) : IControlCheck
{
    public string ControlId => "CC8.1";
    public string Title => "Vulnerability and patch cadence";
    public string Kind => "manual";

    public async Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct)
    {
        var recent = (await store.ListArtifactsAsync(context.WindowStart, ct).ConfigureAwait(false)).Where(a => ArtifactTypes.PatchCadence.Contains(a.ArtifactType)).ToList();
        var evidence = new Dictionary<string, object?> { ["artifacts"] = recent.Select(a => new { a.Id, a.ArtifactType, a.ArtifactUri, a.UploadedAt }).ToList() };
        return recent.Count > 0
            ? new ControlResult(ControlId, Title, Kind, ControlStatus.Pass, $"{recent.Count} scan or patch artefact(s) in the last {context.WindowDays} days", evidence)
            : new ControlResult(ControlId, Title, Kind, ControlStatus.ManualPending,
                $"no dependency_scan, vulnerability_scan or patch_report uploaded in the last {context.WindowDays} days (POST /v1/admin/compliance/artifacts)", evidence);
    }
}

/// <summary>A1.1: a database backup within two days (or two schedule intervals) and a successful restore drill within the window.</summary>
public sealed class BackupRestoreCheck(IComplianceStore store, IMaintenanceStore runs) : IControlCheck
{
    public string ControlId => "A1.1";
    public string Title => "Backup and restore drill compliance";
    public string Kind => "automated";

    public async Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct)
    {
        var backup = await store.LatestBackupAsync(ct).ConfigureAwait(false);
        var drills = await runs.ListAsync(MaintenanceTasks.RestoreDrillScheduled, 50, ct).ConfigureAwait(false);
        var goodDrill = drills.FirstOrDefault(r => r.Status == MaintenanceRunStatus.Succeeded);
        var drillAt = goodDrill?.FinishedAt ?? goodDrill?.CreatedAt;
        var problems = new List<string>();
        if (backup is null) problems.Add("no backup holding the database");
        else if ((context.Now - backup.Value.CreatedAt).TotalHours > 48) problems.Add($"the last database backup is {(context.Now - backup.Value.CreatedAt).TotalHours:F0} h old");
        if (drillAt is null) problems.Add("no successful restore drill");
        else if (drillAt < context.WindowStart) problems.Add($"no successful restore drill in the last {context.WindowDays} days");
        return Controls.Result(this, true, "a recent database backup and a successful restore drill in the window", problems, new Dictionary<string, object?>
        {
            ["last_backup_at"] = backup?.CreatedAt, ["last_backup_encryption"] = backup?.Encryption, ["last_backup_signing"] = backup?.Signing,
            ["last_successful_drill_at"] = drillAt, ["last_successful_drill_run"] = goodDrill?.Id,
        });
    }
}

/// <summary>C1.1: encryption at rest on and fail-closed, no plaintext of a sensitive kind left, no data key past its rotation interval, backups encrypted.</summary>
public sealed class EncryptionPostureCheck(IOptions<CryptoOptions> crypto, IOptions<BackupOptions> backups, KeyRotationService rotation, ITenantKeyStore keys) : IControlCheck
{
    public string ControlId => "C1.1";
    public string Title => "Encryption posture";
    public string Kind => "automated";

    public async Task<ControlResult> EvaluateAsync(ControlContext context, CancellationToken ct)
    {
        var o = crypto.Value;
        var problems = new List<string>();
        IReadOnlyList<string> plaintext = [];
        IReadOnlyList<TenantDataKey> overdue = [];
        if (!o.Enabled) problems.Add("encryption at rest is off (CRYPTO_ENABLED=false)");
        else
        {
            if (!o.RequireForSensitive) problems.Add("CRYPTO_REQUIRE_ENCRYPTION_FOR_SENSITIVE=false");
            if (!o.FailClosed) problems.Add("CRYPTO_FAIL_MODE=open");
            plaintext = await rotation.TenantsWithPlaintextAsync(ct).ConfigureAwait(false);
            if (plaintext.Count > 0) problems.Add($"{plaintext.Count} tenant(s) still hold plaintext of a sensitive kind");
            overdue = await keys.ActiveCreatedBeforeAsync(context.Now.AddDays(-o.RotationIntervalDays), ct).ConfigureAwait(false);
            if (overdue.Count > 0) problems.Add($"{overdue.Count} data key(s) older than CRYPTO_ROTATION_INTERVAL_DAYS={o.RotationIntervalDays}");
        }
        if (!backups.Value.EncryptionEnabled) problems.Add("backups are not encrypted (BACKUP_ENCRYPTION_ENABLED=false)");
        return Controls.Result(this, true, $"sensitive data sealed with per-tenant keys ({o.Provider}), fail-closed, backups encrypted", problems, new Dictionary<string, object?>
        {
            ["crypto_enabled"] = o.Enabled, ["provider"] = o.Provider, ["fail_mode"] = o.FailMode, ["require_for_sensitive"] = o.RequireForSensitive,
            ["tenants_with_plaintext"] = plaintext, ["keys_overdue"] = overdue.Select(k => $"{k.TenantId}:v{k.Version}").ToList(),
            ["rotation_interval_days"] = o.RotationIntervalDays, ["backup_encryption"] = backups.Value.EncryptionEnabled,
        });
    }
}
