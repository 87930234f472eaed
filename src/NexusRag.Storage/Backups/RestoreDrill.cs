using System.Data.Common;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using NexusRag.Core.Backups;
using NexusRag.Storage.Stores;

namespace NexusRag.Storage.Backups;

/// <summary>A chunk of the restored store, for the drill's search check.</summary>
public sealed record DrillChunk(string ChunkId, string DocumentId, int ChunkIndex, string Text);

/// <summary>What a restore drill found: each check with its outcome, and how long the restore took (the RTO estimate).</summary>
public sealed record DrillResult(string BackupId, DateTime BackupCreatedAt, bool Ok, IReadOnlyList<DrillCheck> Checks, double RestoreMs, double TotalMs);

public sealed record DrillCheck(string Name, bool Ok, string Detail);

/// <summary>
/// The restore drill: restores the newest backup set with a database into a scratch store (a temporary SQLite file, or a
/// temporary PostgreSQL database dropped afterwards), then checks that every table's row count matches the manifest,
/// that every tenant's audit chain verifies, and — through <paramref name="searchCheck"/> — that a sample of searches over
/// the restored chunks finds them. The live store is never touched.
/// </summary>
public sealed class RestoreDrillRunner(BackupService backups, IStoreBackup store, IOptions<StorageOptions> storage, Core.Crypto.IKeyManagementService kms,
    IOptions<Core.Crypto.CryptoOptions> crypto, TimeProvider clock)
{
    public async Task<DrillResult> RunAsync(Func<IReadOnlyList<DrillChunk>, CancellationToken, Task<DrillCheck>> searchCheck, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var latest = backups.List().FirstOrDefault(m => m.Components.Any(c => c.Name == BackupComponents.Db))
                     ?? throw new InvalidOperationException("no backup set with a database to drill (create one first)");
        var manifestPath = backups.ManifestPath(latest.Id);
        var checks = new List<DrillCheck>();
        var scratch = Path.Combine(Path.GetTempPath(), $"nexusrag-drill-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        string? scratchDb = null;
        try
        {
            await backups.VerifyAsync(manifestPath, [BackupComponents.Db], ct).ConfigureAwait(false);
            checks.Add(new DrillCheck("integrity", true, "signature (when signed) and checksums verified"));
            var dump = Path.Combine(scratch, "db");
            await backups.ExtractAsync(latest, manifestPath, BackupComponents.Db, dump, ct).ConfigureAwait(false);
            var restoreStarted = Stopwatch.GetTimestamp();
            Func<NexusDbContext> Context;
            string connString;
            if (store.StoreKind == "sqlite")
            {
                connString = new SqliteConnectionStringBuilder { DataSource = dump, Pooling = false }.ToString();
                Context = () => new SqliteNexusDbContext(new DbContextOptionsBuilder<SqliteNexusDbContext>().UseSqlite(connString).Options);
            }
            else
            {
                var csb = new Npgsql.NpgsqlConnectionStringBuilder(storage.Value.PostgresConnectionString());
                scratchDb = $"{csb.Database}_drill_{Guid.NewGuid():N}"[..Math.Min(63, csb.Database!.Length + 39)];
                await ((PostgresStoreBackup)store).RestoreIntoAsync(scratchDb, dump, ct).ConfigureAwait(false);
                connString = new Npgsql.NpgsqlConnectionStringBuilder(csb.ConnectionString) { Database = scratchDb, Pooling = false }.ConnectionString;
                Context = () => new PostgresNexusDbContext(new DbContextOptionsBuilder<PostgresNexusDbContext>()
                    .UseNpgsql(connString, n => n.MigrationsHistoryTable("__ef_migrations_history")).Options);
            }
            var restoreMs = Stopwatch.GetElapsedTime(restoreStarted).TotalMilliseconds;

            await using (var db = Context())
            {
                var conn = db.Database.GetDbConnection();
                await conn.OpenAsync(ct).ConfigureAwait(false);
                var facts = await Facts.ReadAsync(conn, store.StoreKind == "sqlite" ? "__EFMigrationsHistory" : "__ef_migrations_history", ct).ConfigureAwait(false);
                var mismatched = facts.Counts.Where(c => latest.Facts.Counts.GetValueOrDefault(c.Key) != c.Value)
                    .Select(c => $"{c.Key} {c.Value} (manifest {latest.Facts.Counts.GetValueOrDefault(c.Key)})").ToList();
                checks.Add(new DrillCheck("row_counts", mismatched.Count == 0,
                    mismatched.Count == 0 ? $"{facts.Counts.Count} tables match the manifest ({BackupService.Describe(facts)})" : "differ: " + string.Join(", ", mismatched)));
            }

            var audit = new EfAuditLog(new ScratchFactory(Context), clock);
            var broken = new List<string>();
            var tenants = await audit.ChainedTenantsAsync(ct).ConfigureAwait(false);
            long events = 0;
            foreach (var t in tenants)
            {
                var v = await audit.VerifyAsync(t, ct).ConfigureAwait(false);
                events += v.Events;
                if (!v.Ok) broken.Add($"{t}: {v.Reason} (event {v.BrokenEventId})");
            }
            checks.Add(new DrillCheck("audit_chain", broken.Count == 0,
                broken.Count == 0 ? $"{tenants.Count} chain(s), {events} events verified" : string.Join("; ", broken)));

            await using (var db = Context())
            {
                // The corpus with the most chunks (a drill samples one corpus: the biggest is the one worth checking).
                var top = await db.Chunks.AsNoTracking().GroupBy(c => new { c.TenantId, c.CorpusId, c.IndexVersion })
                    .Select(g => new { g.Key.TenantId, g.Key.CorpusId, g.Key.IndexVersion, Count = g.Count() }).OrderByDescending(g => g.Count).FirstOrDefaultAsync(ct).ConfigureAwait(false);
                if (top is null) checks.Add(new DrillCheck("searches", true, "no chunks in the backup: nothing to search"));
                else
                {
                    var rows = await db.Chunks.AsNoTracking().Where(c => c.TenantId == top.TenantId && c.CorpusId == top.CorpusId && c.IndexVersion == top.IndexVersion)
                        .Select(Stores.SealedRows.WithoutVector).ToListAsync(ct).ConfigureAwait(false);
                    // Sealed chunks open with the data keys the backup holds (unwrapped by this deployment's KMS): the set restores on its own.
                    var keys = await db.TenantDataKeys.AsNoTracking().Where(k => k.TenantId == top.TenantId).ToListAsync(ct).ConfigureAwait(false);
                    var restoredKeys = new Core.Crypto.DataKeyService(kms, new Stores.RestoredKeyStore(keys), crypto, clock,
                        Microsoft.Extensions.Logging.Abstractions.NullLogger<Core.Crypto.DataKeyService>.Instance);
                    try
                    {
                        await Stores.SealedRows.OpenAsync(restoredKeys, rows, ct).ConfigureAwait(false);
                        checks.Add(await searchCheck(rows.Select(c => new DrillChunk(c.Id, c.DocumentId, c.ChunkIndex, c.Text)).ToList(), ct).ConfigureAwait(false));
                    }
                    catch (Core.Errors.NexusException ex) when (ex.Code is Core.Crypto.CryptoErrorCodes.DecryptionFailed or Core.Crypto.CryptoErrorCodes.KmsUnavailable)
                    {
                        checks.Add(new DrillCheck("searches", false, $"restored chunks do not open: {ex.Message}"));
                    }
                }
            }
            return new DrillResult(latest.Id, latest.CreatedAt, checks.All(c => c.Ok), checks, Math.Round(restoreMs, 1), Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            if (scratchDb is not null) await ((PostgresStoreBackup)store).DropDatabaseAsync(scratchDb, CancellationToken.None).ConfigureAwait(false);
            try { Directory.Delete(scratch, recursive: true); } catch (IOException) { }
        }
    }

    private sealed class ScratchFactory(Func<NexusDbContext> create) : IDbContextFactory<NexusDbContext>
    {
        public NexusDbContext CreateDbContext() => create();
    }
}
