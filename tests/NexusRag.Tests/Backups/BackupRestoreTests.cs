using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;

namespace NexusRag.Tests.Backups;

/// <summary>
/// Backups through the real CLI against the store the suite runs on (SQLite file, or a PostgreSQL database with pg_dump
/// and pg_restore): destroy and restore, consistency under ingestion, tampering, keys, dry runs, the destructive guard
/// and schema versions.
/// </summary>
public sealed class BackupRestoreTests : IDisposable
{
    private const string EncryptionKey = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq8M="; // 32 bytes, base64
    private const string SigningKey = "backup-signing-key-for-tests-0123456789";
    private readonly TempDir _backups = new("nexusrag-backups");
    private readonly List<TempDir> _dirs = [];

    public void Dispose()
    {
        foreach (var d in _dirs) d.Dispose();
        _backups.Dispose();
    }

    private TempDir NewDataDir()
    {
        var d = new TempDir("nexusrag-bkdata");
        _dirs.Add(d);
        return d;
    }

    private Dictionary<string, string?> Settings(string dataDir, bool protect = true, Dictionary<string, string?>? extra = null)
    {
        var s = TestStore.SettingsFor(dataDir);
        s["BACKUP_LOCAL_DIR"] = _backups.Path;
        if (protect)
        {
            s["BACKUP_ENCRYPTION_ENABLED"] = "true";
            s["BACKUP_ENCRYPTION_KEY"] = EncryptionKey;
            s["BACKUP_SIGNING_ENABLED"] = "true";
            s["BACKUP_SIGNING_KEY"] = SigningKey;
        }
        foreach (var (k, v) in extra ?? []) s[k] = v;
        return s;
    }

    private static async Task<string> BackupAsync(Dictionary<string, string?> settings, string type = "all")
    {
        var (code, output) = await CliRunner.RunAsync(settings, "backup", "create", "--type", type);
        Assert.True(code == 0, output);
        return output.Split('\n').Select(l => l.Trim()).Single(l => l.EndsWith("manifest.json", StringComparison.Ordinal));
    }

    private static Task<(int Code, string Output)> RestoreAsync(Dictionary<string, string?> settings, string manifest, params string[] flags) =>
        CliRunner.RunAsync(settings, ["backup", "restore", "--manifest", manifest, .. flags]);

    /// <summary>Everything a restore must bring back, read through the API and the store.</summary>
    private sealed record Snapshot(string Documents, string Chunks, string Messages, long AuditEvents, string Searches);

    private static async Task<Snapshot> ReadAsync(NexusAppFactory app, HttpClient admin)
    {
        var docs = await (await admin.GetAsync("/v1/documents?corpus_id=docs&limit=100")).DataAsync();
        var ids = docs.GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()!).Order().ToList();
        var chunks = new List<string>();
        foreach (var id in ids)
            chunks.Add(string.Join("|", (await (await admin.GetAsync($"/v1/documents/{id}/chunks")).DataAsync()).EnumerateArray().Select(c => c.GetProperty("id").GetString() + ":" + c.GetProperty("text").GetString())));
        var messages = (await (await admin.GetAsync("/v1/sessions/s1/messages")).DataAsync()).EnumerateArray().Select(m => m.GetProperty("role").GetString() + ":" + m.GetProperty("content").GetString());
        var searches = new List<string>();
        foreach (var q in new[] { "release gates security review", "vegetarian lunch", "quarterly revenue" })
        {
            var r = await (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = q, top_k = 5 })).DataAsync();
            searches.Add(string.Join(",", r.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("chunk_id").GetString() + "@" + h.GetProperty("score").GetDouble().ToString("F6"))));
        }
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var audit = await db.AuditEvents.LongCountAsync();
        return new Snapshot(string.Join(";", ids.Zip(docs.GetProperty("items").EnumerateArray().OrderBy(d => d.GetProperty("id").GetString()).Select(d => d.GetProperty("status").GetString()))),
            string.Join(";", chunks), string.Join(";", messages), audit, string.Join(";", searches));
    }

    private static async Task<HttpClient> SeedAsync(NexusAppFactory app)
    {
        var admin = await app.AdminForTenantAsync("t1");
        await app.SetPlanAsync("t1", "enterprise");
        await admin.IngestTextAsync("docs", "Agent 2.0 release gates: the security review must sign off before launch.", "gates");
        await admin.IngestTextAsync("docs", "The cafeteria serves vegetarian lunch from noon.", "lunch");
        await admin.IngestTextAsync("docs", "Quarterly revenue grew by twelve percent.", "revenue");
        await admin.IngestTextAsync("docs", "A document that is deleted before the backup.", "gone");
        foreach (var d in new[] { "gates", "lunch", "revenue", "gone" }) await admin.WaitForDocumentAsync(d);
        (await admin.DeleteAsync("/v1/documents/gone")).EnsureSuccessStatusCode();
        await SseClient.RunAsync(admin, new { session_id = "s1", corpus_id = "docs", message = "What are the release gates?" });
        return admin;
    }

    private static void DestroyStore(string dataDir)
    {
        if (TestStore.IsPostgres)
        {
            var name = new Npgsql.NpgsqlConnectionStringBuilder(TestStore.DatabaseFor(dataDir)).Database!;
            Npgsql.NpgsqlConnection.ClearAllPools();
            using var conn = new Npgsql.NpgsqlConnection(TestStore.AdminConnectionString);
            conn.Open();
            using var drop = new Npgsql.NpgsqlCommand($"DROP DATABASE {name} WITH (FORCE)", conn);
            drop.ExecuteNonQuery();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var entry in Directory.EnumerateFileSystemEntries(dataDir))
        {
            if (Directory.Exists(entry)) Directory.Delete(entry, recursive: true);
            else File.Delete(entry);
        }
    }

    [Fact]
    public async Task Backup_then_destroy_then_restore_brings_back_every_document_chunk_message_and_audit_event()
    {
        var dir = NewDataDir();
        var settings = Settings(dir.Path);
        Snapshot before;
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var admin = await SeedAsync(app);
            before = await ReadAsync(app, admin);
        }
        var manifest = await BackupAsync(settings);
        var setDir = Path.GetDirectoryName(manifest)!;
        Assert.True(File.Exists(Path.Combine(setDir, "manifest.sig")));
        Assert.All(Directory.GetFiles(setDir).Where(f => !f.EndsWith(".json", StringComparison.Ordinal) && !f.EndsWith(".sig", StringComparison.Ordinal)),
            f => Assert.EndsWith(".enc", f)); // every component but the manifest and its metadata is encrypted
        using (var m = JsonDocument.Parse(await File.ReadAllTextAsync(manifest)))
        {
            var names = m.RootElement.GetProperty("components").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
            Assert.Equal(["db", "schema", "originals", "metadata"], names.Where(n => n != "index")); // index: when a snapshot exists
            Assert.Equal(TestStore.IsPostgres ? "postgres" : "sqlite", m.RootElement.GetProperty("store").GetString());
            Assert.Equal("aes-256-gcm", m.RootElement.GetProperty("policy").GetProperty("encryption").GetString());
            Assert.Equal(3, m.RootElement.GetProperty("facts").GetProperty("counts").GetProperty("documents").GetInt64());
        }

        DestroyStore(dir.Path);
        var (code, output) = await RestoreAsync(settings, manifest);
        Assert.True(code == 0, output);
        Assert.Contains("into the empty store", output);

        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            _ = app.CreateClient();
            await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
                Assert.Equal(before.AuditEvents, await db.AuditEvents.LongCountAsync());
            var admin = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Admin, "after-restore"));
            // Wait for the rebuilt index to hold the restored chunks before comparing searches.
            await Eventually.ReadAsync(async () => (await ReadAsync(app, admin)).Searches, s => s == before.Searches);
            var after = await ReadAsync(app, admin);
            Assert.Equal(before.Documents, after.Documents);
            Assert.Equal(before.Chunks, after.Chunks);
            Assert.Equal(before.Messages, after.Messages);
            Assert.Equal(before.Searches, after.Searches);
            // The original files came back too.
            var original = await admin.GetAsync("/v1/documents/lunch/content");
            Assert.Equal("The cafeteria serves vegetarian lunch from noon.", await original.Content.ReadAsStringAsync());
        }
        var (verify, verifyOut) = await CliRunner.RunAsync(settings, "audit", "verify");
        Assert.True(verify == 0, verifyOut);
        Assert.Contains("ok      t1", verifyOut);
    }

    [Fact]
    public async Task A_backup_taken_while_200_documents_are_ingested_restores_to_a_consistent_state()
    {
        var dir = NewDataDir();
        var settings = Settings(dir.Path, protect: false);
        string manifest;
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var admin = await app.AdminForTenantAsync("t1");
            var ingest = Task.Run(async () =>
            {
                await Parallel.ForEachAsync(Enumerable.Range(0, 200), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, _) =>
                    await admin.IngestTextAsync("docs", $"Document {i} about topic {i % 7}. " + string.Join(" ", Enumerable.Repeat($"filler{i} words here", 60)), $"d{i:D3}"));
            });
            await Eventually.ReadAsync(async () => (await (await admin.GetAsync("/v1/documents?corpus_id=docs&status=succeeded&limit=100")).DataAsync()).GetProperty("items").GetArrayLength(),
                n => n >= 10, pollMs: 20);
            manifest = await BackupAsync(settings, "db"); // while documents are still arriving and being chunked
            await ingest;
        }

        var target = NewDataDir();
        var restoreSettings = Settings(target.Path, protect: false);
        var (code, output) = await RestoreAsync(restoreSettings, manifest);
        Assert.True(code == 0, output);
        // Read the restored store directly (a server would go on processing the queued documents).
        await using var services = new ServiceCollection().AddLogging().AddNexusRagStore(new ConfigurationBuilder().AddInMemoryCollection(restoreSettings).Build()).BuildServiceProvider();
        await using var db = await services.GetRequiredService<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var documents = await db.Documents.AsNoTracking().ToListAsync();
        Assert.InRange(documents.Count, 1, 200);
        var docIds = documents.Select(d => d.Id).ToHashSet();
        var chunks = await db.Chunks.AsNoTracking().Select(c => new { c.DocumentId, c.IndexVersion }).ToListAsync();
        Assert.All(chunks, c => Assert.Contains(c.DocumentId, docIds)); // no chunk without its document
        foreach (var d in documents.Where(d => d.Status == "succeeded"))
            Assert.Equal(d.NumChunks, chunks.Count(c => c.DocumentId == d.Id && c.IndexVersion == 1)); // a succeeded document has all its chunks
        Assert.All(documents.Where(d => d.Status != "succeeded"), d => Assert.DoesNotContain(chunks, c => c.DocumentId == d.Id)); // others none
        using var m = JsonDocument.Parse(await File.ReadAllTextAsync(manifest));
        Assert.Equal(m.RootElement.GetProperty("facts").GetProperty("counts").GetProperty("documents").GetInt64(), documents.Count);
        Assert.Equal(m.RootElement.GetProperty("facts").GetProperty("counts").GetProperty("chunks").GetInt64(), chunks.Count);
    }

    [Fact]
    public async Task Tampered_components_and_manifests_wrong_keys_and_unsigned_sets_are_refused_with_clear_messages()
    {
        var dir = NewDataDir();
        var settings = Settings(dir.Path);
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var admin = await app.AdminForTenantAsync("t1");
            await admin.IngestTextAsync("docs", "Backups must be restorable.", "one");
            await admin.WaitForDocumentAsync("one");
        }
        var manifest = await BackupAsync(settings);
        var setDir = Path.GetDirectoryName(manifest)!;
        var target = Settings(NewDataDir().Path);

        // A flipped byte in a component: its checksum no longer matches.
        var db = Directory.GetFiles(setDir, "db.*").Single();
        var original = await File.ReadAllBytesAsync(db);
        var tampered = (byte[])original.Clone();
        tampered[tampered.Length / 2] ^= 0x5A;
        await File.WriteAllBytesAsync(db, tampered);
        var (code, output) = await RestoreAsync(target, manifest, "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("component 'db' does not match its checksum", output);
        await File.WriteAllBytesAsync(db, original);

        // An edited manifest: the signature no longer verifies.
        var manifestBytes = await File.ReadAllBytesAsync(manifest);
        var text = System.Text.Encoding.UTF8.GetString(manifestBytes);
        await File.WriteAllTextAsync(manifest, text.Replace("\"type\": \"all\"", "\"type\": \"db\"", StringComparison.Ordinal));
        (code, output) = await RestoreAsync(target, manifest, "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("manifest signature does not verify", output);
        await File.WriteAllBytesAsync(manifest, manifestBytes);

        // Wrong keys.
        (code, output) = await RestoreAsync(new Dictionary<string, string?>(target) { ["BACKUP_ENCRYPTION_KEY"] = Convert.ToBase64String(new byte[32]) }, manifest, "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("BACKUP_ENCRYPTION_KEY is not the key this backup was encrypted with", output);
        (code, output) = await RestoreAsync(new Dictionary<string, string?>(target) { ["BACKUP_SIGNING_KEY"] = "another-signing-key-that-is-long-enough!" }, manifest, "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("manifest signature does not verify", output);

        // A component altered with its checksum edited to match, in a set whose signature is removed: the tag fails.
        var unsignedDir = Path.Combine(_backups.Path, "bkp_tampered_copy");
        Directory.CreateDirectory(unsignedDir);
        foreach (var f in Directory.GetFiles(setDir).Where(f => !f.EndsWith(".sig", StringComparison.Ordinal))) File.Copy(f, Path.Combine(unsignedDir, Path.GetFileName(f)));
        var copyDb = Path.Combine(unsignedDir, Path.GetFileName(db));
        await File.WriteAllBytesAsync(copyDb, tampered);
        var json = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(unsignedDir, "manifest.json")))!;
        json["policy"]!["signing"] = "none";
        var dbComponent = json["components"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "db")!;
        dbComponent["sha256"] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(tampered));
        await File.WriteAllTextAsync(Path.Combine(unsignedDir, "manifest.json"), json.ToJsonString());
        (code, output) = await RestoreAsync(target, Path.Combine(unsignedDir, "manifest.json"), "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("component 'db' does not decrypt", output);

        // RESTORE_REQUIRE_SIGNATURE refuses the unsigned copy before anything else.
        (code, output) = await RestoreAsync(new Dictionary<string, string?>(target) { ["RESTORE_REQUIRE_SIGNATURE"] = "true" }, Path.Combine(unsignedDir, "manifest.json"), "--dry-run");
        Assert.Equal(1, code);
        Assert.Contains("not signed and RESTORE_REQUIRE_SIGNATURE=true", output);

        // The intact set still verifies.
        (code, output) = await CliRunner.RunAsync(target, "backup", "verify", "--manifest", manifest);
        Assert.True(code == 0, output);
        Assert.Contains("signature verified", output);
    }

    [Fact]
    public async Task A_dry_run_changes_nothing_and_restoring_over_data_needs_allow_destructive()
    {
        var dir = NewDataDir();
        var settings = Settings(dir.Path, protect: false);
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var admin = await app.AdminForTenantAsync("t1");
            await admin.IngestTextAsync("docs", "The first document.", "first");
            await admin.WaitForDocumentAsync("first");
        }
        var manifest = await BackupAsync(settings);
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var admin = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Admin, "later"));
            await admin.IngestTextAsync("docs", "A document written after the backup.", "later");
            await admin.WaitForDocumentAsync("later");
        }
        async Task<string[]> DocumentIdsAsync()
        {
            using var app = new NexusAppFactory(settings, dataDir: dir.Path);
            var admin = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader, "probe"));
            return (await (await admin.GetAsync("/v1/documents?corpus_id=docs")).DataAsync()).GetProperty("items").EnumerateArray().Select(d => d.GetProperty("id").GetString()!).Order().ToArray();
        }
        Assert.Equal(["first", "later"], await DocumentIdsAsync());

        var (code, output) = await RestoreAsync(settings, manifest, "--dry-run");
        Assert.True(code == 0, output);
        Assert.Contains("would replace the", output);
        Assert.Equal(["first", "later"], await DocumentIdsAsync());

        (code, output) = await RestoreAsync(settings, manifest);
        Assert.Equal(1, code);
        Assert.Contains("RESTORE_REQUIRES_ALLOW_DESTRUCTIVE", output);
        Assert.Equal(["first", "later"], await DocumentIdsAsync());

        (code, output) = await RestoreAsync(settings, manifest, "--allow-destructive");
        Assert.True(code == 0, output);
        Assert.Equal(["first"], await DocumentIdsAsync());
    }

    [Fact]
    public async Task An_older_schema_is_migrated_after_restore_and_a_newer_one_is_refused()
    {
        var dir = NewDataDir();
        var settings = Settings(dir.Path, protect: false);
        // A store left at an older release's schema.
        var services = new ServiceCollection().AddLogging().AddNexusRagStore(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).BuildServiceProvider();
        string older;
        await using (var db = await services.GetRequiredService<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var all = db.Database.GetMigrations().ToList();
            older = all[^3];
            if (!TestStore.IsPostgres) Directory.CreateDirectory(dir.Path);
            await db.GetService<IMigrator>().MigrateAsync(older);
        }
        await services.DisposeAsync();
        var manifest = await BackupAsync(settings, "db");
        using (var m = JsonDocument.Parse(await File.ReadAllTextAsync(manifest))) Assert.Equal(older, m.RootElement.GetProperty("schema_version").GetString());

        var target = Settings(NewDataDir().Path, protect: false);
        var (code, output) = await RestoreAsync(target, manifest);
        Assert.True(code == 0, output);
        Assert.Contains("migrate the schema forward", output);
        Assert.Contains("migrated:", output);
        var (migrate, migrateOut) = await CliRunner.RunAsync(target, "migrate");
        Assert.True(migrate == 0, migrateOut);
        Assert.Contains("Database is up to date.", migrateOut);

        // The same set claiming a schema from the future: refused, nothing touched.
        var text = await File.ReadAllTextAsync(manifest);
        await File.WriteAllTextAsync(manifest, text.Replace(older, "29991231235959_FromTheFuture", StringComparison.Ordinal));
        var fresh = Settings(NewDataDir().Path, protect: false);
        (code, output) = await RestoreAsync(fresh, manifest);
        Assert.Equal(1, code);
        Assert.Contains("BACKUP_SCHEMA_NEWER", output);
    }
}
