using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace NexusRag.Storage;

/// <summary>Applies migrations (never EnsureCreated) and switches SQLite to WAL.</summary>
public sealed class DatabaseMigrator(IDbContextFactory<NexusDbContext> factory, IOptions<StorageOptions> options, ILogger<DatabaseMigrator> logger)
{
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken ct)
    {
        var storage = options.Value;
        if (storage.Kind == StoreKind.Sqlite)
        {
            var csb = new SqliteConnectionStringBuilder(storage.SqliteConnectionString());
            var dir = Path.GetDirectoryName(Path.GetFullPath(csb.DataSource));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        }
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var pending = (await db.Database.GetPendingMigrationsAsync(ct).ConfigureAwait(false)).ToList();
        if (pending.Count > 0)
        {
            logger.LogInformation("Applying {Count} migration(s): {Migrations}", pending.Count, string.Join(", ", pending));
            await db.Database.MigrateAsync(ct).ConfigureAwait(false);
        }
        if (db.Database.IsSqlite())
        {
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", ct).ConfigureAwait(false);
        }
        return pending;
    }
}
