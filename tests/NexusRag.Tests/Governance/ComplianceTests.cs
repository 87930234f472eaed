using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NexusRag.Core.Compliance;
using NexusRag.Storage;
using NexusRag.Tests.Crypto;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Governance;

/// <summary>
/// SOC 2 automation on the store the suite runs on: every baseline control computed from real state and turning red when
/// its fact breaks (an edited audit row, aged keys, a stale backup and drill, no scan artefact, a dev bypass); signed
/// bundles with redacted configuration, verified, and refused after any tampering; the CLI; operator-only access.
/// </summary>
public sealed class ComplianceTests : IDisposable
{
    private const string BackupKey = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M=";
    private readonly TempDir _dir = new("nexusrag-soc2");
    private readonly TempDir _backups = new("nexusrag-soc2-bk");

    public void Dispose()
    {
        _dir.Dispose();
        _backups.Dispose();
    }

    private Dictionary<string, string?> Settings(Dictionary<string, string?>? extra = null)
    {
        var s = EncryptionAtRestTests.Encrypted(_dir.Path, new()
        {
            ["KEYRING_MASTER_KEY"] = EncryptionAtRestTests.MasterKey, ["BACKUP_LOCAL_DIR"] = _backups.Path,
            ["BACKUP_ENCRYPTION_ENABLED"] = "true", ["BACKUP_ENCRYPTION_KEY"] = BackupKey, ["METRICS_TOKEN"] = "metrics-token-value-1234",
        });
        foreach (var (k, v) in extra ?? []) s[k] = v;
        return s;
    }

    private NexusAppFactory App(ManualClock? clock = null, Dictionary<string, string?>? extra = null) =>
        new(Settings(extra), clock is null ? null : s => s.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)), dataDir: _dir.Path);

    private static Dictionary<string, string> Statuses(JsonElement snapshot) =>
        snapshot.GetProperty("results_json").EnumerateArray().ToDictionary(r => r.GetProperty("control_id").GetString()!, r => r.GetProperty("status").GetString()!);

    private static async Task<JsonElement> EvaluateAsync(HttpClient op, int windowDays = 30) =>
        await (await op.PostAsJsonAsync("/v1/admin/compliance/evaluate", new { window_days = windowDays })).DataAsync(201);

    /// <summary>A backup with the database and a successful restore drill, so A1.1 has its facts.</summary>
    private async Task BackupAndDrillAsync(HttpClient op)
    {
        var (code, output) = await CliRunner.RunAsync(Settings(), "backup", "create", "--type", "db");
        Assert.True(code == 0, output);
        var run = await (await op.PostAsync("/v1/admin/maintenance/run?task=restore_drill_scheduled", null)).DataAsync(202);
        var done = await Eventually.ReadAsync(async () => await (await op.GetAsync($"/v1/admin/maintenance/runs/{run.GetProperty("id").GetString()}")).DataAsync(),
            r => r.GetProperty("status").GetString() is "succeeded" or "failed", timeoutSeconds: 60);
        Assert.Equal("succeeded", done.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Each_control_is_computed_from_real_state_and_turns_red_when_its_fact_breaks()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        using var app = App(clock);
        var admin = await app.AdminForTenantAsync("t1");
        var op = await app.OperatorAsync();
        await admin.IngestTextAsync("docs", "Controls need some data to look at.", "d1");
        await admin.WaitForDocumentAsync("d1");

        var first = await EvaluateAsync(op);
        var s = Statuses(first);
        Assert.Equal(["A1.1", "C1.1", "CC6.1", "CC6.2", "CC7.1", "CC7.2", "CC8.1"], s.Keys.Order(StringComparer.Ordinal));
        Assert.Equal("fail", s["A1.1"]);          // no backup, no drill yet
        Assert.Equal("manual_pending", s["CC8.1"]); // no scan uploaded
        Assert.Equal("fail", first.GetProperty("status").GetString());

        await BackupAndDrillAsync(op);
        (await op.PostAsJsonAsync("/v1/admin/compliance/artifacts", new { artifact_type = "dependency_scan", artifact_uri = "s3://compliance/scans/scan.json" })).EnsureSuccessStatusCode();
        var green = await EvaluateAsync(op);
        Assert.All(Statuses(green), kv => Assert.True(kv.Value == "pass", $"{kv.Key} is {kv.Value}: {green.GetRawText()}"));
        Assert.Equal("pass", green.GetProperty("status").GetString());

        // An edited audit row: CC7.2 (the trail's integrity) turns red and names the tenant; the rest stays green.
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var row = await db.AuditEvents.Where(e => e.TenantId == "t1").OrderBy(e => e.Id).FirstAsync();
            row.Outcome = "edited";
            await db.SaveChangesAsync();
        }
        var tampered = await EvaluateAsync(op);
        var cc72 = tampered.GetProperty("results_json").EnumerateArray().Single(r => r.GetProperty("control_id").GetString() == "CC7.2");
        Assert.Equal("fail", cc72.GetProperty("status").GetString());
        Assert.Equal("t1", cc72.GetProperty("evidence").GetProperty("broken_chains")[0].GetProperty("tenant_id").GetString());
        Assert.Equal(["CC7.2"], Statuses(tampered).Where(kv => kv.Value != "pass").Select(kv => kv.Key));

        // 100 days on: keys too old (CC6.2), data keys past rotation (C1.1), the backup and drill stale (A1.1), the scan out of the window (CC8.1).
        clock.Advance(TimeSpan.FromDays(100));
        var aged = Statuses(await EvaluateAsync(op));
        Assert.Equal("fail", aged["CC6.2"]);
        Assert.Equal("fail", aged["C1.1"]);
        Assert.Equal("fail", aged["A1.1"]);
        Assert.Equal("manual_pending", aged["CC8.1"]);
        Assert.Equal("pass", aged["CC6.1"]);

        var status = await (await op.GetAsync("/v1/ops/compliance/status")).DataAsync();
        Assert.Equal("fail", status.GetProperty("status").GetString());
        var snapshots = await (await op.GetAsync("/v1/admin/compliance/snapshots?limit=20")).DataAsync();
        Assert.Equal(4, snapshots.GetArrayLength());
        (await op.GetAsync($"/v1/admin/compliance/snapshots/{first.GetProperty("id").GetString()}")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Access_control_fails_with_the_dev_bypass_and_compliance_is_the_operators()
    {
        using var app = App(extra: new() { ["AUTH_DEV_BYPASS"] = "true" });
        var admin = await app.AdminForTenantAsync("t1");
        var op = await app.OperatorAsync();
        Assert.Equal("fail", Statuses(await EvaluateAsync(op))["CC6.1"]);
        foreach (var (method, path) in new[] { ("POST", "/v1/admin/compliance/evaluate"), ("GET", "/v1/admin/compliance/snapshots"), ("POST", "/v1/admin/compliance/bundles"),
                     ("POST", "/v1/admin/compliance/artifacts"), ("GET", "/v1/ops/compliance/status") })
        {
            using var req = new HttpRequestMessage(new HttpMethod(method), path) { Content = method == "POST" ? JsonContent.Create(new { }) : null };
            await (await admin.SendAsync(req)).AssertErrorAsync(403);
        }
        await (await op.PostAsJsonAsync("/v1/admin/compliance/artifacts", new { artifact_type = "selfie", artifact_uri = "not a uri" })).AssertErrorAsync(422);
    }

    [Fact]
    public async Task A_bundle_holds_the_seed_files_with_secrets_redacted_verifies_and_refuses_any_tampering()
    {
        using var app = App();
        var op = await app.OperatorAsync();
        _ = await app.AdminForTenantAsync("t1");
        var bundle = await (await op.PostAsJsonAsync("/v1/admin/compliance/bundles", new
        {
            bundle_type = "soc2_on_demand", period_start = DateTime.UtcNow.AddDays(-30), period_end = DateTime.UtcNow,
        })).DataAsync(201);
        var id = bundle.GetProperty("id").GetString()!;
        var download = await op.GetAsync($"/v1/admin/compliance/bundles/{id}/download");
        download.EnsureSuccessStatusCode();
        var bytes = await download.Content.ReadAsByteArrayAsync();
        Assert.Equal(bundle.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        var files = ZipFiles.Read(bytes);
        Assert.Equal(ComplianceService.BundleFiles.Append("manifest.json").Append("manifest.sig").Order(StringComparer.Ordinal), files.Keys.Order(StringComparer.Ordinal));
        var all = string.Join("\n", files.Values.Select(Encoding.UTF8.GetString));
        foreach (var secret in new[] { EncryptionAtRestTests.MasterKey, BackupKey, "metrics-token-value-1234" }) Assert.DoesNotContain(secret, all);
        using (var config = JsonDocument.Parse(files["config_sanitized.json"]))
        {
            Assert.Equal("[redacted]", config.RootElement.GetProperty("CRYPTO_LOCAL_MASTER_KEY").GetString());
            Assert.Equal("true", config.RootElement.GetProperty("CRYPTO_ENABLED").GetString());
        }
        using (var snap = JsonDocument.Parse(files["snapshot.json"]))
        {
            Assert.Equal(bundle.GetProperty("snapshot_id").GetString(), snap.RootElement.GetProperty("id").GetString());
            Assert.Equal(7, snap.RootElement.GetProperty("results_json").GetArrayLength());
            Assert.Equal(id, snap.RootElement.GetProperty("artifact_paths_json").GetProperty("bundle_id").GetString());
        }
        foreach (var alias in new[] { $"/v1/admin/compliance/snapshots/{bundle.GetProperty("snapshot_id").GetString()}/download", $"/v1/admin/compliance/bundle/{bundle.GetProperty("snapshot_id").GetString()}.zip" })
            Assert.Equal(bytes, await (await op.GetAsync(alias)).Content.ReadAsByteArrayAsync());
        var ok = await (await op.PostAsync($"/v1/admin/compliance/bundles/{id}/verify", null)).DataAsync();
        Assert.Equal(["bundle_sha256", "manifest_signature", "file_sha256"], ok.GetProperty("checks").EnumerateArray().Select(c => c.GetString()!));

        var path = Path.Combine(_dir.Path, "compliance", "bundles", id + ".zip");
        // 1. One flipped byte.
        var flipped = bytes.ToArray();
        flipped[flipped.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(path, flipped);
        Assert.Contains("SHA-256 differs", await VerifyFailsAsync(op, id));
        // 2. An edited file, with the recorded checksum updated to match (someone with database access): the manifest's sums catch it.
        var edited = new Dictionary<string, byte[]>(files) { ["controls.json"] = Encoding.UTF8.GetBytes("[]") };
        await RewriteAsync(app, path, id, ZipFiles.Write(edited));
        Assert.Contains("controls.json does not match the manifest", await VerifyFailsAsync(op, id));
        // 3. The manifest rewritten to match the edit: the signature catches it.
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(files["manifest.json"])!;
        foreach (var f in manifest["files"]!.AsArray())
            if (f!["name"]!.GetValue<string>() == "controls.json") f["sha256"] = Convert.ToHexStringLower(SHA256.HashData(edited["controls.json"]));
        edited["manifest.json"] = Encoding.UTF8.GetBytes(manifest.ToJsonString());
        await RewriteAsync(app, path, id, ZipFiles.Write(edited));
        Assert.Contains("signature does not verify", await VerifyFailsAsync(op, id));
    }

    private static async Task<string> VerifyFailsAsync(HttpClient op, string id)
    {
        var resp = await op.PostAsync($"/v1/admin/compliance/bundles/{id}/verify", null);
        var body = await resp.Content.ReadAsStringAsync();
        await resp.AssertErrorAsync(400, ComplianceErrorCodes.BundleVerifyFailed);
        return body;
    }

    private static async Task RewriteAsync(NexusAppFactory app, string path, string id, byte[] bytes)
    {
        await File.WriteAllBytesAsync(path, bytes);
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        await db.ComplianceBundles.Where(b => b.Id == id).ExecuteUpdateAsync(s => s.SetProperty(b => b.Sha256, Convert.ToHexStringLower(SHA256.HashData(bytes))));
    }

    [Fact]
    public async Task Bundles_need_the_keyring_and_the_cli_makes_and_verifies_one()
    {
        using (var app = new NexusAppFactory(TestStore.SettingsFor(_dir.Path), dataDir: _dir.Path))
        {
            var op = await app.OperatorAsync();
            await (await op.PostAsJsonAsync("/v1/admin/compliance/bundles", new { })).AssertErrorAsync(409, "KEYRING_DISABLED");
        }
        var (code, output) = await CliRunner.RunAsync(Settings(), "compliance", "bundle", "--period-start", "2026-11-01T00:00:00Z", "--period-end", "2026-11-30T23:59:59Z");
        Assert.True(code == 0, output);
        var id = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("Bundle ", StringComparison.Ordinal)).Split(' ')[1];
        Assert.Contains("CC7.2", output);
        Assert.True(File.Exists(Path.Combine(_dir.Path, "compliance", "bundles", id + ".zip")));
        (code, output) = await CliRunner.RunAsync(Settings(), "compliance", "verify", "--bundle", id);
        Assert.True(code == 0, output);
        Assert.Contains("manifest_signature", output);
        (code, output) = await CliRunner.RunAsync(Settings(), "compliance", "bundle", "--period-start", "yesterday-ish", "--period-end", "2026-11-30");
        Assert.Equal(2, code);
    }
}
