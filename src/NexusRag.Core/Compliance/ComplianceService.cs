using System.IO.Compression;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Crypto;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Compliance;

/// <summary>Where evidence bundles are kept (resolved by the host: <c>{data dir}/compliance/bundles</c>).</summary>
public sealed record ComplianceLocation(string Directory);

/// <summary>
/// SOC 2 automation: evaluates the baseline controls into a snapshot, and builds evidence bundles — a ZIP of the seed's
/// files (snapshot, controls, redacted configuration, runbooks index, change log, capacity, performance gates and
/// report, 24 h operations summary) with a manifest of their SHA-256 sums signed (HMAC-SHA256) with the keyring's
/// active <c>signing</c> key. A bundle verifies when its stored bytes still have the recorded SHA-256, every file its
/// listed sum, and the manifest its signature under the key named in it.
/// </summary>
public sealed partial class ComplianceService(
    IEnumerable<IControlCheck> checks, IComplianceStore store, Keyring keyring, IAuditLog audit, Observability.IOpsStore ops, IConfiguration config,
    IOptions<ComplianceOptions> options, ComplianceLocation location, TimeProvider clock)
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };
    public static readonly string[] BundleTypes = ["soc2_on_demand", "soc2_scheduled"];
    public static readonly string[] BundleFiles =
    [
        "snapshot.json", "controls.json", "config_sanitized.json", "runbooks_index.json", "changelog_excerpt.md", "capacity_model_excerpt.md",
        "perf_gates_excerpt.json", "perf_report_summary.md", "ops_metrics_24h_summary.json",
    ];

    private void EnsureEnabled()
    {
        if (!options.Value.Enabled) throw NexusException.Conflict(ComplianceErrorCodes.ComplianceDisabled, "Compliance automation is off (COMPLIANCE_ENABLED=false)");
    }

    public async Task<ComplianceSnapshot> EvaluateAsync(Principal principal, int windowDays, string? requestId, CancellationToken ct)
    {
        EnsureEnabled();
        if (windowDays is < 1 or > 366) throw NexusException.Validation("window_days", "must be between 1 and 366");
        var context = new ControlContext(clock.GetUtcNow().UtcDateTime, windowDays);
        var results = new List<ControlResult>();
        foreach (var c in checks.OrderBy(c => c.ControlId, StringComparer.Ordinal)) results.Add(await c.EvaluateAsync(context, ct).ConfigureAwait(false));
        var status = results.Any(r => r.Status == ControlStatus.Fail) ? "fail" : results.Any(r => r.Status == ControlStatus.ManualPending) ? "partial" : "pass";
        var snapshot = new ComplianceSnapshot(Services.Identifiers.NewId("cmp"), context.Now, windowDays, status, results, principal.ActorId);
        await store.AddSnapshotAsync(snapshot, ct).ConfigureAwait(false);
        await audit.AppendAsync(new AuditEntry(Principal.PlatformTenant, "compliance.evaluated", "success", principal.ActorType, principal.ActorId, "compliance_snapshot",
            snapshot.Id, requestId, new Dictionary<string, object?> { ["status"] = status, ["failed"] = results.Where(r => r.Status == ControlStatus.Fail).Select(r => r.ControlId).ToList() }),
            ct).ConfigureAwait(false);
        return snapshot;
    }

    public async Task<ComplianceArtifact> AddArtifactAsync(Principal principal, string? type, string? uri, string? sha256, string? notes, string? requestId, CancellationToken ct)
    {
        EnsureEnabled();
        var errors = new Dictionary<string, string[]>();
        if (type is null || !ArtifactTypes.All.Contains(type)) errors["artifact_type"] = [$"must be one of {string.Join(", ", ArtifactTypes.All)}"];
        if (string.IsNullOrWhiteSpace(uri) || uri.Length > 1000 || !Uri.TryCreate(uri, UriKind.Absolute, out _)) errors["artifact_uri"] = ["must be an absolute URI of at most 1000 characters"];
        if (sha256 is not null && (sha256.Length != 64 || !sha256.All(Uri.IsHexDigit))) errors["sha256"] = ["must be 64 hex digits"];
        if (notes is { Length: > 2000 }) errors["notes"] = ["must be at most 2000 characters"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var artifact = new ComplianceArtifact(Services.Identifiers.NewId("cart"), type!, uri!, sha256?.ToLowerInvariant(), notes, principal.ActorId, clock.GetUtcNow().UtcDateTime);
        await store.AddArtifactAsync(artifact, ct).ConfigureAwait(false);
        await audit.AppendAsync(new AuditEntry(Principal.PlatformTenant, "compliance.artifact.uploaded", "success", principal.ActorType, principal.ActorId, "compliance_artifact",
            artifact.Id, requestId, new Dictionary<string, object?> { ["artifact_type"] = type, ["artifact_uri"] = uri }), ct).ConfigureAwait(false);
        return artifact;
    }

    public string BundlePath(string id) => Path.Combine(location.Directory, id + ".zip");

    public async Task<ComplianceBundle> CreateBundleAsync(Principal principal, string? bundleType, DateTime? periodStart, DateTime? periodEnd, string? requestId, CancellationToken ct)
    {
        EnsureEnabled();
        var type = bundleType ?? "soc2_on_demand";
        var now = clock.GetUtcNow().UtcDateTime;
        var end = (periodEnd ?? now).ToUniversalTime();
        var start = (periodStart ?? end.AddDays(-30)).ToUniversalTime();
        var errors = new Dictionary<string, string[]>();
        if (!BundleTypes.Contains(type)) errors["bundle_type"] = [$"must be one of {string.Join(", ", BundleTypes)}"];
        if (start >= end) errors["period_start"] = ["must be before period_end"];
        else if ((end - start).TotalDays > 366) errors["period_end"] = ["the period is at most 366 days"];
        if (errors.Count > 0) throw NexusException.Validation(errors);

        // Signed with the keyring's signing key (made on first use); no keyring, no bundle (KEYRING_DISABLED / KEYRING_NOT_CONFIGURED).
        var active = await keyring.ActiveMaterialAsync("signing", ct).ConfigureAwait(false);
        if (active is null)
        {
            await keyring.NewKeyAsync("signing", principal.ActorId, ct).ConfigureAwait(false);
            active = await keyring.ActiveMaterialAsync("signing", ct).ConfigureAwait(false);
        }
        var key = active ?? throw new InvalidOperationException("the keyring has no signing key after making one");
        var snapshot = await EvaluateAsync(principal, Math.Clamp((int)Math.Ceiling((end - start).TotalDays), 1, 366), requestId, ct).ConfigureAwait(false);
        var id = Services.Identifiers.NewId("bnd");
        var files = await BuildFilesAsync(snapshot, id, start, end, ct).ConfigureAwait(false);
        var manifest = JsonSerializer.SerializeToUtf8Bytes(new
        {
            bundle_id = id, bundle_type = type, snapshot_id = snapshot.Id, period_start = start, period_end = end, created_at = now,
            signing = new { algorithm = "hmac-sha256", key_id = key.Key.Id, key_fingerprint = key.Key.Fingerprint },
            files = files.Select(f => new { name = f.Key, bytes = f.Value.LongLength, sha256 = Convert.ToHexStringLower(SHA256.HashData(f.Value)) }),
        }, Json);
        Directory.CreateDirectory(location.Directory);
        var path = BundlePath(id);
        await using (var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        {
            foreach (var (name, bytes) in files.Append(new("manifest.json", manifest))
                         .Append(new("manifest.sig", Encoding.ASCII.GetBytes(Convert.ToHexStringLower(HMACSHA256.HashData(key.Material, manifest))))))
            {
                await using var s = zip.CreateEntry(name, CompressionLevel.Optimal).Open();
                await s.WriteAsync(bytes, ct).ConfigureAwait(false);
            }
        }
        CryptographicOperations.ZeroMemory(key.Material);
        var bundle = new ComplianceBundle(id, snapshot.Id, type, start, end, Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false))),
            new FileInfo(path).Length, key.Key.Id, now, principal.ActorId);
        await store.AddBundleAsync(bundle, ct).ConfigureAwait(false);
        await audit.AppendAsync(new AuditEntry(Principal.PlatformTenant, "compliance.bundle.created", "success", principal.ActorType, principal.ActorId, "compliance_bundle", id,
            requestId, new Dictionary<string, object?> { ["snapshot_id"] = snapshot.Id, ["sha256"] = bundle.Sha256, ["signing_key_id"] = key.Key.Id }), ct).ConfigureAwait(false);
        return bundle;
    }

    /// <summary>Every check a bundle passes; throws 400 <c>COMPLIANCE_BUNDLE_VERIFY_FAILED</c> naming the first that fails.</summary>
    public async Task<IReadOnlyList<string>> VerifyBundleAsync(string id, CancellationToken ct)
    {
        var bundle = await store.GetBundleAsync(id, ct).ConfigureAwait(false) ?? throw NexusException.NotFound("compliance_bundle", id);
        var path = BundlePath(id);
        if (!File.Exists(path)) throw Failed(id, "the bundle file is missing");
        var bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        var passed = new List<string>();
        if (Convert.ToHexStringLower(SHA256.HashData(bytes)) != bundle.Sha256) throw Failed(id, "the bundle's bytes are not those recorded when it was made (SHA-256 differs)");
        passed.Add("bundle_sha256");
        Dictionary<string, byte[]> entries;
        try
        {
            using var zip = new ZipArchive(new MemoryStream(bytes));
            entries = zip.Entries.ToDictionary(e => e.FullName, e =>
            {
                using var s = e.Open();
                using var m = new MemoryStream();
                s.CopyTo(m);
                return m.ToArray();
            });
        }
        catch (InvalidDataException ex)
        {
            throw Failed(id, "the bundle is not a readable ZIP: " + ex.Message);
        }
        if (!entries.TryGetValue("manifest.json", out var manifest) || !entries.TryGetValue("manifest.sig", out var sig)) throw Failed(id, "the manifest or its signature is missing");
        using var doc = JsonDocument.Parse(manifest);
        var keyId = doc.RootElement.GetProperty("signing").GetProperty("key_id").GetString()!;
        byte[] material;
        try { material = await keyring.MaterialAsync(keyId, ct).ConfigureAwait(false); }
        catch (NexusException ex) { throw Failed(id, $"the signing key {keyId} cannot verify: {ex.Message}"); }
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Convert.ToHexStringLower(HMACSHA256.HashData(material, manifest))), sig))
            throw Failed(id, "the manifest signature does not verify");
        passed.Add("manifest_signature");
        foreach (var f in doc.RootElement.GetProperty("files").EnumerateArray())
        {
            var name = f.GetProperty("name").GetString()!;
            if (!entries.TryGetValue(name, out var content) || Convert.ToHexStringLower(SHA256.HashData(content)) != f.GetProperty("sha256").GetString())
                throw Failed(id, $"{name} does not match the manifest");
        }
        passed.Add("file_sha256");
        return passed;
    }

    private static NexusException Failed(string id, string why) =>
        new(ErrorKind.BadRequest, ComplianceErrorCodes.BundleVerifyFailed, $"Bundle {id} does not verify: {why}", new Dictionary<string, object?> { ["bundle_id"] = id, ["reason"] = why });

    public async Task<int> PruneEvidenceAsync(CancellationToken ct)
    {
        var (snapshots, bundles, artifacts) = await store.PruneBeforeAsync(clock.GetUtcNow().UtcDateTime.AddDays(-options.Value.EvidenceRetentionDays), ct).ConfigureAwait(false);
        foreach (var b in bundles)
        {
            try { File.Delete(BundlePath(b)); } catch (IOException) { }
        }
        return snapshots + bundles.Count + artifacts;
    }

    private async Task<List<KeyValuePair<string, byte[]>>> BuildFilesAsync(ComplianceSnapshot s, string bundleId, DateTime start, DateTime end, CancellationToken ct)
    {
        byte[] J(object o) => JsonSerializer.SerializeToUtf8Bytes(o, Json);
        byte[] Md(string text) => Encoding.UTF8.GetBytes(text);
        var now = clock.GetUtcNow().UtcDateTime;
        var (applied, pending) = await store.SchemaAsync(ct).ConfigureAwait(false);
        var counts = await store.CountsAsync(ct).ConfigureAwait(false);
        var (changes, _) = await audit.QueryAsync(new AuditQuery(Principal.PlatformTenant, null, null, null, null, null, start, end, 200, null), ct).ConfigureAwait(false);
        var ingestion = await ops.IngestionStatsAsync(null, now.AddHours(-24), ct).ConfigureAwait(false);
        var jobs = await ops.JobsByStatusAsync(ct).ConfigureAwait(false);
        var workers = await ops.HeartbeatsAsync(ct).ConfigureAwait(false);
        var release = Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

        var changelog = new StringBuilder($"# Change log excerpt ({start:yyyy-MM-dd} to {end:yyyy-MM-dd})\n\nRelease: {release}\n\n## Schema migrations applied\n\n");
        foreach (var m in applied) changelog.Append("- ").Append(m).Append('\n');
        if (pending.Count > 0) changelog.Append("\nPending: ").Append(string.Join(", ", pending)).Append('\n');
        changelog.Append("\n## Platform changes on the audit chain\n\n");
        foreach (var e in changes) changelog.Append(FormattableString.Invariant($"- {e.OccurredAt:O} {e.EventType} by {e.ActorType}:{e.ActorId} ({e.Outcome})\n"));

        var capacity = new StringBuilder($"# Capacity model excerpt ({now:O})\n\n| Item | Count |\n|---|---|\n");
        foreach (var (k, v) in counts) capacity.Append(FormattableString.Invariant($"| {k} | {v} |\n"));

        var perf = new StringBuilder("# Performance report summary (last 24 h)\n\n");
        perf.Append(FormattableString.Invariant($"Ingestion jobs: {ingestion.Total}; queue-to-finish p50 {ingestion.P50Ms?.ToString("F0") ?? "n/a"} ms, p95 {ingestion.P95Ms?.ToString("F0") ?? "n/a"} ms.\n"));
        foreach (var (state, n) in ingestion.ByState) perf.Append(FormattableString.Invariant($"- {state}: {n}\n"));
        perf.Append("\nThroughput and latency benchmarks with their baselines: `bench/` (see the README's Benchmarks section).\n");

        return
        [
            new("snapshot.json", J(new
            {
                id = s.Id, captured_at = s.CapturedAt, created_at = s.CapturedAt, window_days = s.WindowDays, status = s.Status,
                results_json = s.Results, artifact_paths_json = new { bundle_id = bundleId, bundle_path = $"compliance/bundles/{bundleId}.zip", bundle_download_path = $"/v1/admin/compliance/bundles/{bundleId}/download", generated_at = now },
            })),
            new("controls.json", J(s.Results)),
            new("config_sanitized.json", J(SanitizedConfig())),
            new("runbooks_index.json", J(Runbooks)),
            new("changelog_excerpt.md", Md(changelog.ToString())),
            new("capacity_model_excerpt.md", Md(capacity.ToString())),
            new("perf_gates_excerpt.json", J(new
            {
                run_p95_ms_gate = 1800, source = "seed gate: /v1/run p95 <= 1800 ms",
                run_max_concurrency = config["RUN_MAX_CONCURRENCY"], rate_limit_enabled = config["RATE_LIMIT_ENABLED"] ?? "true",
            })),
            new("perf_report_summary.md", Md(perf.ToString())),
            new("ops_metrics_24h_summary.json", J(new
            {
                window_start = now.AddHours(-24), window_end = now, jobs_by_status = jobs, ingestion = new { ingestion.Total, ingestion.ByState, ingestion.P50Ms, ingestion.P95Ms, ingestion.Failures },
                workers = workers.Count(w => (now - w.LastSeenAt).TotalMinutes < 5),
            })),
        ];
    }

    /// <summary>The runbooks an auditor is pointed to (sections of the README that ships with the release).</summary>
    private static readonly object[] Runbooks =
    [
        new { id = "backup-restore", title = "Backups, restore, dry runs", readme_section = "Backups and disaster recovery" },
        new { id = "restore-drill", title = "Scheduled restore drills and DR readiness", readme_section = "Backups and disaster recovery" },
        new { id = "key-rotation", title = "Data key rotation and re-encryption", readme_section = "Encryption at rest" },
        new { id = "kms-outage", title = "KMS outage: fail modes", readme_section = "Encryption at rest" },
        new { id = "legal-hold-dsar", title = "Legal holds and data subject requests", readme_section = "Data governance and compliance" },
        new { id = "audit-chain", title = "Audit chain verification", readme_section = "Governance" },
        new { id = "overload", title = "Overload control and health", readme_section = "Observability and overload control" },
    ];

    /// <summary>The deployment's settings (the product's own names only) with every secret redacted.</summary>
    private SortedDictionary<string, string?> SanitizedConfig()
    {
        var result = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (key, value) in config.AsEnumerable())
        {
            if (value is null || !(OwnSetting().IsMatch(key) || key.StartsWith("NexusRag:", StringComparison.Ordinal))) continue;
            result[key] = Secret().IsMatch(key) ? "[redacted]" : RedactCredentials(value);
        }
        return result;
    }

    private static string RedactCredentials(string value)
    {
        var v = Regex.Replace(value, @"(?<=://[^:/@\s]+:)[^@\s]+(?=@)", "[redacted]");
        return Regex.Replace(v, @"(?i)(password|pwd)\s*=\s*[^;]*", "$1=[redacted]");
    }

    [GeneratedRegex("^(NEXUSRAG_|AUTH_|AUTHZ_|CRYPTO_|BACKUP_|RESTORE_|KEYRING_|RATE_LIMIT|RL_|DATABASE_URL|REDIS_URL|EMBEDDINGS_|LLM_|OPENAI_|METRICS_|COMPLIANCE_|GOVERNANCE_|DSAR_|AUDIT_|INGEST_|MAX_|OCR_|RUN_|UI_|IDEMPOTENCY_|MAINTENANCE_|PG_BIN|DEFAULT_PLAN)")]
    private static partial Regex OwnSetting();

    [GeneratedRegex("(?i)(KEY|SECRET|TOKEN|PASSWORD|PASSPHRASE)")]
    private static partial Regex Secret();
}

/// <summary>Maintenance task <c>prune_compliance_evidence</c>: evidence older than <c>COMPLIANCE_EVIDENCE_RETENTION_DAYS</c>.</summary>
public sealed class PruneComplianceEvidenceTask(ComplianceService compliance) : Backups.IMaintenanceTask
{
    public string Name => Backups.MaintenanceTasks.PruneComplianceEvidence;
    public async Task<object> RunAsync(JsonElement args, CancellationToken ct) => new { pruned = await compliance.PruneEvidenceAsync(ct).ConfigureAwait(false) };
}
