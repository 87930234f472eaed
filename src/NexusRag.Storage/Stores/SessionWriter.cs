using System.Data;
using System.Data.Common;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Chat;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>
/// A run's own writes (its session opened, its question and answer appended), group-committed by one writer per process:
/// every write waiting at that moment goes into one transaction (<c>BEGIN IMMEDIATE</c> on SQLite) on one long-lived
/// connection whose statements stay prepared, each write in its own savepoint, so one that fails is undone alone and fails
/// only its caller. Under concurrent runs this replaces an EF Core context, a change-tracked <c>SaveChanges</c> and a
/// commit per write (about a quarter of a run's CPU at 50 streams on SQLite) with a few prepared statements and one commit
/// per group; on SQLite the writers queue here instead of sleeping in SQLite's busy handler for the file's write lock,
/// on PostgreSQL a group costs one WAL flush instead of one per write. The store still orders it against every other
/// writer, in this process or another replica (a session id taken meanwhile elsewhere is seen by the insert's
/// <c>ON CONFLICT DO NOTHING</c>). Not used inside a unit of work (its writes must join that transaction: <see cref="Enabled"/>).
/// </summary>
public sealed class SessionWriter : IDisposable
{
    /// <summary>At most this many writes share one transaction.</summary>
    private const int MaxGroup = 256;

    private readonly StoreKind _kind;
    private readonly string _connectionString;
    private readonly AmbientDbContext _ambient;
    private readonly ILogger<SessionWriter> _logger;
    private readonly Channel<Write> _pending = Channel.CreateUnbounded<Write>(new() { SingleReader = true });
    private readonly Dictionary<string, DbCommand> _commands = new(StringComparer.Ordinal);
    private DbConnection? _connection;
    private int _started;
    private Task? _loop;
    private int _disposed;

    public SessionWriter(IOptions<StorageOptions> options, AmbientDbContext ambient, ILogger<SessionWriter> logger)
    {
        _ambient = ambient;
        _logger = logger;
        var storage = options.Value;
        _kind = storage.Kind;
        _connectionString = _kind == StoreKind.Sqlite
            ? new SqliteConnectionStringBuilder(storage.SqliteConnectionString()) { Pooling = false }.ToString()
            : storage.PostgresConnectionString();
    }

    /// <summary>Outside any unit of work.</summary>
    public bool Enabled => _ambient.Current is null && Volatile.Read(ref _disposed) == 0;

    /// <summary>Creates the session for the tenant, touches it when the tenant owns it, or reports its other owner.</summary>
    public Task<SessionOpenResult> OpenAsync(string tenantId, string sessionId, string corpusId, DateTime now) =>
        EnqueueAsync(() =>
        {
            // The owner first (a session's later runs find it, and only touch it); a new id is inserted, and one another
            // replica took meanwhile is seen by ON CONFLICT DO NOTHING and read again.
            var owner = Owner(sessionId);
            if (owner is null)
            {
                var created = Command("INSERT INTO sessions (tenant_id, id, corpus_id, created_at, updated_at) VALUES (@t, @id, @c, @now, @now) ON CONFLICT DO NOTHING",
                    ("t", tenantId, DbType.String), ("id", sessionId, DbType.String), ("c", corpusId, DbType.String), ("now", now, DbType.DateTime)).ExecuteNonQuery();
                if (created == 1) return SessionOpenResult.Created;
                owner = Owner(sessionId);
            }
            if (owner != tenantId) return SessionOpenResult.OtherTenant;
            Command("UPDATE sessions SET updated_at = @now WHERE tenant_id = @t AND id = @id",
                ("now", now, DbType.DateTime), ("t", tenantId, DbType.String), ("id", sessionId, DbType.String)).ExecuteNonQuery();
            return SessionOpenResult.Existing;
        });

    private string? Owner(string sessionId) =>
        Command("SELECT tenant_id FROM sessions WHERE id = @id", ("id", sessionId, DbType.String)).ExecuteScalar() as string;

    /// <summary>Appends a message row as it is stored (sealed by the caller when the tenant encrypts).</summary>
    public Task AppendAsync(MessageRow m) =>
        EnqueueAsync(() =>
        {
            Command("INSERT INTO messages (id, tenant_id, session_id, role, content, metadata_json, key_version, anonymized_at, created_at) " +
                    "VALUES (@id, @t, @s, @r, @content, @meta, @kv, NULL, @at)",
                ("id", m.Id, DbType.String), ("t", m.TenantId, DbType.String), ("s", m.SessionId, DbType.String), ("r", m.Role, DbType.String),
                ("content", m.Content, DbType.String), ("meta", m.MetadataJson, DbType.String), ("kv", m.KeyVersion, DbType.Int32),
                ("at", m.CreatedAt, DbType.DateTime)).ExecuteNonQuery();
            return true;
        });

    private Task<T> EnqueueAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Volatile.Read(ref _disposed) != 0 || !_pending.Writer.TryWrite(new Write(() => work(), done)))
            throw new ObjectDisposedException(nameof(SessionWriter));
        if (Interlocked.CompareExchange(ref _started, 1, 0) == 0) Volatile.Write(ref _loop, Task.Run(LoopAsync, CancellationToken.None));
        return ResultAsync<T>(done.Task);
    }

    private static async Task<T> ResultAsync<T>(Task<object?> done) => (T)(await done.ConfigureAwait(false))!;

    private async Task LoopAsync()
    {
        var group = new List<Write>(MaxGroup);
        while (await _pending.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < MaxGroup && _pending.Reader.TryRead(out var w)) group.Add(w);
            if (group.Count == 0) continue;
            try
            {
                var outcomes = Commit(group);
                for (var i = 0; i < group.Count; i++)
                {
                    if (outcomes[i].Error is { } error) group[i].Done.TrySetException(error);
                    else group[i].Done.TrySetResult(outcomes[i].Result);
                }
            }
            catch (Exception ex)
            {
                // The transaction did not commit (database gone, locked past the timeout, disk full): every write of the group
                // fails its caller, and the connection is opened afresh for the next group.
                _logger.LogWarning("Session writes: a group of {Count} failed: {Error}", group.Count, ex.Message);
                ResetConnection();
                foreach (var w in group) w.Done.TrySetException(ex);
            }
        }
        ResetConnection();
    }

    private (object? Result, Exception? Error)[] Commit(List<Write> group)
    {
        var outcomes = new (object? Result, Exception? Error)[group.Count];
        Exec(_kind == StoreKind.Sqlite ? "BEGIN IMMEDIATE" : "BEGIN");
        try
        {
            for (var i = 0; i < group.Count; i++)
            {
                Exec("SAVEPOINT w");
                try
                {
                    outcomes[i] = (group[i].Work(), null);
                    Exec("RELEASE w");
                }
                catch (DbException ex)
                {
                    // This write alone is undone (a duplicate id, a constraint): the others of the group still commit.
                    Exec("ROLLBACK TO w");
                    Exec("RELEASE w");
                    outcomes[i] = (null, ex);
                }
            }
            Exec("COMMIT");
        }
        catch
        {
            try { Exec("ROLLBACK"); } catch (DbException) { } // nothing to roll back when BEGIN itself failed
            throw;
        }
        return outcomes;
    }

    private void Exec(string sql) => Command(sql).ExecuteNonQuery();

    private DbCommand Command(string sql, params (string Name, object? Value, DbType Type)[] parameters)
    {
        var connection = _connection ??= Open();
        var prepared = _commands.TryGetValue(sql, out var command);
        if (!prepared)
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, _, type) in parameters)
            {
                var p = command.CreateParameter();
                p.ParameterName = name;
                // Timestamps take their type from the value: a UTC DateTime is timestamptz to Npgsql (DbType.DateTime would
                // say timestamp without time zone) and EF Core's text form to Microsoft.Data.Sqlite.
                if (type != DbType.DateTime) p.DbType = type;
                command.Parameters.Add(p);
            }
            _commands[sql] = command;
        }
        for (var i = 0; i < parameters.Length; i++) command!.Parameters[i].Value = parameters[i].Value ?? DBNull.Value;
        if (!prepared) command!.Prepare(); // kept prepared across groups (on PostgreSQL a server-side prepared statement)
        return command!;
    }

    private DbConnection Open()
    {
        if (_kind == StoreKind.Postgres)
        {
            var pg = new Npgsql.NpgsqlConnection(_connectionString);
            pg.Open();
            return pg;
        }
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        pragma.CommandText = SqlitePragmaInterceptor.Pragmas; // the settings of every store connection
        pragma.ExecuteNonQuery();
        return connection;
    }

    private void ResetConnection()
    {
        foreach (var c in _commands.Values) c.Dispose();
        _commands.Clear();
        _connection?.Dispose();
        _connection = null;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _pending.Writer.TryComplete(); // the loop commits what is queued, then closes its connection
        if (Volatile.Read(ref _started) == 0)
        {
            ResetConnection();
            return;
        }
        // Closed before Dispose returns: the last connection to a WAL database checkpoints as it closes, and a backup or
        // another process opening the file right after the host stops must not meet that lock.
        var spin = new SpinWait();
        while (Volatile.Read(ref _loop) is null) spin.SpinOnce();
        try { _loop!.Wait(TimeSpan.FromSeconds(30)); }
        catch (AggregateException ex) { _logger.LogWarning("Session writes: the writer stopped with {Error}", ex.GetBaseException().Message); }
    }

    private sealed record Write(Func<object?> Work, TaskCompletionSource<object?> Done);
}
