using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Core.Ports;
using NexusRag.Storage.Kms;
using NexusRag.Storage.Stores;

namespace NexusRag.Storage;

public static class StorageServiceCollectionExtensions
{
    /// <summary>Binds <see cref="StorageOptions"/> from <c>NexusRag:Storage</c>, <c>NEXUSRAG_DATA_DIR</c> and <c>DATABASE_URL</c>.</summary>
    public static IServiceCollection AddNexusRagStorageOptions(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<StorageOptions>()
            .Bind(config.GetSection(StorageOptions.Section))
            .Configure(o =>
            {
                if (config["NEXUSRAG_DATA_DIR"] is { Length: > 0 } dir) o.DataDir = dir;
                if (config["DATABASE_URL"] is { Length: > 0 } url) o.DatabaseUrl = url;
                if (config["ORIGINALS_DIR"] is { Length: > 0 } originals) o.OriginalsDir = originals;
            })
            .ValidateSettings(StorageOptions.Section)
            .Validate(o => o.UnsupportedScheme() is null,
                "DATABASE_URL must be postgresql://user:pass@host:5432/db, sqlite:///path/to/file.db, or an Npgsql or SQLite connection string")
            .Validate(o => o.Kind != StoreKind.Postgres || ValidPostgresUrl(o),
                "DATABASE_URL is not a valid PostgreSQL URL (postgresql://user:pass@host:5432/db) or Npgsql connection string")
            .Validate(o => o.Kind != StoreKind.Sqlite || o.UnsupportedScheme() is not null || ValidSqlite(o),
                "DATABASE_URL is not a valid SQLite URL (sqlite:///path/to/file.db) or SQLite connection string (Data Source=…)")
            .ValidateOnStart();
        services.AddOptions<NexusRag.Core.Backups.BackupOptions>()
            .Bind(config.GetSection(NexusRag.Core.Backups.BackupOptions.Section))
            .Configure(o =>
            {
                FlatSettings.Bool(config, "BACKUP_ENABLED", v => o.Enabled = v, o.ParseErrors);
                FlatSettings.Bool(config, "BACKUP_ENCRYPTION_ENABLED", v => o.EncryptionEnabled = v, o.ParseErrors);
                FlatSettings.Bool(config, "BACKUP_SIGNING_ENABLED", v => o.SigningEnabled = v, o.ParseErrors);
                FlatSettings.Bool(config, "RESTORE_REQUIRE_SIGNATURE", v => o.RequireSignature = v, o.ParseErrors);
                FlatSettings.Int(config, "BACKUP_RETENTION_DAYS", v => o.RetentionDays = v, o.ParseErrors);
                if (config["BACKUP_LOCAL_DIR"] is { Length: > 0 } dir) o.LocalDir = dir;
                if (config["BACKUP_ENCRYPTION_KEY"] is { Length: > 0 } key) o.EncryptionKey = key;
                if (config["BACKUP_SIGNING_KEY"] is { Length: > 0 } sig) o.SigningKey = sig;
                if (config["BACKUP_SCHEDULE_CRON"] is { Length: > 0 } cron) o.ScheduleCron = cron;
                if (config["RESTORE_DRILL_SCHEDULE_CRON"] is { Length: > 0 } drill) o.DrillScheduleCron = drill;
                if (config["PG_BIN"] is { Length: > 0 } bin) o.PgBin = bin;
            })
            .ValidateParseErrors()
            .ValidateSettings(NexusRag.Core.Backups.BackupOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<NexusRag.Core.Backups.BackupOptions>, BackupOptionsValidator>();
        return services;
    }

    private static bool ValidSqlite(StorageOptions o)
    {
        try { return new SqliteConnectionStringBuilder(o.SqliteConnectionString()).DataSource is { Length: > 0 }; }
        catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException) { return false; }
    }

    private static bool ValidPostgresUrl(StorageOptions o)
    {
        try { _ = new Npgsql.NpgsqlConnectionStringBuilder(o.PostgresConnectionString()); return true; }
        catch (Exception ex) when (ex is ArgumentException or UriFormatException or FormatException or KeyNotFoundException) { return false; }
    }

    /// <summary>SQLite or PostgreSQL, whichever <c>DATABASE_URL</c> names (SQLite in the data directory when unset).</summary>
    public static IServiceCollection AddNexusRagStore(this IServiceCollection services, IConfiguration config)
    {
        var probe = new StorageOptions { DatabaseUrl = config["DATABASE_URL"] ?? config[$"{StorageOptions.Section}:DatabaseUrl"] };
        return probe.Kind == StoreKind.Postgres ? services.AddPostgresStore(config) : services.AddSqliteStore(config);
    }

    /// <summary>PostgreSQL 15+ through Npgsql (no extensions needed).</summary>
    public static IServiceCollection AddPostgresStore(this IServiceCollection services, IConfiguration config)
    {
        services.AddNexusRagStorageOptions(config);
        services.TryAddSingletonTimeProvider();
        // Pooled: a context (and its internal service scope) is reused instead of built per store call — the hot reads
        // make one or two store calls each, and building contexts was most of their cost.
        services.AddPooledDbContextFactory<PostgresNexusDbContext>((sp, o) =>
        {
            var storage = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            o.UseNpgsql(storage.PostgresConnectionString(), n => n.MigrationsHistoryTable("__ef_migrations_history"));
        });
        services.AddSingleton<IChangeNotifier, PgChangeNotifier>();
        services.AddSingleton<NexusRag.Core.Backups.IStoreBackup, Backups.PostgresStoreBackup>();
        services.AddSingleton<IDbContextFactory<NexusDbContext>>(sp =>
            new UpcastFactory<PostgresNexusDbContext>(sp.GetRequiredService<IDbContextFactory<PostgresNexusDbContext>>(), sp.GetRequiredService<AmbientDbContext>()));
        return services.AddStoreAdapters();
    }

    /// <summary>The embedded SQLite store (the default).</summary>
    public static IServiceCollection AddSqliteStore(this IServiceCollection services, IConfiguration config)
    {
        services.AddNexusRagStorageOptions(config);
        services.TryAddSingletonTimeProvider();
        services.AddPooledDbContextFactory<SqliteNexusDbContext>((sp, o) =>
        {
            var storage = sp.GetRequiredService<IOptions<StorageOptions>>().Value;
            // Contains() over a list becomes IN (@p0, @p1, …), which SQLite answers from the index (json_each would scan).
            o.UseSqlite(storage.SqliteConnectionString(), s => s.UseParameterizedCollectionMode(ParameterTranslationMode.MultipleParameters));
            o.AddInterceptors(SqlitePragmaInterceptor.Instance);
        });
        services.AddSingleton<IDbContextFactory<NexusDbContext>>(sp =>
            new UpcastFactory<SqliteNexusDbContext>(sp.GetRequiredService<IDbContextFactory<SqliteNexusDbContext>>(), sp.GetRequiredService<AmbientDbContext>()));
        services.AddSingleton<IChangeNotifier, PollingChangeNotifier>();
        services.AddSingleton<NexusRag.Core.Backups.IStoreBackup, Backups.SqliteStoreBackup>();
        return services.AddStoreAdapters();
    }

    private static IServiceCollection AddStoreAdapters(this IServiceCollection services)
    {
        services.AddSingleton<Backups.BackupService>();
        services.AddSingleton<Backups.RestoreDrillRunner>();
        services.AddSingleton<NexusRag.Core.Backups.IMaintenanceStore, Backups.EfMaintenanceStore>();
        services.AddSingleton<NexusRag.Core.Backups.IMaintenanceTask, Backups.PruneAuditTask>();
        services.AddSingleton<NexusRag.Core.Backups.IMaintenanceTask, Backups.PruneUsageTask>();
        services.AddSingleton<NexusRag.Core.Backups.IMaintenanceTask, Backups.BackupCreateTask>();
        services.AddSingleton<NexusRag.Core.Backups.IMaintenanceTask, Backups.BackupPruneTask>();
        services.AddSingleton<DatabaseMigrator>();
        services.AddSingleton<AmbientDbContext>();
        services.AddSingleton<Stores.SqliteHotReads>();
        services.AddSingleton<Stores.SessionWriter>();
        services.AddSingleton<NexusRag.Core.Transactions.IUnitOfWork>(sp =>
            new EfUnitOfWork((IRawDbContextFactory)sp.GetRequiredService<IDbContextFactory<NexusDbContext>>(), sp.GetRequiredService<AmbientDbContext>()));
        services.AddSingleton<NexusRag.Core.Transactions.IOutbox, EfOutbox>();
        services.AddSingleton<IIdentityStore, EfIdentityStore>();
        services.AddSingleton<ICorpusStore, EfCorpusStore>();
        services.AddSingleton<NexusRag.Core.Indexing.IIndexVersionStore, EfIndexVersionStore>();
        services.AddSingleton<IDocumentStore, EfDocumentStore>();
        services.AddSingleton<Originals.LocalOriginalStore>();
        services.AddSingleton<IOriginalStore>(sp => sp.GetRequiredService<Originals.LocalOriginalStore>());
        services.AddSingleton<NexusRag.Core.Crypto.ITenantKeyStore, EfTenantKeyStore>();
        services.AddSingleton<NexusRag.Core.Crypto.IRotationStore, EfRotationStore>();
        services.AddSingleton<NexusRag.Core.Crypto.IReencryptionTarget, ChunkReencryption>();
        services.AddSingleton<NexusRag.Core.Crypto.IReencryptionTarget, MessageReencryption>();
        services.AddSingleton<NexusRag.Core.Crypto.IReencryptionTarget, Originals.OriginalReencryption>();
        services.AddSingleton<NexusRag.Core.Crypto.IKeyringStore, EfKeyringStore>();
        services.AddSingleton<NexusRag.Core.DataGovernance.IGovernanceStore, EfGovernanceStore>();
        services.AddSingleton<NexusRag.Core.Compliance.IComplianceStore, EfComplianceStore>();
        services.AddSingleton(sp => new NexusRag.Core.Compliance.ComplianceLocation(
            Path.Combine(sp.GetRequiredService<IOptions<StorageOptions>>().Value.ResolveDataDir(), "compliance", "bundles")));
        services.AddSingleton(sp => new NexusRag.Core.DataGovernance.DsarArtifactLocation(
            Path.Combine(sp.GetRequiredService<IOptions<StorageOptions>>().Value.ResolveDataDir(), "governance", "dsar")));
        services.AddKeyManagement();
        services.AddSingleton<TableStatistics>();
        services.AddSingleton<EfJobQueue>();
        services.AddSingleton<NexusRag.Core.Jobs.IJobQueue>(sp => sp.GetRequiredService<EfJobQueue>());
        services.AddSingleton<NexusRag.Core.Jobs.IIngestionJobStore>(sp => sp.GetRequiredService<EfJobQueue>());
        services.AddSingleton<IAuditLog, EfAuditLog>();
        services.AddSingleton<IChunkChangeFeed, EfChunkChangeFeed>();
        services.AddSingleton<NexusRag.Core.Chat.ISessionStore, EfSessionStore>();
        services.AddSingleton<NexusRag.Core.Governance.IRolloutStore, EfRolloutStore>();
        services.AddSingleton<NexusRag.Core.Governance.IPlanStore, EfPlanStore>();
        services.AddSingleton<NexusRag.Core.Governance.IQuotaStore, EfQuotaStore>();
        services.AddSingleton<IDatabaseHealth, EfDatabaseHealth>();
        services.AddSingleton<NexusRag.Core.Observability.IOpsStore, EfOpsStore>();
        services.AddSingleton<NexusRag.Core.Authorization.IAuthzStore, EfAuthzStore>();
        return services;
    }

    private static void TryAddSingletonTimeProvider(this IServiceCollection services)
    {
        if (!services.Any(d => d.ServiceType == typeof(TimeProvider))) services.AddSingleton(TimeProvider.System);
    }

    /// <summary>
    /// The stores' context factory: inside a unit of work it hands out the unit's context (whose dispose is then a no-op,
    /// so the stores' <c>await using</c> leaves it open); otherwise a fresh context of the provider.
    /// </summary>
    private sealed class UpcastFactory<T>(IDbContextFactory<T> inner, AmbientDbContext ambient) : IDbContextFactory<NexusDbContext>, IRawDbContextFactory where T : NexusDbContext
    {
        public NexusDbContext CreateDbContext() => ambient.Current ?? Fresh(inner.CreateDbContext());
        public async Task<NexusDbContext> CreateDbContextAsync(CancellationToken ct = default) =>
            ambient.Current ?? Fresh(await inner.CreateDbContextAsync(ct).ConfigureAwait(false));
        public async Task<NexusDbContext> CreateOwnedAsync(CancellationToken ct) => Fresh(await inner.CreateDbContextAsync(ct).ConfigureAwait(false));

        /// <summary>A context from the pool keeps EF's state reset, but not ours: clear it.</summary>
        private static T Fresh(T db)
        {
            db.HeldByUnitOfWork = false;
            db.AfterCommitActions.Clear();
            return db;
        }
    }
}

/// <summary>Per-connection SQLite settings: WAL is persistent (set by the migrator); synchronous=NORMAL is safe with WAL against process crashes; secure_delete zeroes what is deleted.</summary>
internal sealed class SqlitePragmaInterceptor : DbConnectionInterceptor
{
    public static readonly SqlitePragmaInterceptor Instance = new();

    /// <summary>
    /// The settings of every writing store connection (EF's, and the session writer's own). busy_timeout: SQLite's own
    /// handler waits in short steps for the write lock (the ADO.NET retry sleeps far longer). secure_delete: deleted content
    /// is overwritten, not left in free pages (an erased document or session must not survive in the file, or in a backup
    /// copied from it).
    /// </summary>
    public const string Pragmas = "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; PRAGMA secure_delete=ON;";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) => Apply(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken ct = default)
    {
        Apply(connection);
        return Task.CompletedTask;
    }

    // Pooled native connections keep their settings: apply them once per native handle, not at every open.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> _applied = new();

    private void Apply(DbConnection connection)
    {
        if (connection is not SqliteConnection sqlite || sqlite.Handle is not { } handle || _applied.TryGetValue(handle, out _)) return;
        using var cmd = connection.CreateCommand();
        cmd.CommandText = Pragmas;
        cmd.ExecuteNonQuery();
        _applied.AddOrUpdate(handle, handle);
    }
}

/// <summary>Stores every DateTime as UTC and reads it back as UTC.</summary>
internal sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
    v => v.Kind == DateTimeKind.Utc ? v : v.ToUniversalTime(),
    v => DateTime.SpecifyKind(v, DateTimeKind.Utc));

/// <summary>Names each bad backup setting (key shapes, cron expressions) at start-up.</summary>
internal sealed class BackupOptionsValidator : IValidateOptions<NexusRag.Core.Backups.BackupOptions>
{
    public ValidateOptionsResult Validate(string? name, NexusRag.Core.Backups.BackupOptions options) =>
        Backups.BackupService.Problems(options) is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
}
