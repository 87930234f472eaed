using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Storage;
using NexusRag.Storage.Backups;
using NexusRag.Storage.Entities;

/// <summary>
/// `backup`: backup and restore time and size of a store holding `--chunks` chunks (default 100,000: 10 per document,
/// ~500 characters of text and a 384-d float32 embedding each, as ingestion writes them), with and without encryption
/// and signing. SQLite by default; `--database-url Host=…` for PostgreSQL (the bench creates and drops its databases).
/// The store is filled with the same row shapes the pipeline writes (no API round trips: this measures backups).
/// </summary>
static class BackupBench
{
    public static async Task RunAsync(string[] args)
    {
        int chunks = 100_000;
        string? pg = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--chunks": chunks = int.Parse(args[++i]); break;
                case "--database-url": pg = args[++i]; break;
                default: throw new ArgumentException($"unknown argument {args[i]}");
            }
        }
        var root = Path.Combine(Path.GetTempPath(), $"nexusrag-backupbench-{Guid.NewGuid():N}");
        Directory.CreateDirectory(root);
        var created = new List<string>();
        try
        {
            Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; store {(pg is null ? "sqlite" : "postgres")}, {chunks:N0} chunks");
            var source = Settings(root, "source", pg, created);
            var fill = Stopwatch.StartNew();
            await using (var sp = Services(source))
            {
                await sp.GetRequiredService<DatabaseMigrator>().MigrateAsync(default);
                await FillAsync(sp.GetRequiredService<IDbContextFactory<NexusDbContext>>(), chunks);
            }
            Console.WriteLine($"filled in {fill.Elapsed.TotalSeconds:F1} s");

            foreach (var (name, protect) in new[] { ("plain", false), ("encrypted+signed", true) })
            {
                var settings = new Dictionary<string, string?>(source) { ["BACKUP_LOCAL_DIR"] = Path.Combine(root, "backups-" + name.Replace('+', '-')) };
                if (protect)
                {
                    settings["BACKUP_ENCRYPTION_ENABLED"] = "true";
                    settings["BACKUP_ENCRYPTION_KEY"] = Convert.ToBase64String(Enumerable.Range(3, 32).Select(i => (byte)(i * 7)).ToArray());
                    settings["BACKUP_SIGNING_ENABLED"] = "true";
                    settings["BACKUP_SIGNING_KEY"] = "bench-signing-key-0123456789abcdefghij";
                }
                string manifest;
                long bytes;
                double backupS;
                await using (var sp = Services(settings))
                {
                    var sw = Stopwatch.StartNew();
                    var m = await sp.GetRequiredService<BackupService>().CreateAsync("db", default);
                    backupS = sw.Elapsed.TotalSeconds;
                    bytes = m.Components.Sum(c => c.Bytes);
                    manifest = sp.GetRequiredService<BackupService>().ManifestPath(m.Id);
                }
                var target = Settings(root, "restore-" + (protect ? "enc" : "plain"), pg, created);
                foreach (var k in new[] { "BACKUP_ENCRYPTION_KEY", "BACKUP_SIGNING_KEY", "BACKUP_LOCAL_DIR" })
                    if (settings.TryGetValue(k, out var v)) target[k] = v;
                double restoreS;
                await using (var sp = Services(target))
                {
                    var sw = Stopwatch.StartNew();
                    var report = await sp.GetRequiredService<BackupService>().RestoreAsync(manifest, null, dryRun: false, allowDestructive: false, default);
                    restoreS = sw.Elapsed.TotalSeconds;
                    if (report.After!.Counts["chunks"] != chunks) throw new InvalidOperationException($"restored {report.After.Counts["chunks"]} chunks");
                }
                Console.WriteLine($"{name,-17} backup {backupS,6:F1} s  restore {restoreS,6:F1} s  size {bytes / 1e6,8:F1} MB");
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (pg is not null)
            {
                Npgsql.NpgsqlConnection.ClearAllPools();
                await using var conn = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(pg) { Database = "postgres" }.ConnectionString);
                await conn.OpenAsync();
                foreach (var db in created)
                {
                    await using var drop = new Npgsql.NpgsqlCommand($"DROP DATABASE IF EXISTS {db} WITH (FORCE)", conn);
                    await drop.ExecuteNonQueryAsync();
                }
            }
            try { Directory.Delete(root, true); } catch (IOException) { }
        }
    }

    private static Dictionary<string, string?> Settings(string root, string name, string? pg, List<string> created)
    {
        var dir = Path.Combine(root, name);
        Directory.CreateDirectory(dir);
        var s = new Dictionary<string, string?> { ["NEXUSRAG_DATA_DIR"] = dir, ["EMBEDDINGS_PROVIDER"] = "hash" };
        if (pg is not null)
        {
            var db = $"nx_backupbench_{name.Replace('-', '_')}_{Guid.NewGuid():N}"[..40];
            created.Add(db);
            s["DATABASE_URL"] = new Npgsql.NpgsqlConnectionStringBuilder(pg) { Database = db }.ConnectionString;
            using var conn = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(pg) { Database = "postgres" }.ConnectionString);
            conn.Open();
            using var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE {db}", conn);
            create.ExecuteNonQuery();
        }
        return s;
    }

    private static ServiceProvider Services(Dictionary<string, string?> settings) =>
        new ServiceCollection().AddLogging().AddNexusRagStore(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).BuildServiceProvider();

    private static async Task FillAsync(IDbContextFactory<NexusDbContext> factory, int chunks)
    {
        var now = DateTime.UtcNow;
        var rng = new Random(42);
        var words = Enumerable.Range(0, 5000).Select(i => $"w{i:x}{(char)('a' + i % 26)}").ToArray();
        await using (var db = await factory.CreateDbContextAsync())
        {
            db.Tenants.Add(new TenantRow { Id = "bench", Name = "bench", CreatedAt = now });
            db.Corpora.Add(new CorpusRow { TenantId = "bench", Id = "c1", Name = "c1", EmbeddingProvider = "hash", EmbeddingModel = "hash", EmbeddingDimensions = 384, CreatedAt = now, UpdatedAt = now });
            await db.SaveChangesAsync();
        }
        const int perDoc = 10;
        long seq = 0;
        for (var start = 0; start < chunks; start += 5000)
        {
            await using var db = await factory.CreateDbContextAsync();
            for (var c = start; c < Math.Min(chunks, start + 5000); c++)
            {
                var doc = $"d{c / perDoc:D6}";
                if (c % perDoc == 0)
                    db.Documents.Add(new DocumentRow
                    {
                        TenantId = "bench", Id = doc, CorpusId = "c1", ContentType = "text/plain", Status = "succeeded", NumChunks = perDoc,
                        ChunkSizeChars = 500, ContentSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(doc))),
                        CreatedAt = now, UpdatedAt = now,
                    });
                var text = string.Join(' ', Enumerable.Range(0, 75).Select(_ => words[rng.Next(words.Length)]));
                var vector = new float[384];
                for (var k = 0; k < vector.Length; k++) vector[k] = (float)(rng.NextDouble() - 0.5);
                db.Chunks.Add(new ChunkRow
                {
                    Id = $"chk_{c:D8}", TenantId = "bench", CorpusId = "c1", DocumentId = doc, ChunkIndex = c % perDoc, Text = text, StartOffset = 0, EndOffset = text.Length,
                    Embedding = System.Runtime.InteropServices.MemoryMarshal.AsBytes(vector.AsSpan()).ToArray(), Seq = ++seq, CreatedAt = now,
                });
            }
            await db.SaveChangesAsync();
        }
    }
}
