using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>
/// The hottest reads on SQLite (a corpus by id, a page of documents, a tenant's ABAC policies; a search's chunks by id and
/// the change log's head) as hand-written SQL on
/// long-lived read connections whose statements stay prepared: Microsoft.Data.Sqlite parses a command afresh on every
/// open connection, and EF adds its own per-query work; together that was most of an authenticated read's cost. Each
/// statement is its own read transaction, so in WAL mode it sees everything committed before it started, like the EF path.
/// Not used inside a unit of work (that must read its own uncommitted writes) or on PostgreSQL (<see cref="Enabled"/>).
/// </summary>
public sealed class SqliteHotReads : IDisposable
{
    private readonly string? _connectionString;
    private readonly AmbientDbContext _ambient;
    private readonly ConcurrentBag<ReadConnection> _idle = [];
    private int _disposed;

    public SqliteHotReads(IOptions<StorageOptions> options, AmbientDbContext ambient)
    {
        _ambient = ambient;
        var storage = options.Value;
        if (storage.Kind == StoreKind.Sqlite)
            _connectionString = new SqliteConnectionStringBuilder(storage.SqliteConnectionString()) { Pooling = false }.ToString();
    }

    /// <summary>SQLite, outside any unit of work.</summary>
    public bool Enabled => _connectionString is not null && _ambient.Current is null && Volatile.Read(ref _disposed) == 0;

    public CorpusRow? Corpus(string tenantId, string corpusId) =>
        Read("SELECT tenant_id, id, name, provider_config_json, embedding_provider, embedding_model, embedding_dimensions, active_index_version, created_at, updated_at " +
             "FROM corpora WHERE tenant_id = $t AND id = $id",
            p => { p.AddWithValue("$t", tenantId); p.AddWithValue("$id", corpusId); },
            r => r.Read()
                ? new CorpusRow
                {
                    TenantId = r.GetString(0), Id = r.GetString(1), Name = r.GetString(2), ProviderConfigJson = r.GetString(3),
                    EmbeddingProvider = NullableString(r, 4), EmbeddingModel = NullableString(r, 5), EmbeddingDimensions = r.IsDBNull(6) ? null : r.GetInt32(6),
                    ActiveIndexVersion = r.GetInt32(7), CreatedAt = Utc(r, 8), UpdatedAt = Utc(r, 9),
                }
                : null);

    private const string DocumentColumns =
        "tenant_id, id, corpus_id, filename, content_type, size_bytes, content_sha256, status, failure_reason, num_chunks, " +
        "chunk_size_chars, chunk_overlap_chars, metadata_json, last_job_id, created_at, updated_at, queued_at, processing_started_at, " +
        "completed_at, failed_at, last_reindexed_at, extraction_json, labels_json, anonymized_at";

    /// <summary>A page of the tenant's documents, newest first, without their content (the same columns as the EF projection).</summary>
    public List<DocumentRow> Documents(string tenantId, string? corpusId, string? status, DateTime? afterAt, string? afterId, int take)
    {
        var sql = "SELECT " + DocumentColumns + " FROM documents WHERE tenant_id = $t" +
                  (corpusId is null ? "" : " AND corpus_id = $c") + (status is null ? "" : " AND status = $s") +
                  (afterAt is null ? "" : " AND (created_at < $at OR (created_at = $at AND id < $aid))") +
                  // The limit is written into the SQL, not bound: SQLite (3.53) plans with a bound LIMIT's value and so
                  // re-prepares a statement whose LIMIT parameter is bound again, which was every execution. One prepared
                  // statement per page size instead (a handful in practice, at most the largest page).
                  " ORDER BY created_at DESC, id DESC LIMIT " + take.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Read(sql, p =>
        {
            p.AddWithValue("$t", tenantId);
            if (corpusId is not null) p.AddWithValue("$c", corpusId);
            if (status is not null) p.AddWithValue("$s", status);
            if (afterAt is { } at) { p.AddWithValue("$at", at); p.AddWithValue("$aid", afterId ?? ""); }
        }, r =>
        {
            var rows = new List<DocumentRow>(take);
            while (r.Read()) rows.Add(DocumentFrom(r));
            return rows;
        });
    }

    /// <summary>One document without its content (an ingestion job reads it first).</summary>
    public DocumentRow? Document(string tenantId, string documentId) =>
        Read("SELECT " + DocumentColumns + " FROM documents WHERE tenant_id = $t AND id = $id",
            p => { p.AddWithValue("$t", tenantId); p.AddWithValue("$id", documentId); },
            r => r.Read() ? DocumentFrom(r) : null);

    private static DocumentRow DocumentFrom(SqliteDataReader r) => new()
    {
        TenantId = r.GetString(0), Id = r.GetString(1), CorpusId = r.GetString(2), Filename = NullableString(r, 3), ContentType = r.GetString(4),
        SizeBytes = r.GetInt64(5), ContentSha256 = r.GetString(6), Status = r.GetString(7), FailureReason = NullableString(r, 8),
        NumChunks = r.GetInt32(9), ChunkSizeChars = r.GetInt32(10), ChunkOverlapChars = r.GetInt32(11), MetadataJson = NullableString(r, 12),
        LastJobId = NullableString(r, 13), CreatedAt = Utc(r, 14), UpdatedAt = Utc(r, 15), QueuedAt = NullableUtc(r, 16),
        ProcessingStartedAt = NullableUtc(r, 17), CompletedAt = NullableUtc(r, 18), FailedAt = NullableUtc(r, 19), LastReindexedAt = NullableUtc(r, 20),
        ExtractionJson = NullableString(r, 21), LabelsJson = NullableString(r, 22), AnonymizedAt = NullableUtc(r, 23),
    };

    /// <summary>
    /// A document's chunks that have vectors in the given index versions (text as stored, sealed or not, and the vector blob):
    /// an ingestion reuses the vectors of unchanged chunks. One prepared statement per number of versions (one to three).
    /// </summary>
    public List<ChunkRow> ChunkVectors(string tenantId, string documentId, IReadOnlyList<int> versions) =>
        Read("SELECT id, tenant_id, text, metadata_json, key_version, embedding FROM chunks WHERE tenant_id = $t AND document_id = $d " +
             "AND index_version IN (" + string.Join(", ", Enumerable.Range(0, versions.Count).Select(i => "$v" + i)) + ") AND embedding IS NOT NULL",
            p =>
            {
                p.AddWithValue("$t", tenantId);
                p.AddWithValue("$d", documentId);
                for (var i = 0; i < versions.Count; i++) p.AddWithValue("$v" + i, versions[i]);
            },
            r =>
            {
                var rows = new List<ChunkRow>();
                while (r.Read())
                {
                    rows.Add(new ChunkRow
                    {
                        Id = r.GetString(0), TenantId = r.GetString(1), Text = r.GetString(2), MetadataJson = r.GetString(3),
                        KeyVersion = r.IsDBNull(4) ? null : r.GetInt32(4), Embedding = (byte[])r.GetValue(5),
                    });
                }
                return rows;
            });

    public List<AuthzPolicyRow> Policies(string tenantId) =>
        Read("SELECT id, tenant_id, name, effect, resource_type, action, priority, condition_json, enabled, created_at, updated_at FROM authz_policies WHERE tenant_id = $t",
            p => p.AddWithValue("$t", tenantId),
            r =>
            {
                var rows = new List<AuthzPolicyRow>();
                while (r.Read())
                {
                    rows.Add(new AuthzPolicyRow
                    {
                        Id = r.GetString(0), TenantId = r.GetString(1), Name = r.GetString(2), Effect = r.GetString(3), ResourceType = r.GetString(4),
                        Action = r.GetString(5), Priority = r.GetInt32(6), ConditionJson = r.GetString(7), Enabled = r.GetBoolean(8),
                        CreatedAt = Utc(r, 9), UpdatedAt = Utc(r, 10),
                    });
                }
                return rows;
            });

    /// <summary>Chunks by id, without their vectors (as stored: sealed text stays sealed for the caller to open).</summary>
    public List<ChunkRow> Chunks(IReadOnlyCollection<string> chunkIds)
    {
        // One prepared statement per list length (a search asks for top_k, a handful of lengths in practice).
        var sql = "SELECT id, tenant_id, corpus_id, document_id, index_version, chunk_index, text, start_offset, end_offset, metadata_json, seq, key_version, created_at " +
                  "FROM chunks WHERE id IN (" + string.Join(", ", Enumerable.Range(0, chunkIds.Count).Select(i => "$p" + i)) + ")";
        return Read(sql, p =>
        {
            var i = 0;
            foreach (var id in chunkIds) p.AddWithValue("$p" + i++, id);
        }, r =>
        {
            var rows = new List<ChunkRow>(chunkIds.Count);
            while (r.Read())
            {
                rows.Add(new ChunkRow
                {
                    Id = r.GetString(0), TenantId = r.GetString(1), CorpusId = r.GetString(2), DocumentId = r.GetString(3), IndexVersion = r.GetInt32(4),
                    ChunkIndex = r.GetInt32(5), Text = r.GetString(6), StartOffset = r.GetInt32(7), EndOffset = r.GetInt32(8), MetadataJson = r.GetString(9),
                    Seq = r.GetInt64(10), KeyVersion = r.IsDBNull(11) ? null : r.GetInt32(11), CreatedAt = Utc(r, 12),
                });
            }
            return rows;
        });
    }

    /// <summary>The tenant owning a session (a run checks it before its stream opens); null when there is none.</summary>
    public string? SessionOwner(string sessionId) =>
        Read("SELECT tenant_id FROM sessions WHERE id = $id", p => p.AddWithValue("$id", sessionId), r => r.Read() ? r.GetString(0) : null);

    /// <summary>The value of a sequence counter (the change log's head: every search first checks it).</summary>
    public long SeqValue(string name) =>
        Read("SELECT value FROM seq_counters WHERE name = $n", p => p.AddWithValue("$n", name), r => r.Read() ? r.GetInt64(0) : 0L);

    private T Read<T>(string sql, Action<SqliteParameterCollection> bind, Func<SqliteDataReader, T> read)
    {
        var connection = _idle.TryTake(out var idle) ? idle : new ReadConnection(_connectionString!);
        var healthy = false;
        try
        {
            var command = connection.Command(sql);
            command.Parameters.Clear();
            bind(command.Parameters);
            T result;
            using (var reader = command.ExecuteReader()) result = read(reader);
            healthy = true;
            return result;
        }
        finally
        {
            // A connection that failed (database gone, locked past the timeout) is not reused.
            if (healthy && Volatile.Read(ref _disposed) == 0) _idle.Add(connection);
            else connection.Dispose();
        }
    }

    private static string? NullableString(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static DateTime Utc(SqliteDataReader r, int i) =>
        TryParseStored(r.GetString(i), out var t) ? t : DateTime.SpecifyKind(r.GetDateTime(i), DateTimeKind.Utc);

    /// <summary>
    /// EF Core's SQLite text form of a UTC timestamp, <c>yyyy-MM-dd HH:mm:ss[.fffffff]</c>, read by position (eight per
    /// document row: the general parser was a visible share of a document page); anything else goes to the general parser.
    /// </summary>
    public static bool TryParseStored(ReadOnlySpan<char> s, out DateTime value)
    {
        value = default;
        if (s.Length < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':') return false;
        if (!Digits(s, 0, 4, out var year) || !Digits(s, 5, 2, out var month) || !Digits(s, 8, 2, out var day)
            || !Digits(s, 11, 2, out var hour) || !Digits(s, 14, 2, out var minute) || !Digits(s, 17, 2, out var second)) return false;
        long ticks = 0;
        if (s.Length > 19)
        {
            var digits = s.Length - 20;
            if (s[19] != '.' || digits is < 1 or > 7 || !Digits(s, 20, digits, out var fraction)) return false;
            ticks = fraction;
            for (var i = digits; i < 7; i++) ticks *= 10;
        }
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return false;
        value = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).AddTicks(ticks);
        return true;
    }

    private static bool Digits(ReadOnlySpan<char> s, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = s[i] - '0';
            if ((uint)d > 9) return false;
            value = value * 10 + d;
        }
        return true;
    }

    private static DateTime? NullableUtc(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : Utc(r, i);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        while (_idle.TryTake(out var c)) c.Dispose();
    }

    /// <summary>One open connection and its prepared commands, used by one reader at a time.</summary>
    private sealed class ReadConnection : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

        public ReadConnection(string connectionString)
        {
            _connection = new SqliteConnection(connectionString);
            _connection.Open();
            using var pragma = _connection.CreateCommand();
            pragma.CommandText = "PRAGMA busy_timeout=10000; PRAGMA query_only=ON;";
            pragma.ExecuteNonQuery();
        }

        public SqliteCommand Command(string sql)
        {
            if (_commands.TryGetValue(sql, out var command)) return command;
            command = _connection.CreateCommand();
            command.CommandText = sql;
            command.Prepare(); // kept prepared across executions (an unprepared command is parsed again every time)
            _commands[sql] = command;
            return command;
        }

        public void Dispose()
        {
            foreach (var c in _commands.Values) c.Dispose();
            _connection.Dispose();
        }
    }
}
