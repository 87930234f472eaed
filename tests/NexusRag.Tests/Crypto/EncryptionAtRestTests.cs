using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Auth;
using NexusRag.Core.Crypto;
using NexusRag.Search;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;

namespace NexusRag.Tests.Crypto;

/// <summary>
/// Encryption at rest on the store the suite runs on: no plaintext of a marker in the database (SQLite main file and WAL,
/// every PostgreSQL row), the originals folder, the index snapshot or a backup, while search and answers still show it;
/// ciphertext moved between rows and tenants refused; rotation with online re-encryption; resumption after a kill;
/// the master-key check at start; KMS outages in both fail modes (AWS KMS protocol, official SDK, local fake server).
/// </summary>
public sealed class EncryptionAtRestTests : IDisposable
{
    public const string MasterKey = "Zm9yLXRlc3RzLW9ubHktMzItYnl0ZXMtb2Yta2V5ISE="; // 32 bytes, base64
    private const string Marker = "zanzibarquokka";
    private readonly List<TempDir> _dirs = [];

    public void Dispose()
    {
        foreach (var d in _dirs) d.Dispose();
    }

    private TempDir NewDir(string prefix = "nexusrag-crypto")
    {
        var d = new TempDir(prefix);
        _dirs.Add(d);
        return d;
    }

    public static Dictionary<string, string?> Encrypted(string dataDir, Dictionary<string, string?>? extra = null)
    {
        var s = TestStore.SettingsFor(dataDir);
        s["CRYPTO_ENABLED"] = "true";
        s["CRYPTO_LOCAL_MASTER_KEY"] = MasterKey;
        foreach (var (k, v) in extra ?? []) s[k] = v;
        return s;
    }

    private static async Task UploadAsync(HttpClient client, string corpus, string documentId, string filename, string text)
    {
        var file = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        file.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/markdown");
        var form = new MultipartFormDataContent { { new StringContent(corpus), "corpus_id" }, { new StringContent(documentId), "document_id" }, { file, "file", filename } };
        (await client.PostAsync("/v1/documents", form)).EnsureSuccessStatusCode();
    }

    /// <summary>Puts the marker into a text document, an uploaded file and a chat message; returns the answer to a question about it.</summary>
    private static async Task<string> WriteMarkerEverywhereAsync(HttpClient admin)
    {
        await admin.IngestTextAsync("docs", $"The secret project codename is {Marker} and it ships in spring.", "secret");
        await UploadAsync(admin, "docs", "upload", "notes.md", $"# Notes\n\nMeeting notes: the {Marker} budget was approved.\n");
        await admin.WaitForDocumentAsync("secret");
        await admin.WaitForDocumentAsync("upload");
        var (_, frames) = await SseClient.RunAsync(admin, new { session_id = "s1", corpus_id = "docs", message = $"What is {Marker}?" });
        return frames.Single(f => f.Event == "message.final").Payload.GetProperty("text").GetString()!;
    }

    /// <summary>Every place at rest where the marker's bytes appear (empty: nowhere).</summary>
    internal static async Task<List<string>> FindAtRestAsync(string dataDir, string? extraFolder = null, string marker = Marker)
    {
        var needle = Encoding.UTF8.GetBytes(marker);
        var found = new List<string>();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var root in new[] { dataDir, extraFolder }.OfType<string>())
        {
            foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
            {
                byte[] bytes;
                try { bytes = await File.ReadAllBytesAsync(file); }
                catch (IOException) { continue; } // a file written while we read
                if (bytes.AsSpan().IndexOf(needle) >= 0) found.Add(Path.GetRelativePath(root, file));
            }
        }
        if (TestStore.IsPostgres)
        {
            // Every row of every table as text: what a plain pg_dump would hold.
            await using var conn = new Npgsql.NpgsqlConnection(TestStore.DatabaseFor(dataDir));
            await conn.OpenAsync();
            var tables = new List<string>();
            await using (var list = new Npgsql.NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'", conn))
            await using (var reader = await list.ExecuteReaderAsync())
                while (await reader.ReadAsync()) tables.Add(reader.GetString(0));
            foreach (var t in tables)
            {
                await using var cmd = new Npgsql.NpgsqlCommand($"SELECT count(*) FROM \"{t}\" x WHERE x::text ILIKE '%{marker}%'", conn);
                if ((long)(await cmd.ExecuteScalarAsync())! > 0) found.Add("postgres:" + t);
            }
        }
        return found;
    }

    [Fact]
    public async Task A_marker_is_nowhere_at_rest_yet_found_by_search_and_shown_in_answers()
    {
        var dir = NewDir();
        var backups = NewDir("nexusrag-crypto-bk");
        var settings = Encrypted(dir.Path, new() { ["BACKUP_LOCAL_DIR"] = backups.Path });
        using (var app = new NexusAppFactory(settings, dataDir: dir.Path))
        {
            var admin = await app.AdminForTenantAsync("t1");
            var answer = await WriteMarkerEverywhereAsync(admin);
            Assert.Contains(Marker, answer);

            var hits = await (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = Marker, top_k = 5 })).DataAsync();
            var texts = hits.GetProperty("results").EnumerateArray().Select(h => h.GetProperty("text").GetString()!).ToList();
            Assert.Equal(2, texts.Count(t => t.Contains(Marker)));
            var chunks = await (await admin.GetAsync("/v1/documents/secret/chunks")).DataAsync();
            Assert.Contains(Marker, chunks[0].GetProperty("text").GetString());
            Assert.Contains(Marker, await (await admin.GetAsync("/v1/documents/upload/content")).Content.ReadAsStringAsync());
            var messages = await (await admin.GetAsync("/v1/sessions/s1/messages")).DataAsync();
            Assert.Contains(Marker, messages[0].GetProperty("content").GetString());
            // An idempotent write's kept response (sealed in the store that keeps it).
            using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/documents/text") { Content = JsonContent.Create(new { corpus_id = "docs", document_id = "idem", text = $"Another {Marker} note." }) };
            req.Headers.Add("Idempotency-Key", "crypto-1");
            (await admin.SendAsync(req)).EnsureSuccessStatusCode();

            await app.Service<HybridSearchIndex>().SaveSnapshotAsync(CancellationToken.None);
            Assert.True(File.Exists(app.Service<Microsoft.Extensions.Options.IOptions<StorageOptions>>().Value.IndexSnapshotPath()));
            await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            Assert.All(await db.Chunks.Where(c => c.TenantId == "t1").Select(c => c.KeyVersion).ToListAsync(), v => Assert.Equal(1, v));
            Assert.All(await db.Messages.Select(m => m.KeyVersion).ToListAsync(), v => Assert.Equal(1, v));
        }
        // A backup without backup encryption: the sealed rows, files and snapshot are all it holds.
        var (code, output) = await CliRunner.RunAsync(settings, "backup", "create", "--type", "all");
        Assert.True(code == 0, output);
        Assert.Empty(await FindAtRestAsync(dir.Path, backups.Path));
    }

    [Fact]
    public async Task Without_encryption_the_same_scan_finds_the_marker_in_the_database_originals_and_snapshot()
    {
        // The control: the scan above can fail.
        var dir = NewDir();
        using (var app = new NexusAppFactory(TestStore.SettingsFor(dir.Path), dataDir: dir.Path))
        {
            var admin = await app.AdminForTenantAsync("t1");
            _ = await WriteMarkerEverywhereAsync(admin);
            await app.Service<HybridSearchIndex>().SaveSnapshotAsync(CancellationToken.None);
        }
        var found = await FindAtRestAsync(dir.Path);
        Assert.Contains(found, f => f.StartsWith("originals", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("index", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith(TestStore.IsPostgres ? "postgres:chunks" : "nexusrag.db", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ciphertext_moved_to_another_row_or_tenant_fails_with_DECRYPTION_FAILED()
    {
        var dir = NewDir();
        using var app = new NexusAppFactory(Encrypted(dir.Path), dataDir: dir.Path);
        var t1 = await app.AdminForTenantAsync("t1");
        var t2 = await app.AdminForTenantAsync("t2");
        await t1.IngestTextAsync("docs", "Tenant one keeps its roadmap here.", "a");
        await t1.IngestTextAsync("docs", "Tenant one keeps its payroll here.", "b");
        await t2.IngestTextAsync("docs", "Tenant two keeps its roadmap here.", "c");
        foreach (var (client, id) in new[] { (t1, "a"), (t1, "b"), (t2, "c") }) await client.WaitForDocumentAsync(id);
        (await t1.GetAsync("/v1/documents/a/chunks")).EnsureSuccessStatusCode();

        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            var a = await db.Chunks.SingleAsync(c => c.TenantId == "t1" && c.DocumentId == "a");
            var b = await db.Chunks.SingleAsync(c => c.TenantId == "t1" && c.DocumentId == "b");
            var c2 = await db.Chunks.SingleAsync(c => c.TenantId == "t2" && c.DocumentId == "c");
            Assert.DoesNotContain("roadmap", a.Text); // sealed
            // Row swap inside a tenant, and a ciphertext of tenant two copied into tenant one (same key version number).
            (a.Text, b.Text) = (b.Text, a.Text);
            await db.SaveChangesAsync();
            await db.Chunks.Where(x => x.Id == b.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.Text, c2.Text));
        }
        await (await t1.GetAsync("/v1/documents/a/chunks")).AssertErrorAsync(500, CryptoErrorCodes.DecryptionFailed);
        await (await t1.GetAsync("/v1/documents/b/chunks")).AssertErrorAsync(500, CryptoErrorCodes.DecryptionFailed);
        (await t2.GetAsync("/v1/documents/c/chunks")).EnsureSuccessStatusCode(); // the source row is untouched

        // An original file moved to the other tenant's folder under the same name does not open there either.
        var originals = Path.Combine(dir.Path, "originals");
        var t2File = Directory.EnumerateFiles(Path.Combine(originals, "t2"), "*.enc", SearchOption.AllDirectories).Single();
        var sha = Path.GetFileNameWithoutExtension(t2File);
        await t1.IngestTextAsync("docs", "Tenant one, another file.", "d");
        await t1.WaitForDocumentAsync("d");
        var d = await (await t1.GetAsync("/v1/documents/d")).DataAsync();
        var t1File = Path.Combine(originals, "t1", d.GetProperty("content_sha256").GetString()![..2], d.GetProperty("content_sha256").GetString()! + ".enc");
        Assert.True(File.Exists(t1File));
        File.Copy(t2File, t1File, overwrite: true);
        await (await t1.GetAsync("/v1/documents/d/content")).AssertErrorAsync(500, CryptoErrorCodes.DecryptionFailed);
        Assert.NotEqual(sha, d.GetProperty("content_sha256").GetString());
    }

    [Fact]
    public async Task Rotation_with_reencryption_under_concurrent_reads_and_writes_moves_every_row_to_the_new_version()
    {
        var dir = NewDir();
        using var app = new NexusAppFactory(Encrypted(dir.Path, new() { ["CRYPTO_REENCRYPT_BATCH_SIZE"] = "7" }), dataDir: dir.Path);
        var admin = await app.AdminForTenantAsync("t1");
        for (var i = 0; i < 30; i++) await admin.IngestTextAsync("docs", $"Document {i} about subject {i % 5}: " + string.Join(" ", Enumerable.Repeat($"word{i}", 30)), $"d{i}");
        for (var i = 0; i < 30; i++) await admin.WaitForDocumentAsync($"d{i}");
        await SseClient.RunAsync(admin, new { session_id = "s1", corpus_id = "docs", message = "What is subject 3?" });

        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var reads = 0;
        var load = Task.Run(async () =>
        {
            var n = 100;
            while (!stop.IsCancellationRequested)
            {
                var search = await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = "subject word7", top_k = 3 });
                var chunks = await admin.GetAsync($"/v1/documents/d{n % 30}/chunks");
                var content = await admin.GetAsync($"/v1/documents/d{n % 30}/content");
                var write = await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", document_id = $"w{n}", text = $"Written during rotation {n}." });
                foreach (var r in new[] { search, chunks, content, write })
                {
                    if (r.IsSuccessStatusCode) continue;
                    var line = $"{r.RequestMessage!.RequestUri}: {(int)r.StatusCode} {await r.Content.ReadAsStringAsync()}";
                    lock (failures) failures.Add(line);
                }
                Interlocked.Increment(ref reads);
                n++;
            }
        });

        var rotation = await (await admin.PostAsJsonAsync("/v1/admin/crypto/keys/t1/rotate", new { reason = "test", reencrypt = true })).DataAsync(202);
        var jobId = rotation.GetProperty("job_id").GetString()!;
        Assert.Equal(2, rotation.GetProperty("to_version").GetInt32());
        // A second rotation while the first runs is refused.
        await (await admin.PostAsJsonAsync("/v1/admin/crypto/keys/t1/rotate", new { reason = "again" })).AssertErrorAsync(409, CryptoErrorCodes.KeyRotationInProgress);
        var done = await Eventually.ReadAsync(async () => await (await admin.GetAsync($"/v1/admin/crypto/rotation-jobs/{jobId}")).DataAsync(),
            j => j.GetProperty("status").GetString() is "succeeded" or "failed", timeoutSeconds: 60, pollMs: 200);
        await stop.CancelAsync();
        await load;
        Assert.Equal("succeeded", done.GetProperty("status").GetString());
        Assert.Empty(failures);
        Assert.True(reads > 0);
        Assert.True(done.GetProperty("reencrypted").GetProperty("chunks").GetInt64() >= 30);

        var keys = await (await admin.GetAsync("/v1/admin/crypto/keys/t1")).DataAsync();
        Assert.Equal(2, keys.GetProperty("active_version").GetInt32());
        Assert.Equal(["retired", "active"], keys.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("status").GetString()!));
        Assert.All(keys.GetProperty("pending").EnumerateObject(), p => Assert.Equal(0, p.Value.GetInt64()));
        await using (var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
        {
            Assert.All(await db.Chunks.Where(c => c.TenantId == "t1").Select(c => c.KeyVersion).ToListAsync(), v => Assert.Equal(2, v));
            Assert.All(await db.Messages.Where(m => m.TenantId == "t1").Select(m => m.KeyVersion).ToListAsync(), v => Assert.Equal(2, v));
        }
        foreach (var file in Directory.EnumerateFiles(Path.Combine(dir.Path, "originals", "t1"), "*", SearchOption.AllDirectories))
        {
            Assert.EndsWith(".enc", file);
            await using var f = File.OpenRead(file);
            Assert.Equal(2, ChunkedGcm.ReadHeader(f)!.KeyVersion);
        }
        // Everything still reads, on the new key.
        for (var i = 0; i < 30; i++) Assert.Contains($"word{i}", (await (await admin.GetAsync($"/v1/documents/d{i}/chunks")).DataAsync())[0].GetProperty("text").GetString());
        Assert.Equal(2, (await (await admin.GetAsync("/v1/sessions/s1/messages")).DataAsync()).GetArrayLength());
    }

    [Fact]
    public async Task Key_apis_are_scoped_to_the_tenant_and_the_keyring_to_the_operator()
    {
        var dir = NewDir();
        using var app = new NexusAppFactory(Encrypted(dir.Path, new() { ["KEYRING_MASTER_KEY"] = MasterKey }), dataDir: dir.Path);
        var t1 = await app.AdminForTenantAsync("t1");
        var t2 = await app.AdminForTenantAsync("t2");
        var reader = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        var op = await app.OperatorAsync();
        var rotation = await (await t1.PostAsJsonAsync("/v1/admin/crypto/keys/t1/rotate", new { reencrypt = false })).DataAsync(202);
        Assert.Equal("succeeded", rotation.GetProperty("status").GetString());

        await (await t2.GetAsync("/v1/admin/crypto/keys/t1")).AssertErrorAsync(404);
        await (await t2.PostAsJsonAsync("/v1/admin/crypto/keys/t1/rotate", new { })).AssertErrorAsync(404);
        await (await t2.GetAsync($"/v1/admin/crypto/rotation-jobs/{rotation.GetProperty("job_id").GetString()}")).AssertErrorAsync(404);
        await (await reader.GetAsync("/v1/admin/crypto/keys/t1")).AssertErrorAsync(403);
        // Forcing over a rotation in progress is the operator's.
        await (await t1.PostAsJsonAsync("/v1/admin/crypto/keys/t1/rotate", new { force = true })).AssertErrorAsync(403, CryptoErrorCodes.CryptoPolicyDenied);
        // The operator sees any tenant (and the platform key that seals the index snapshot).
        var keys = await (await op.GetAsync("/v1/admin/crypto/keys/t1")).DataAsync();
        Assert.Equal(2, keys.GetProperty("active_version").GetInt32());
        (await op.PostAsJsonAsync("/v1/admin/crypto/keys/_platform/rotate", new { reencrypt = false })).EnsureSuccessStatusCode();
        await (await t1.GetAsync("/v1/admin/crypto/keys/_platform")).AssertErrorAsync(404);

        // Keyring: operator only; rotate, then retire the rotated-out key; the active one and a retired one refuse.
        await (await t1.GetAsync("/v1/admin/keyring")).AssertErrorAsync(403);
        await (await t1.PostAsync("/v1/admin/keyring/rotate?purpose=signing", null)).AssertErrorAsync(403);
        var first = await (await op.PostAsync("/v1/admin/keyring/rotate?purpose=signing", null)).DataAsync(201);
        var second = await (await op.PostAsync("/v1/admin/keyring/rotate?purpose=signing", null)).DataAsync(201);
        Assert.NotEqual(first.GetProperty("fingerprint").GetString(), second.GetProperty("fingerprint").GetString());
        var ring = await (await op.GetAsync("/v1/admin/keyring")).DataAsync();
        Assert.Equal(["active", "inactive"], ring.EnumerateArray().Select(k => k.GetProperty("status").GetString()!));
        Assert.DoesNotContain("wrapped", ring.GetRawText());
        await (await op.PostAsync($"/v1/admin/keyring/{second.GetProperty("id").GetString()}/retire", null)).AssertErrorAsync(409, "KEYRING_KEY_ACTIVE");
        (await op.PostAsync($"/v1/admin/keyring/{first.GetProperty("id").GetString()}/retire", null)).EnsureSuccessStatusCode();
        await (await op.PostAsync($"/v1/admin/keyring/{first.GetProperty("id").GetString()}/retire", null)).AssertErrorAsync(409, CryptoErrorCodes.KeyNotActive);
        await (await op.PostAsync("/v1/admin/keyring/rotate?purpose=nonsense", null)).AssertErrorAsync(422);
        await (await t1.PostAsync($"/v1/admin/keyring/{first.GetProperty("id").GetString()}/retire", null)).AssertErrorAsync(403);
        var material = await app.Service<Keyring>().ActiveMaterialAsync("signing", CancellationToken.None);
        Assert.Equal(second.GetProperty("fingerprint").GetString(), Keyring.Fingerprint(material!.Value.Material));
    }

    [Fact]
    public async Task The_keyring_fails_closed_without_a_master_key_when_required_and_is_disabled_otherwise()
    {
        var dir = NewDir();
        using (var app = new NexusAppFactory(Encrypted(dir.Path, new() { ["KEYRING_MASTER_KEY_REQUIRED"] = "true" }), dataDir: dir.Path))
            await (await (await app.OperatorAsync()).PostAsync("/v1/admin/keyring/rotate?purpose=backup_signing", null)).AssertErrorAsync(503, CryptoErrorCodes.KeyringNotConfigured);
        using (var app = new NexusAppFactory(Encrypted(dir.Path), dataDir: dir.Path))
            await (await (await app.OperatorAsync()).PostAsync("/v1/admin/keyring/rotate?purpose=backup_signing", null)).AssertErrorAsync(409, CryptoErrorCodes.KeyringDisabled);
    }

    [Fact]
    public async Task Rotation_is_refused_with_encryption_off()
    {
        var dir = NewDir();
        using var app = new NexusAppFactory(TestStore.SettingsFor(dir.Path), dataDir: dir.Path);
        var admin = await app.AdminForTenantAsync("t1");
        await (await admin.PostAsJsonAsync("/v1/admin/crypto/keys/t1/rotate", new { })).AssertErrorAsync(403, CryptoErrorCodes.CryptoPolicyDenied);
        var keys = await (await admin.GetAsync("/v1/admin/crypto/keys/t1")).DataAsync();
        Assert.False(keys.GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public async Task Turning_encryption_on_encrypts_what_an_existing_store_holds()
    {
        var dir = NewDir();
        using (var app = new NexusAppFactory(TestStore.SettingsFor(dir.Path), dataDir: dir.Path))
        {
            var admin = await app.AdminForTenantAsync("t1");
            _ = await WriteMarkerEverywhereAsync(admin);
        }
        using (var app = new NexusAppFactory(Encrypted(dir.Path), dataDir: dir.Path))
        {
            var admin = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Admin));
            await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
            await Eventually.ReadAsync(async () => await db.Chunks.CountAsync(c => c.KeyVersion == null) + await db.Messages.CountAsync(m => m.KeyVersion == null), n => n == 0, timeoutSeconds: 30);
            var rotation = await db.CryptoRotations.SingleAsync(r => r.TenantId == "t1");
            Assert.Null(rotation.FromVersion);
            await Eventually.ReadAsync(async () => (await db.CryptoRotations.AsNoTracking().SingleAsync(r => r.Id == rotation.Id)).Status, s => s == "succeeded", timeoutSeconds: 30);
            Assert.All(Directory.EnumerateFiles(Path.Combine(dir.Path, "originals", "t1"), "*", SearchOption.AllDirectories), f => Assert.EndsWith(".enc", f));
            var hits = await (await admin.PostAsJsonAsync("/v1/search", new { corpus_id = "docs", query = Marker, top_k = 5 })).DataAsync();
            Assert.Equal(2, hits.GetProperty("results").GetArrayLength());
            Assert.Contains(Marker, await (await admin.GetAsync("/v1/documents/upload/content")).Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task A_wrong_master_key_is_refused_at_start_with_one_line()
    {
        var dir = NewDir();
        using (var app = new NexusAppFactory(Encrypted(dir.Path), dataDir: dir.Path))
        {
            var admin = await app.AdminForTenantAsync("t1");
            await admin.IngestTextAsync("docs", "Sealed under the first master key.", "x");
            await admin.WaitForDocumentAsync("x");
        }
        var env = Encrypted(dir.Path).ToDictionary(kv => kv.Key, kv => kv.Value!);
        env["CRYPTO_LOCAL_MASTER_KEY"] = Convert.ToBase64String(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        using var server = ServerProcess.Start(dir.Path, env);
        Assert.True(await server.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Equal(2, server.ExitCode);
        var refusal = server.Lines.Where(l => l.Contains("refusing to start", StringComparison.Ordinal)).ToList();
        Assert.Single(refusal);
        Assert.Contains("CRYPTO_LOCAL_MASTER_KEY", refusal[0]);
        Assert.DoesNotContain(server.Lines, l => l.Contains("   at ", StringComparison.Ordinal)); // no stack trace
    }

    [Fact]
    public async Task A_reencryption_job_killed_midway_resumes_on_restart()
    {
        var dir = NewDir();
        var env = Encrypted(dir.Path, new()
        {
            ["CRYPTO_REENCRYPT_BATCH_SIZE"] = "1", ["NexusRag__Ingestion__LeaseMs"] = "2000", ["Logging__LogLevel__Default"] = "Warning",
        }).ToDictionary(kv => kv.Key, kv => kv.Value!);
        var (code, keyOut) = await CliRunner.RunAsync(Encrypted(dir.Path), "keys", "create", "--tenant", "t1", "--role", "admin", "--name", "kill");
        Assert.True(code == 0, keyOut);
        var key = keyOut.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("nrgk_", StringComparison.Ordinal));
        string jobId;
        using (var server = ServerProcess.Start(dir.Path, env))
        {
            var client = await server.ClientAsync(key);
            (await client.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
            var batch = Enumerable.Range(0, 150).Select(i => new { corpus_id = "docs", document_id = $"k{i}", text = $"Kill test document {i}: " + string.Join(" ", Enumerable.Repeat($"token{i}", 20)) }).ToList();
            (await client.PostAsJsonAsync("/v1/documents/batch", batch)).EnsureSuccessStatusCode();
            async Task<int> InFlight(string status) => (await (await client.GetAsync($"/v1/documents?corpus_id=docs&status={status}&limit=1")).DataAsync()).GetProperty("items").GetArrayLength();
            await Eventually.ReadAsync(async () => await InFlight("queued") + await InFlight("processing"), n => n == 0, timeoutSeconds: 60);
            await client.WaitForDocumentAsync("k149");
            var rotation = await (await client.PostAsJsonAsync("/v1/admin/crypto/keys/t1/rotate", new { reencrypt = true })).DataAsync(202);
            jobId = rotation.GetProperty("job_id").GetString()!;
            await Eventually.ReadAsync(async () => await (await client.GetAsync($"/v1/admin/crypto/rotation-jobs/{jobId}")).DataAsync(),
                j => j.GetProperty("reencrypted").TryGetProperty("chunks", out var n) && n.GetInt64() >= 10, timeoutSeconds: 30, pollMs: 20);
            await server.KillAsync();
        }
        var midway = await ProgressAsync(dir.Path, jobId);
        Assert.True(midway.Status == "running", $"killed while {midway.Status}");
        using (var server = ServerProcess.Start(dir.Path, env))
        {
            var client = await server.ClientAsync(key);
            var done = await Eventually.ReadAsync(async () => await (await client.GetAsync($"/v1/admin/crypto/rotation-jobs/{jobId}")).DataAsync(),
                j => j.GetProperty("status").GetString() is "succeeded" or "failed", timeoutSeconds: 90, pollMs: 200);
            Assert.Equal("succeeded", done.GetProperty("status").GetString());
            Assert.True(done.GetProperty("reencrypted").GetProperty("chunks").GetInt64() >= midway.Chunks);
            var keys = await (await client.GetAsync("/v1/admin/crypto/keys/t1")).DataAsync();
            Assert.All(keys.GetProperty("pending").EnumerateObject(), p => Assert.Equal(0, p.Value.GetInt64()));
            Assert.Contains("token42", (await (await client.GetAsync("/v1/documents/k42/chunks")).DataAsync())[0].GetProperty("text").GetString());
        }
    }

    private static async Task<(string Status, long Chunks)> ProgressAsync(string dataDir, string rotationId)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(TestStore.SettingsFor(dataDir)).Build();
        await using var services = new ServiceCollection().AddLogging().AddNexusRagStore(config).BuildServiceProvider();
        await using var db = await services.GetRequiredService<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var row = await db.CryptoRotations.AsNoTracking().SingleAsync(r => r.Id == rotationId);
        using var progress = JsonDocument.Parse(row.ProgressJson);
        return (row.Status, progress.RootElement.TryGetProperty("chunks", out var c) ? c.GetInt64() : 0);
    }
}
