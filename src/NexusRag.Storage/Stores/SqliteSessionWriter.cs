using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Chat;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>
/// A run's own writes on SQLite (its session opened, its question and answer appended), group-committed by one writer:
/// every write waiting at that moment goes into one <c>BEGIN IMMEDIATE</c> transaction on one long-lived connection whose
/// statements stay prepared, each write in its own savepoint, so one that fails is undone alone and fails only its caller.
/// Under concurrent runs this replaces an EF Core context, a change-tracked <c>SaveChanges</c> and a commit per write
/// (about a quarter of a run's CPU at 50 streams) with a few prepared statements and one commit per group, and the
/// writers queue here instead of sleeping in SQLite's busy handler for the file's write lock. The write lock still orders
/// it against every other writer, in this process or another. Not used inside a unit of work (its writes must join that
/// transaction) or on PostgreSQL (<see cref="Enabled"/>).
/// </summary>
public sealed class SqliteSessionWriter : IDisposable
{
    /// <summary>At most this many writes share one transaction.</summary>
    private const int MaxGroup = 256;

    private readonly string? _connectionString;
    private readonly AmbientDbContext _ambient;
    private readonly ILogger<SqliteSessionWriter> _logger;
    private readonly Channel<Write> _pending = Channel.CreateUnbounded<Write>(new() { SingleReader = true });
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private SqliteConnection? _connection;
    private int _started;
    private int _disposed;

    public SqliteSessionWriter(IOptions<StorageOptions> options, AmbientDbContext ambient, ILogger<SqliteSessionWriter> logger)
    {
        _ambient = ambient;
        _logger = logger;
        var storage = options.Value;
        if (storage.Kind == StoreKind.Sqlite)
            _connectionString = new SqliteConnectionStringBuilder(storage.SqliteConnectionString()) { Pooling = false }.ToString();
    }

    /// <summary>SQLite, outside any unit of work.</summary>
    public bool Enabled => _connectionString is not null && _ambient.Current is null && Volatile.Read(ref _disposed) == 0;

    /// <summary>Creates the session for the tenant, touches it when the tenant owns it, or reports its other owner.</summary>
    public Task<SessionOpenResult> OpenAsync(string tenantId, string sessionId, string corpusId, DateTime now) =>
        EnqueueAsync(() =>
        {
            var owner = Command("SELECT tenant_id FROM sessions WHERE id = $id", p => p.AddWithValue("$id", sessionId)).ExecuteScalar() as string;
            if (owner is not null && owner != tenantId) return SessionOpenResult.OtherTenant;
            if (owner is not null)
            {
                Command("UPDATE sessions SET updated_at = $now WHERE tenant_id = $t AND id = $id",
                    p => { p.AddWithValue("$now", now); p.AddWithValue("$t", tenantId); p.AddWithValue("$id", sessionId); }).ExecuteNonQuery();
                return SessionOpenResult.Existing;
            }
            Command("INSERT INTO sessions (tenant_id, id, corpus_id, created_at, updated_at) VALUES ($t, $id, $c, $now, $now)",
                p => { p.AddWithValue("$t", tenantId); p.AddWithValue("$id", sessionId); p.AddWithValue("$c", corpusId); p.AddWithValue("$now", now); }).ExecuteNonQuery();
            return SessionOpenResult.Created;
        });

    /// <summary>Appends a message row as it is stored (sealed by the caller when the tenant encrypts).</summary>
    public Task AppendAsync(MessageRow m) =>
        EnqueueAsync(() =>
        {
            Command("INSERT INTO messages (id, tenant_id, session_id, role, content, metadata_json, key_version, anonymized_at, created_at) " +
                    "VALUES ($id, $t, $s, $r, $content, $meta, $kv, NULL, $at)", p =>
            {
                p.AddWithValue("$id", m.Id);
                p.AddWithValue("$t", m.TenantId);
                p.AddWithValue("$s", m.SessionId);
                p.AddWithValue("$r", m.Role);
                p.AddWithValue("$content", m.Content);
                p.AddWithValue("$meta", (object?)m.MetadataJson ?? DBNull.Value);
                p.AddWithValue("$kv", (object?)m.KeyVersion ?? DBNull.Value);
                p.AddWithValue("$at", m.CreatedAt);
            }).ExecuteNonQuery();
            return true;
        });

    private Task<T> EnqueueAsync<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<object?>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Volatile.Read(ref _disposed) != 0 || !_pending.Writer.TryWrite(new Write(() => work(), done)))
            throw new ObjectDisposedException(nameof(SqliteSessionWriter));
        if (Interlocked.CompareExchange(ref _started, 1, 0) == 0) _ = Task.Run(LoopAsync, CancellationToken.None);
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
        Exec("BEGIN IMMEDIATE");
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
                catch (SqliteException ex)
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
            try { Exec("ROLLBACK"); } catch (SqliteException) { } // nothing to roll back when BEGIN itself failed
            throw;
        }
        return outcomes;
    }

    private void Exec(string sql) => Command(sql, null).ExecuteNonQuery();

    private SqliteCommand Command(string sql, Action<SqliteParameterCollection>? bind)
    {
        var connection = _connection ??= Open();
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            command.Prepare(); // kept prepared across groups
            _commands[sql] = command;
        }
        command.Parameters.Clear();
        bind?.Invoke(command.Parameters);
        return command;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        // The settings of every store connection (StorageServiceCollectionExtensions): synchronous=NORMAL under WAL, foreign
        // keys, SQLite's own busy handler for the write lock, deleted content overwritten.
        pragma.CommandText = "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; PRAGMA secure_delete=ON;";
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
        if (Volatile.Read(ref _started) == 0) ResetConnection();
    }

    private sealed record Write(Func<object?> Work, TaskCompletionSource<object?> Done);
}
