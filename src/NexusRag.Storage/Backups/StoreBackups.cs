using System.Data.Common;
using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Options;
using NexusRag.Core.Backups;

namespace NexusRag.Storage.Backups;

/// <summary>Row counts and audit heads, read the same way from a live store and from a restored or dumped one.</summary>
internal static class Facts
{
    /// <summary>The tables whose counts a manifest records (and a restore and a drill compare).</summary>
    public static readonly string[] Tables =
    [
        "tenants", "api_keys", "corpora", "documents", "chunks", "sessions", "messages", "audit_events", "jobs", "index_versions",
        "document_permissions", "authz_policies", "outbox",
    ];

    public static async Task<StoreFacts> ReadAsync(DbConnection conn, string historyTable, CancellationToken ct)
    {
        var tables = await ExistingTablesAsync(conn, ct).ConfigureAwait(false);
        var counts = new Dictionary<string, long>();
        foreach (var t in Tables) counts[t] = tables.Contains(t) ? await ScalarAsync(conn, $"SELECT COUNT(*) FROM {t}", ct).ConfigureAwait(false) : 0;
        var version = "";
        if (tables.Contains(historyTable))
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = $"SELECT \"MigrationId\" FROM \"{historyTable}\" ORDER BY \"MigrationId\" DESC LIMIT 1";
            version = (await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false)) as string ?? "";
        }
        var heads = new List<AuditHeadFact>();
        if (tables.Contains("audit_chain_heads"))
        {
            await using var cmd = conn.CreateCommand();
            cmd.CommandText = "SELECT tenant_id, last_seq, last_hash FROM audit_chain_heads ORDER BY tenant_id";
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
                heads.Add(new AuditHeadFact(r.GetString(0), r.GetInt64(1), r.IsDBNull(2) ? null : r.GetString(2)));
        }
        return new StoreFacts(version, counts, heads);
    }

    private static async Task<HashSet<string>> ExistingTablesAsync(DbConnection conn, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = conn is SqliteConnection
            ? "SELECT name FROM sqlite_master WHERE type = 'table'"
            : "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()";
        var names = new HashSet<string>(StringComparer.Ordinal);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) names.Add(r.GetString(0));
        return names;
    }

    private static async Task<long> ScalarAsync(DbConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    public static IReadOnlyList<string> Migrations(IDbContextFactory<NexusDbContext> factory)
    {
        using var db = factory.CreateDbContext();
        return db.Database.GetMigrations().ToList();
    }
}

/// <summary>SQLite: the online backup API (a consistent copy while the server writes) and a page-level restore into the live file.</summary>
public sealed class SqliteStoreBackup(IOptions<StorageOptions> options, IDbContextFactory<NexusDbContext> factory) : IStoreBackup
{
    private const string History = "__EFMigrationsHistory";

    public string StoreKind => "sqlite";

    public IReadOnlyList<string> KnownMigrations => Facts.Migrations(factory);

    private string LiveConnectionString => options.Value.SqliteConnectionString();

    public async Task<StoreFacts?> DumpAsync(string component, string path, CancellationToken ct)
    {
        await using var live = new SqliteConnection(LiveConnectionString);
        await live.OpenAsync(ct).ConfigureAwait(false);
        if (component == BackupComponents.Db)
        {
            // One step over every page under a read transaction: the copy is one consistent moment, writers go on (WAL).
            await using (var copy = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
            {
                await copy.OpenAsync(ct).ConfigureAwait(false);
                live.BackupDatabase(copy);
            }
            return await FactsOfDumpAsync(path, ct).ConfigureAwait(false);
        }
        await using var cmd = live.CreateCommand();
        cmd.CommandText = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, name";
        await using var writer = new StreamWriter(path);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) await writer.WriteLineAsync(r.GetString(0) + ";").ConfigureAwait(false);
        return null;
    }

    public async Task RestoreAsync(string component, string path, CancellationToken ct)
    {
        var csb = new SqliteConnectionStringBuilder(LiveConnectionString);
        if (Path.GetDirectoryName(Path.GetFullPath(csb.DataSource)) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
        SqliteConnection.ClearAllPools();
        if (component == BackupComponents.Db)
        {
            await using var source = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            await source.OpenAsync(ct).ConfigureAwait(false);
            await using (var check = source.CreateCommand())
            {
                check.CommandText = "PRAGMA quick_check";
                if ((await check.ExecuteScalarAsync(ct).ConfigureAwait(false)) as string != "ok")
                    throw new BackupIntegrityException("the database component is not a sound SQLite database");
            }
            await using var live = new SqliteConnection(new SqliteConnectionStringBuilder(LiveConnectionString) { Pooling = false }.ToString());
            await live.OpenAsync(ct).ConfigureAwait(false);
            source.BackupDatabase(live); // replaces every page of the live database, in one transaction on it
            await using var wal = live.CreateCommand();
            wal.CommandText = "PRAGMA journal_mode=WAL; PRAGMA wal_checkpoint(TRUNCATE);";
            await wal.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return;
        }
        await using var conn = new SqliteConnection(new SqliteConnectionStringBuilder(LiveConnectionString) { Pooling = false }.ToString());
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = await File.ReadAllTextAsync(path, ct).ConfigureAwait(false);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async Task<StoreFacts> FactsAsync(CancellationToken ct)
    {
        var file = new SqliteConnectionStringBuilder(LiveConnectionString).DataSource;
        if (!File.Exists(file)) return new StoreFacts("", Facts.Tables.ToDictionary(t => t, _ => 0L), []);
        await using var conn = new SqliteConnection(new SqliteConnectionStringBuilder(LiveConnectionString) { Pooling = false }.ToString());
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return await Facts.ReadAsync(conn, History, ct).ConfigureAwait(false);
    }

    public async Task<StoreFacts?> FactsOfDumpAsync(string path, CancellationToken ct)
    {
        await using var conn = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await conn.OpenAsync(ct).ConfigureAwait(false);
        return await Facts.ReadAsync(conn, History, ct).ConfigureAwait(false);
    }
}

/// <summary>
/// PostgreSQL: <c>pg_dump</c> (custom format: one consistent snapshot, taken in a single repeatable-read transaction) and
/// <c>pg_restore --clean --if-exists</c> in one transaction; found on PATH or in <c>PG_BIN</c>. The database is created
/// when it does not exist (restore after it was dropped).
/// </summary>
public sealed class PostgresStoreBackup(IOptions<StorageOptions> options, IOptions<BackupOptions> backup, IDbContextFactory<NexusDbContext> factory) : IStoreBackup
{
    private const string History = "__ef_migrations_history";

    public string StoreKind => "postgres";

    public IReadOnlyList<string> KnownMigrations => Facts.Migrations(factory);

    private Npgsql.NpgsqlConnectionStringBuilder Csb => new(options.Value.PostgresConnectionString());

    public async Task<StoreFacts?> DumpAsync(string component, string path, CancellationToken ct)
    {
        var args = new List<string> { "--no-owner", "--no-privileges", "--file", path };
        if (component != BackupComponents.Db)
        {
            args.AddRange(["--schema-only", "--format=plain"]);
            await RunAsync("pg_dump", args, Csb.Database!, ct).ConfigureAwait(false);
            return null;
        }
        // The facts and the dump see one snapshot: it is exported from a repeatable-read transaction that stays open
        // while pg_dump runs with --snapshot.
        var csb = Csb;
        csb.Pooling = false;
        await using var conn = new Npgsql.NpgsqlConnection(csb.ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await conn.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct).ConfigureAwait(false);
        await using var export = new Npgsql.NpgsqlCommand("SELECT pg_export_snapshot()", conn, tx);
        var snapshot = (string)(await export.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        var facts = await Facts.ReadAsync(conn, History, ct).ConfigureAwait(false);
        // Light compression: the default (gzip 6) costs 5× the time for a few percent (vectors hardly compress).
        args.AddRange(["--format=custom", "--compress=1", $"--snapshot={snapshot}"]);
        await RunAsync("pg_dump", args, csb.Database!, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return facts;
    }

    public async Task RestoreAsync(string component, string path, CancellationToken ct)
    {
        await EnsureDatabaseAsync(ct).ConfigureAwait(false);
        Npgsql.NpgsqlConnection.ClearAllPools();
        if (component == BackupComponents.Db)
            await RunAsync("pg_restore", ["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--dbname", ConnUri(Csb.Database!), path], null, ct).ConfigureAwait(false);
        else
            await RunAsync("psql", ["--quiet", "--set", "ON_ERROR_STOP=1", "--single-transaction", "--file", path], Csb.Database!, ct).ConfigureAwait(false);
    }

    /// <summary>Restores a dump into another (new) database of the same server: the restore drill's scratch store.</summary>
    public async Task RestoreIntoAsync(string database, string path, CancellationToken ct)
    {
        await EnsureDatabaseAsync(ct, database).ConfigureAwait(false);
        await RunAsync("pg_restore", ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--dbname", ConnUri(database), path], null, ct).ConfigureAwait(false);
    }

    public async Task DropDatabaseAsync(string database, CancellationToken ct)
    {
        var admin = new Npgsql.NpgsqlConnectionStringBuilder(Csb.ConnectionString) { Database = "postgres", Pooling = false };
        await using var conn = new Npgsql.NpgsqlConnection(admin.ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var drop = new Npgsql.NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database.Replace("\"", "\"\"", StringComparison.Ordinal)}\" WITH (FORCE)", conn);
        await drop.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private async Task EnsureDatabaseAsync(CancellationToken ct, string? database = null)
    {
        var csb = Csb;
        var name = database ?? csb.Database!;
        var admin = new Npgsql.NpgsqlConnectionStringBuilder(csb.ConnectionString) { Database = name == "postgres" ? "template1" : "postgres", Pooling = false };
        await using var conn = new Npgsql.NpgsqlConnection(admin.ConnectionString);
        await conn.OpenAsync(ct).ConfigureAwait(false);
        await using var exists = new Npgsql.NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", conn) { Parameters = { new() { Value = name } } };
        if (await exists.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null) return;
        await using var create = new Npgsql.NpgsqlCommand($"CREATE DATABASE \"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"", conn);
        await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public async Task<StoreFacts> FactsAsync(CancellationToken ct)
    {
        var csb = Csb;
        csb.Pooling = false;
        await using var conn = new Npgsql.NpgsqlConnection(csb.ConnectionString);
        try
        {
            await conn.OpenAsync(ct).ConfigureAwait(false);
        }
        catch (Npgsql.PostgresException ex) when (ex.SqlState == "3D000") // the database does not exist (yet)
        {
            return new StoreFacts("", Facts.Tables.ToDictionary(t => t, _ => 0L), []);
        }
        return await Facts.ReadAsync(conn, History, ct).ConfigureAwait(false);
    }

    public Task<StoreFacts?> FactsOfDumpAsync(string path, CancellationToken ct) => Task.FromResult<StoreFacts?>(null);

    private string ConnUri(string database)
    {
        var c = Csb;
        return $"postgresql://{Uri.EscapeDataString(c.Username ?? "postgres")}@{c.Host}:{c.Port}/{Uri.EscapeDataString(database)}";
    }

    /// <summary>Runs a PostgreSQL client program with the store's host, port, user and password (in the environment, never in arguments).</summary>
    private async Task RunAsync(string program, IReadOnlyList<string> args, string? database, CancellationToken ct)
    {
        var c = Csb;
        var exe = Find(program);
        var psi = new ProcessStartInfo(exe) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PGHOST"] = c.Host;
        psi.Environment["PGPORT"] = c.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (c.Username is { Length: > 0 } user) psi.Environment["PGUSER"] = user;
        if (c.Password is { Length: > 0 } pw) psi.Environment["PGPASSWORD"] = pw;
        if (database is not null) psi.Environment["PGDATABASE"] = database;
        if (c.SslMode is Npgsql.SslMode.Require or Npgsql.SslMode.VerifyCA or Npgsql.SslMode.VerifyFull) psi.Environment["PGSSLMODE"] = c.SslMode.ToString().ToLowerInvariant();
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {exe}");
        var stderr = p.StandardError.ReadToEndAsync(ct);
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{program} failed ({p.ExitCode}): {Core.Errors.Text.Clip((await stderr.ConfigureAwait(false)).Trim(), 600)}");
        _ = await stdout.ConfigureAwait(false);
    }

    private string Find(string program)
    {
        var dirs = new List<string>();
        if (backup.Value.PgBin is { Length: > 0 } bin) dirs.Add(bin);
        dirs.AddRange((Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        // Debian's versioned client folders, newest first (pg_dump must not be older than the server).
        if (Directory.Exists("/usr/lib/postgresql"))
            dirs.AddRange(Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).Select(d => Path.Combine(d, "bin")));
        foreach (var d in dirs)
            if (File.Exists(Path.Combine(d, program))) return Path.Combine(d, program);
        throw new InvalidOperationException($"{program} was not found on PATH or in PG_BIN; install the PostgreSQL client (Debian postgresql-client) or set PG_BIN");
    }
}
