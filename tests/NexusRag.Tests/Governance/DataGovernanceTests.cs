using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NexusRag.Core.Auth;
using NexusRag.Core.DataGovernance;
using NexusRag.Storage;
using NexusRag.Tests.Crypto;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;

namespace NexusRag.Tests.Governance;

/// <summary>
/// Retention (with an injectable clock), legal holds on every destructive path, DSAR export/delete/anonymize with the
/// two-admin approval, and policy-as-code decisions, on the store the suite runs on; tenant isolation of each.
/// </summary>
public sealed class DataGovernanceTests : IDisposable
{
    private readonly List<TempDir> _dirs = [];

    public void Dispose()
    {
        foreach (var d in _dirs) d.Dispose();
    }

    private TempDir NewDir()
    {
        var d = new TempDir("nexusrag-gov");
        _dirs.Add(d);
        return d;
    }

    private NexusAppFactory App(TempDir dir, ManualClock? clock = null, Dictionary<string, string?>? extra = null)
    {
        var settings = TestStore.SettingsFor(dir.Path);
        foreach (var (k, v) in extra ?? []) settings[k] = v;
        return new NexusAppFactory(settings, clock is null ? null : s => s.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)), dataDir: dir.Path);
    }

    private static async Task AskAsync(HttpClient client, string session, string message) =>
        await SseClient.RunAsync(client, new { session_id = session, corpus_id = "docs", message });

    private static async Task<JsonElement> RunRetentionAsync(HttpClient admin)
    {
        var run = await (await admin.PostAsync("/v1/admin/governance/retention/run", null)).DataAsync(202);
        var id = run.GetProperty("run_id").GetString();
        return await Eventually.ReadAsync(async () =>
        {
            var r = await admin.GetAsync($"/v1/admin/governance/retention/report?run_id={id}");
            return r.IsSuccessStatusCode ? await r.DataAsync() : default;
        }, r => r.ValueKind == JsonValueKind.Object, timeoutSeconds: 30);
    }

    private static async Task<int> SearchHitsAsync(HttpClient client, string query) =>
        (await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query, top_k = 10, mode = "lexical" })).DataAsync()).GetProperty("results").GetArrayLength();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Retention_removes_exactly_what_is_past_its_ttl_and_nothing_under_a_hold(bool anonymize)
    {
        var dir = NewDir();
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddDays(-60));
        using var app = App(dir, clock);
        var admin = await app.AdminForTenantAsync("t1");
        var other = await app.AdminForTenantAsync("t2");
        foreach (var (id, word) in new[] { ("old-a", "aardvark"), ("old-b", "bison"), ("old-c", "cheetah") }) await admin.IngestTextAsync("docs", $"An old note about the {word}.", id);
        await other.IngestTextAsync("docs", "Another tenant's old note about the aardvark.", "t2-old");
        foreach (var id in new[] { "old-a", "old-b", "old-c" }) await admin.WaitForDocumentAsync(id);
        await other.WaitForDocumentAsync("t2-old");
        await AskAsync(admin, "s-old", "Tell me about the aardvark");
        await AskAsync(admin, "s-held", "Tell me about the bison");
        await AskAsync(other, "s-t2", "Tell me about the aardvark");

        clock.Advance(TimeSpan.FromDays(40));
        await admin.IngestTextAsync("docs", "A new note about the dolphin.", "new-d");
        await admin.WaitForDocumentAsync("new-d");
        await AskAsync(admin, "s-new", "Tell me about the dolphin");

        (await admin.PostAsJsonAsync("/v1/admin/governance/legal-holds", new { scope_type = "document", scope_id = "old-b", reason = "case 1" })).EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync("/v1/admin/governance/legal-holds", new { scope_type = "session", scope_id = "s-held", reason = "case 1" })).EnsureSuccessStatusCode();
        var policy = await (await admin.PatchAsJsonAsync("/v1/admin/governance/retention/policy", new
        {
            messages_ttl_days = 30, documents_ttl_days = 30, hard_delete_enabled = !anonymize, anonymize_instead_of_delete = anonymize,
        })).DataAsync();
        Assert.Equal(anonymize ? "anonymize" : "delete", policy.GetProperty("mode").GetString());

        var report = await RunRetentionAsync(admin);
        var outcomes = report.GetProperty("report").GetProperty("outcomes");
        Assert.Equal((3, 2, 1), Outcome(outcomes.GetProperty("documents")));
        Assert.Equal((4, 2, 2), Outcome(outcomes.GetProperty("messages"))); // s-old's question and answer go; s-held's are kept

        // Exactly the expired, unheld data changed; the held, the new and the other tenant's did not.
        foreach (var id in new[] { "old-a", "old-c" })
        {
            var doc = await admin.GetAsync($"/v1/documents/{id}");
            if (anonymize)
            {
                var d = await doc.DataAsync();
                Assert.True(d.GetProperty("anonymized_at").ValueKind == JsonValueKind.String);
                Assert.Equal(JsonValueKind.Null, d.GetProperty("filename").ValueKind);
                Assert.Equal(0, (await (await admin.GetAsync($"/v1/documents/{id}/chunks")).DataAsync()).GetArrayLength());
                await (await admin.GetAsync($"/v1/documents/{id}/content")).AssertErrorAsync(404);
            }
            else await doc.AssertErrorAsync(404);
        }
        (await admin.GetAsync("/v1/documents/old-b/chunks")).EnsureSuccessStatusCode();
        Assert.Equal(1, (await (await admin.GetAsync("/v1/documents/new-d/chunks")).DataAsync()).GetArrayLength());
        await Eventually.ReadAsync(() => SearchHitsAsync(admin, "aardvark cheetah"), n => n == 0);
        Assert.Equal(1, await SearchHitsAsync(admin, "bison"));
        Assert.Equal(1, await SearchHitsAsync(other, "aardvark"));
        (await other.GetAsync("/v1/documents/t2-old")).EnsureSuccessStatusCode();

        var oldMessages = await (await admin.GetAsync("/v1/sessions/s-old/messages")).DataAsync();
        if (anonymize) Assert.All(oldMessages.EnumerateArray(), m => Assert.Equal("", m.GetProperty("content").GetString()));
        else Assert.Equal(0, oldMessages.GetArrayLength());
        Assert.Contains("bison", (await (await admin.GetAsync("/v1/sessions/s-held/messages")).DataAsync())[0].GetProperty("content").GetString());
        Assert.Equal(2, (await (await admin.GetAsync("/v1/sessions/s-new/messages")).DataAsync()).GetArrayLength());
        Assert.Equal(2, (await (await other.GetAsync("/v1/sessions/s-t2/messages")).DataAsync()).GetArrayLength());

        // The report is the tenant's: another tenant cannot read it, and its own status shows the run.
        var runId = report.GetProperty("run_id").GetString();
        await (await other.GetAsync($"/v1/admin/governance/retention/report?run_id={runId}")).AssertErrorAsync(404);
        await (await other.GetAsync($"/v1/admin/governance/retention/report?tenant_id=t1&run_id={runId}")).AssertErrorAsync(404);
        var status = await (await admin.GetAsync("/v1/admin/governance/retention/status")).DataAsync();
        Assert.Equal(runId, status.GetProperty("last_run").GetProperty("run_id").GetString());
    }

    private static (long, long, long) Outcome(JsonElement o) => (o.GetProperty("eligible").GetInt64(), o.GetProperty("changed").GetInt64(), o.GetProperty("held").GetInt64());

    [Fact]
    public async Task A_tenant_hold_keeps_everything_from_retention_and_a_report_without_either_mode_changes_nothing()
    {
        var dir = NewDir();
        var clock = new ManualClock(DateTimeOffset.UtcNow.AddDays(-60));
        using var app = App(dir, clock);
        var admin = await app.AdminForTenantAsync("t1");
        await admin.IngestTextAsync("docs", "An old note about the walrus.", "old");
        await admin.WaitForDocumentAsync("old");
        clock.Advance(TimeSpan.FromDays(40));
        (await admin.PatchAsJsonAsync("/v1/admin/governance/retention/policy", new { documents_ttl_days = 30 })).EnsureSuccessStatusCode();
        var reportOnly = (await RunRetentionAsync(admin)).GetProperty("report");
        Assert.Equal("report", reportOnly.GetProperty("mode").GetString());
        Assert.Equal((1, 0, 0), Outcome(reportOnly.GetProperty("outcomes").GetProperty("documents")));

        (await admin.PatchAsJsonAsync("/v1/admin/governance/retention/policy", new { hard_delete_enabled = true })).EnsureSuccessStatusCode();
        (await admin.PostAsJsonAsync("/v1/admin/governance/legal-holds", new { scope_type = "tenant", scope_id = "t1", reason = "investigation" })).EnsureSuccessStatusCode();
        Assert.Equal((1, 0, 1), Outcome((await RunRetentionAsync(admin)).GetProperty("report").GetProperty("outcomes").GetProperty("documents")));
        (await admin.GetAsync("/v1/documents/old")).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Every_destructive_path_is_refused_under_a_hold_until_it_is_released()
    {
        var dir = NewDir();
        var backups = NewDir();
        using var app = App(dir, extra: new() { ["BACKUP_LOCAL_DIR"] = backups.Path, ["BACKUP_RETENTION_DAYS"] = "1" });
        var admin = await app.AdminForTenantAsync("t1");
        var other = await app.AdminForTenantAsync("t2");
        var op = await app.OperatorAsync();
        await admin.IngestTextAsync("docs", "Evidence in a dispute.", "evidence");
        await admin.WaitForDocumentAsync("evidence");
        await AskAsync(admin, "s1", "What is the evidence?");
        var hold = await (await admin.PostAsJsonAsync("/v1/admin/governance/legal-holds", new { scope_type = "document", scope_id = "evidence", reason = "case 7" })).DataAsync(201);
        var holdId = hold.GetProperty("id").GetString();

        await (await admin.DeleteAsync("/v1/documents/evidence")).AssertErrorAsync(409, GovernanceErrorCodes.LegalHoldActive);
        await (await admin.DeleteAsync("/v1/corpora/docs")).AssertErrorAsync(409, GovernanceErrorCodes.LegalHoldActive);
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = "evidence", text = "Rewritten.", overwrite = true }))
            .AssertErrorAsync(409, GovernanceErrorCodes.LegalHoldActive);
        await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "delete", subject_type = "document", subject_id = "evidence" }))
            .AssertErrorAsync(409, GovernanceErrorCodes.LegalHoldActive);
        (await admin.PostAsJsonAsync("/v1/admin/governance/legal-holds", new { scope_type = "session", scope_id = "s1", reason = "case 7" })).EnsureSuccessStatusCode();
        await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "anonymize", subject_type = "session", subject_id = "s1" }))
            .AssertErrorAsync(409, GovernanceErrorCodes.LegalHoldActive);

        // A hold on a user key keeps the documents that key created.
        var editorKey = await app.CreateKeyAsync("t1", Role.Editor, "held-editor");
        var editor = app.ClientWithKey(editorKey);
        await editor.IngestTextAsync("docs", "Written by the key under hold.", "by-held-key");
        await editor.WaitForDocumentAsync("by-held-key");
        var keyId = (await (await admin.GetAsync("/v1/admin/api-keys")).DataAsync()).EnumerateArray().Single(k => k.GetProperty("name").GetString() == "held-editor").GetProperty("id").GetString();
        (await admin.PostAsJsonAsync("/v1/admin/governance/legal-holds", new { scope_type = "user_key", scope_id = keyId, reason = "case 8" })).EnsureSuccessStatusCode();
        await (await admin.DeleteAsync("/v1/documents/by-held-key")).AssertErrorAsync(409, GovernanceErrorCodes.LegalHoldActive);
        await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "delete", subject_type = "user_key", subject_id = keyId }))
            .AssertErrorAsync(409, GovernanceErrorCodes.LegalHoldActive);

        // Another tenant neither sees nor releases the hold.
        Assert.Equal(0, (await (await other.GetAsync("/v1/admin/governance/legal-holds")).DataAsync()).GetArrayLength());
        await (await other.PostAsync($"/v1/admin/governance/legal-holds/{holdId}/release", null)).AssertErrorAsync(404);
        await (await other.GetAsync("/v1/admin/governance/legal-holds?tenant_id=t1")).AssertErrorAsync(404);
        Assert.Equal(3, (await (await op.GetAsync("/v1/admin/governance/legal-holds?tenant_id=t1")).DataAsync()).GetArrayLength());

        // Backup pruning keeps a set under a backup_set hold (the operator's, on the platform's own holds of that tenant).
        var (code, output) = await CliRunner.RunAsync(new Dictionary<string, string?>(TestStore.SettingsFor(dir.Path)) { ["BACKUP_LOCAL_DIR"] = backups.Path }, "backup", "create", "--type", "metadata");
        Assert.True(code == 0, output);
        (code, output) = await CliRunner.RunAsync(new Dictionary<string, string?>(TestStore.SettingsFor(dir.Path)) { ["BACKUP_LOCAL_DIR"] = backups.Path }, "backup", "create", "--type", "metadata");
        Assert.True(code == 0, output);
        var sets = Directory.GetDirectories(backups.Path).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(2, sets.Count);
        (await op.PostAsJsonAsync("/v1/admin/governance/legal-holds?tenant_id=t1", new { scope_type = "backup_set", scope_id = sets[0], reason = "case 7" })).EnsureSuccessStatusCode();
        var settings = new Dictionary<string, string?>(TestStore.SettingsFor(dir.Path)) { ["BACKUP_LOCAL_DIR"] = backups.Path, ["BACKUP_RETENTION_DAYS"] = "1" };
        Backdate(backups.Path, sets[0]!, days: 20); // the older set, which retention would prune
        Backdate(backups.Path, sets[1]!, days: 10); // the newest, always kept
        (code, output) = await CliRunner.RunAsync(settings, "backup", "prune");
        Assert.True(code == 0, output);
        Assert.Contains("Nothing to prune.", output);
        Assert.Contains($"Kept under legal hold: {sets[0]}", output);
        Assert.True(Directory.Exists(Path.Combine(backups.Path, sets[0]!)));

        // Released, the document goes.
        (await admin.PostAsync($"/v1/admin/governance/legal-holds/{holdId}/release", null)).EnsureSuccessStatusCode();
        await (await admin.PostAsync($"/v1/admin/governance/legal-holds/{holdId}/release", null)).AssertErrorAsync(409);
        (await admin.DeleteAsync("/v1/documents/evidence")).EnsureSuccessStatusCode();
    }

    /// <summary>Moves a set's <c>created_at</c> back, so retention would prune it.</summary>
    private static void Backdate(string root, string set, int days)
    {
        var manifest = Path.Combine(root, set, "manifest.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(manifest))!;
        node["created_at"] = DateTime.UtcNow.AddDays(-days).ToString("O");
        File.WriteAllText(manifest, node.ToJsonString());
    }

    private static async Task<JsonElement> WaitDsarAsync(HttpClient client, string id) =>
        await Eventually.ReadAsync(async () => await (await client.GetAsync($"/v1/admin/governance/dsar/{id}")).DataAsync(),
            d => d.GetProperty("status").GetString() is "completed" or "failed", timeoutSeconds: 30);

    private static async Task<Dictionary<string, byte[]>> ArtifactAsync(HttpClient client, string id)
    {
        var resp = await client.GetAsync($"/v1/admin/governance/dsar/{id}/artifact");
        resp.EnsureSuccessStatusCode();
        var bytes = await resp.Content.ReadAsByteArrayAsync();
        Assert.Equal(resp.Headers.GetValues("X-Content-SHA256").Single(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
        return ZipFiles.Read(bytes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_dsar_export_holds_exactly_the_subjects_data(bool encrypted)
    {
        var dir = NewDir();
        using var app = App(dir, extra: encrypted ? EncryptionAtRestTests.Encrypted(dir.Path) : null);
        var admin = await app.AdminForTenantAsync("t1");
        var other = await app.AdminForTenantAsync("t2");
        await admin.IngestTextAsync("docs", "Notes about the pangolin.", "pangolin");
        await admin.WaitForDocumentAsync("pangolin");
        await AskAsync(admin, "s-subject", "What about the pangolin? ocelotmarker");
        await AskAsync(admin, "s-other", "Another conversation, narwhalmarker");
        await AskAsync(other, "s-t2", "Other tenant, quetzalmarker");

        var dsar = await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "export", subject_type = "session", subject_id = "s-subject", reason = "subject request" })).DataAsync(202);
        var id = dsar.GetProperty("id").GetString()!;
        Assert.Equal("completed", (await WaitDsarAsync(admin, id)).GetProperty("status").GetString());
        var files = await ArtifactAsync(admin, id);
        Assert.Equal(["manifest.json", "session/messages.json"], files.Keys.Order());
        var messages = Encoding.UTF8.GetString(files["session/messages.json"]);
        Assert.Contains("ocelotmarker", messages);
        Assert.DoesNotContain("narwhalmarker", messages);
        Assert.DoesNotContain("quetzalmarker", messages);
        using var manifest = JsonDocument.Parse(files["manifest.json"]);
        Assert.Equal(2, manifest.RootElement.GetProperty("counts").GetProperty("messages").GetInt32());
        var listed = manifest.RootElement.GetProperty("files")[0];
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(files["session/messages.json"])), listed.GetProperty("sha256").GetString());
        if (encrypted) Assert.Empty(await EncryptionAtRestTests.FindAtRestAsync(Path.Combine(dir.Path, "governance"), marker: "ocelotmarker"));

        // A document subject: its record, chunks and original file; another tenant's DSAR is not there for it.
        var doc = await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "export", subject_type = "document", subject_id = "pangolin" })).DataAsync(202);
        var docId = doc.GetProperty("id").GetString()!;
        await WaitDsarAsync(admin, docId);
        var docFiles = await ArtifactAsync(admin, docId);
        Assert.Equal("Notes about the pangolin.", Encoding.UTF8.GetString(docFiles["documents/pangolin/original"]));
        Assert.Contains("pangolin", Encoding.UTF8.GetString(docFiles["documents/pangolin/chunks.json"]));
        await (await other.GetAsync($"/v1/admin/governance/dsar/{docId}")).AssertErrorAsync(404, GovernanceErrorCodes.DsarNotFound);
        await (await other.GetAsync($"/v1/admin/governance/dsar/{docId}/artifact")).AssertErrorAsync(404, GovernanceErrorCodes.DsarNotFound);
        await (await other.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "export", subject_type = "session", subject_id = "s-subject" })).AssertErrorAsync(404);
        await (await admin.GetAsync("/v1/admin/governance/dsar/dsar_nope")).AssertErrorAsync(404, GovernanceErrorCodes.DsarNotFound);
    }

    [Fact]
    public async Task A_user_key_export_holds_the_keys_documents_and_actions_only()
    {
        var dir = NewDir();
        using var app = App(dir);
        var admin = await app.AdminForTenantAsync("t1");
        var editorKey = await app.CreateKeyAsync("t1", Role.Editor, "subject-key");
        var editor = app.ClientWithKey(editorKey);
        await editor.IngestTextAsync("docs", "The editor wrote about the tapir.", "by-editor");
        await admin.IngestTextAsync("docs", "The admin wrote about the okapi.", "by-admin");
        await editor.WaitForDocumentAsync("by-editor");
        await admin.WaitForDocumentAsync("by-admin");
        var keyId = (await (await admin.GetAsync("/v1/admin/api-keys")).DataAsync()).EnumerateArray().Single(k => k.GetProperty("name").GetString() == "subject-key").GetProperty("id").GetString()!;

        var dsar = await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "export", subject_type = "user_key", subject_id = keyId })).DataAsync(202);
        await WaitDsarAsync(admin, dsar.GetProperty("id").GetString()!);
        var files = await ArtifactAsync(admin, dsar.GetProperty("id").GetString()!);
        Assert.Contains("documents/by-editor/original", files.Keys);
        Assert.DoesNotContain(files.Keys, k => k.Contains("by-admin", StringComparison.Ordinal));
        Assert.DoesNotContain(editorKey, Encoding.UTF8.GetString(files["api_key.json"])); // the key's record, never the key
        var events = JsonDocument.Parse(files["audit_events.json"]).RootElement;
        Assert.True(events.GetArrayLength() > 0);
        Assert.All(events.EnumerateArray(), e => Assert.Equal(keyId, e.GetProperty("actor_id").GetString()));
    }

    [Fact]
    public async Task A_destructive_dsar_waits_for_a_second_admin_then_erases_from_store_index_and_later_backups()
    {
        var dir = NewDir();
        var backups = NewDir();
        using var app = App(dir, extra: new() { ["BACKUP_LOCAL_DIR"] = backups.Path });
        var requester = await app.AdminForTenantAsync("t1");
        var second = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Admin, "second-admin"));
        var editor = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Editor, "editor"));
        var other = await app.AdminForTenantAsync("t2");
        await requester.IngestTextAsync("docs", "Personal data: the subject likes xylophonemarker music.", "personal");
        await requester.IngestTextAsync("docs", "Unrelated xylophone trivia.", "unrelated");
        await requester.WaitForDocumentAsync("personal");
        await requester.WaitForDocumentAsync("unrelated");
        await AskAsync(requester, "s-erase", "Remember xylophonemarker please");

        var dsar = await (await requester.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "delete", subject_type = "document", subject_id = "personal", reason = "erasure" })).DataAsync(202);
        var id = dsar.GetProperty("id").GetString()!;
        Assert.Equal(DsarStatus.PendingApproval, dsar.GetProperty("status").GetString());
        await (await requester.GetAsync($"/v1/admin/governance/dsar/{id}/artifact")).AssertErrorAsync(409, GovernanceErrorCodes.DsarRequiresApproval);
        await (await requester.PostAsync($"/v1/admin/governance/dsar/{id}/approve", null)).AssertErrorAsync(409, GovernanceErrorCodes.DsarRequiresApproval);
        await (await editor.PostAsync($"/v1/admin/governance/dsar/{id}/approve", null)).AssertErrorAsync(403);
        await (await other.PostAsync($"/v1/admin/governance/dsar/{id}/approve", null)).AssertErrorAsync(404, GovernanceErrorCodes.DsarNotFound);
        Assert.Equal(1, await SearchHitsAsync(requester, "xylophonemarker"));

        var approved = await (await second.PostAsync($"/v1/admin/governance/dsar/{id}/approve", null)).DataAsync();
        Assert.Equal("queued", approved.GetProperty("status").GetString());
        var done = await WaitDsarAsync(requester, id);
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(1, done.GetProperty("result").GetProperty("documents").GetProperty("changed").GetInt64());
        await (await requester.GetAsync("/v1/documents/personal")).AssertErrorAsync(404);
        (await requester.GetAsync("/v1/documents/unrelated")).EnsureSuccessStatusCode();
        await Eventually.ReadAsync(() => SearchHitsAsync(requester, "xylophonemarker"), n => n == 0);

        // The session too (with approval), then a backup taken afterwards holds none of it.
        var session = await (await requester.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "delete", subject_type = "session", subject_id = "s-erase" })).DataAsync(202);
        (await second.PostAsync($"/v1/admin/governance/dsar/{session.GetProperty("id").GetString()}/approve", null)).EnsureSuccessStatusCode();
        await WaitDsarAsync(requester, session.GetProperty("id").GetString()!);
        await (await requester.GetAsync("/v1/sessions/s-erase/messages")).AssertErrorAsync(404); // the session is gone with its messages
        var (code, output) = await CliRunner.RunAsync(new Dictionary<string, string?>(TestStore.SettingsFor(dir.Path)) { ["BACKUP_LOCAL_DIR"] = backups.Path }, "backup", "create", "--type", "db");
        Assert.True(code == 0, output);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
            Assert.Empty(await db.Chunks.Where(c => c.Text.Contains("xylophonemarker")).ToListAsync());
        if (!TestStore.IsPostgres) Assert.Empty(await EncryptionAtRestTests.FindAtRestAsync(backups.Path, marker: "xylophonemarker"));
    }

    [Fact]
    public async Task Without_dsar_approval_a_delete_runs_at_once()
    {
        var dir = NewDir();
        using var app = App(dir, extra: new() { ["DSAR_REQUIRE_APPROVAL"] = "false" });
        var admin = await app.AdminForTenantAsync("t1");
        await AskAsync(admin, "s1", "hello");
        var dsar = await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "anonymize", subject_type = "session", subject_id = "s1" })).DataAsync(202);
        Assert.Equal("queued", dsar.GetProperty("status").GetString());
        await WaitDsarAsync(admin, dsar.GetProperty("id").GetString()!);
        Assert.All((await (await admin.GetAsync("/v1/sessions/s1/messages")).DataAsync()).EnumerateArray(), m => Assert.Equal("", m.GetProperty("content").GetString()));
        await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "shred", subject_type = "session", subject_id = "s1" })).AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync("/v1/admin/governance/dsar", new { request_type = "export", subject_type = "session", subject_id = "nope" })).AssertErrorAsync(404);
    }

    private static GovernancePolicy Rule(string id, string key, int priority, string type, string condition = "{}") =>
        new(id, "t1", key, true, priority, JsonDocument.Parse(condition).RootElement, JsonDocument.Parse($"{{\"type\":\"{type}\"}}").RootElement, "k", DateTime.UtcNow, DateTime.UtcNow);

    [Fact]
    public void Rules_of_one_key_are_decided_by_priority_then_lowest_id_and_any_deny_across_keys_refuses()
    {
        var request = new PolicyRequest("t1", "DELETE", "/v1/documents/x", Role.Admin, new DateTime(2026, 12, 1, 10, 0, 0, DateTimeKind.Utc));
        // Equal priority: the lower id wins, whatever the order given.
        Assert.Equal("deny", GovernancePolicyEngine.Decide([Rule("gpol_b", "k", 5, "log"), Rule("gpol_a", "k", 5, "deny")], request).Effect);
        Assert.Equal("allow", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 5, "log"), Rule("gpol_b", "k", 5, "deny")], request).Effect);
        Assert.Equal("allow", GovernancePolicyEngine.Decide([Rule("gpol_b", "k", 5, "deny"), Rule("gpol_a", "k", 5, "log")], request).Effect);
        // A higher priority overrides within its key; a deny under another key still refuses.
        Assert.Equal("allow", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny"), Rule("gpol_b", "k", 9, "log")], request).Effect);
        Assert.Equal("deny", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny"), Rule("gpol_b", "k", 9, "log"), Rule("gpol_c", "other", 0, "deny")], request).Effect);
        Assert.Equal("require_approval", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "require_approval")], request).Effect);
        // Conditions: method, prefix, role, time window (across midnight) and weekdays.
        Assert.Equal("allow", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny", """{"method":"GET"}""")], request).Effect);
        Assert.Equal("deny", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny", """{"method":["get","delete"],"endpoint_prefix":"/v1/documents/"}""")], request).Effect);
        Assert.Equal("allow", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny", """{"role":"editor"}""")], request).Effect);
        Assert.Equal("deny", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny", """{"time":{"after":"22:00","before":"11:00"}}""")], request).Effect);
        Assert.Equal("allow", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny", """{"time":{"after":"12:00","before":"13:00"}}""")], request).Effect);
        Assert.Equal("deny", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny", """{"weekdays":["tuesday"]}""")], request).Effect);
        Assert.Equal("allow", GovernancePolicyEngine.Decide([Rule("gpol_a", "k", 1, "deny") with { Enabled = false }], request).Effect);
    }

    [Fact]
    public async Task Policy_rules_refuse_requests_per_tenant_and_the_operators_rules_reach_every_tenant()
    {
        var dir = NewDir();
        using var app = App(dir);
        var admin = await app.AdminForTenantAsync("t1");
        var other = await app.AdminForTenantAsync("t2");
        var op = await app.OperatorAsync();
        await app.SetPlanAsync("t1", "enterprise"); // audit access
        await admin.IngestTextAsync("docs", "Keep me.", "keep");
        await admin.WaitForDocumentAsync("keep");
        await other.IngestTextAsync("docs", "Mine.", "mine");
        await other.WaitForDocumentAsync("mine");

        var deny = await (await admin.PostAsJsonAsync("/v1/admin/governance/policies", new
        {
            rule_key = "documents.delete", priority = 1000, condition_json = new { method = "DELETE", endpoint_prefix = "/v1/documents/" },
            action_json = new { type = "deny", code = "POLICY_DENIED", message = "Delete disabled by policy" },
        })).DataAsync(201);
        var err = await admin.DeleteAsync("/v1/documents/keep");
        Assert.Contains("Delete disabled by policy", await err.Content.ReadAsStringAsync());
        await err.AssertErrorAsync(403, GovernanceErrorCodes.PolicyDenied);
        (await other.GetAsync("/v1/documents/mine")).EnsureSuccessStatusCode(); // t1's rule does not reach t2
        Assert.Equal(0, (await (await other.GetAsync("/v1/admin/governance/policies")).DataAsync()).GetArrayLength());
        await (await other.DeleteAsync($"/v1/admin/governance/policies/{deny.GetProperty("id").GetString()}")).AssertErrorAsync(404);

        // A higher-priority log rule of the same key lets it through (and is audited); the policy routes stay reachable.
        var allow = await (await admin.PostAsJsonAsync("/v1/admin/governance/policies", new
        {
            rule_key = "documents.delete", priority = 2000, condition_json = new { method = "DELETE" }, action_json = new { type = "log" },
        })).DataAsync(201);
        await Eventually.ReadAsync(async () => (int)(await admin.DeleteAsync("/v1/documents/keep")).StatusCode, s => s == 200);
        var logged = await (await admin.GetAsync("/v1/audit/events?event_type=governance.policy.logged")).DataAsync();
        Assert.Contains(logged.GetProperty("items").EnumerateArray(), e => e.GetProperty("resource_id").GetString() == allow.GetProperty("id").GetString());
        var denied = await (await admin.GetAsync("/v1/audit/events?event_type=governance.policy.denied")).DataAsync();
        Assert.NotEqual(0, denied.GetProperty("items").GetArrayLength());

        // Bad rules are refused by field.
        await (await admin.PostAsJsonAsync("/v1/admin/governance/policies", new { rule_key = "x", condition_json = new { colour = "red" }, action_json = new { type = "deny" } }))
            .AssertErrorAsync(422);
        await (await admin.PostAsJsonAsync("/v1/admin/governance/policies", new { rule_key = "x", condition_json = new { }, action_json = new { type = "explode" } }))
            .AssertErrorAsync(422);

        // The operator's platform rule, aimed at t2 by its condition, refuses t2's reads of documents but not t1's.
        (await op.PostAsJsonAsync("/v1/admin/governance/policies", new
        {
            rule_key = "t2.freeze", priority = 1, condition_json = new { tenant = "t2", endpoint_prefix = "/v1/documents" }, action_json = new { type = "deny", code = "TENANT_FROZEN" },
        })).EnsureSuccessStatusCode();
        await Eventually.ReadAsync(async () => (int)(await other.GetAsync("/v1/documents/mine")).StatusCode, s => s == 403);
        await (await other.GetAsync("/v1/documents/mine")).AssertErrorAsync(403, "TENANT_FROZEN");
        (await admin.GetAsync("/v1/documents?corpus_id=docs")).EnsureSuccessStatusCode();
        Assert.Equal(0, (await (await admin.GetAsync("/v1/admin/governance/policies")).DataAsync()).EnumerateArray().Count(p => p.GetProperty("rule_key").GetString() == "t2.freeze"));

        var status = await (await admin.GetAsync("/v1/ops/governance/status")).DataAsync();
        Assert.Equal(3, status.GetProperty("policies").GetInt32()); // its two and the platform's
        var evidence = await (await admin.GetAsync("/v1/ops/governance/evidence?window_days=7")).DataAsync();
        Assert.True(evidence.GetProperty("policy_denials").GetInt32() >= 1);
        await (await admin.GetAsync("/v1/ops/governance/evidence?window_days=0")).AssertErrorAsync(422);
        await (await other.GetAsync("/v1/ops/governance/status?tenant_id=t1")).AssertErrorAsync(404);
    }
}
