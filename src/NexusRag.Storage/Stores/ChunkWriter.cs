using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using NpgsqlTypes;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>
/// Bulk insert of chunk rows inside the caller's transaction, without the change tracker: PostgreSQL streams them with
/// binary <c>COPY</c>; SQLite runs one prepared <c>INSERT</c> per row on the transaction's connection. The rows are
/// written exactly as EF would write them (same columns, UTC timestamps), so every EF read sees them unchanged.
/// </summary>
internal static class ChunkWriter
{
    private const string Columns =
        "id, tenant_id, corpus_id, document_id, index_version, chunk_index, text, start_offset, end_offset, metadata_json, embedding, seq, key_version, created_at";

    public static async Task InsertAsync(NexusDbContext db, IReadOnlyList<ChunkRow> rows, CancellationToken ct)
    {
        if (rows.Count == 0) return;
        var tx = db.Database.CurrentTransaction?.GetDbTransaction()
                 ?? throw new InvalidOperationException("chunk rows are written inside a transaction");
        switch (tx.Connection)
        {
            case NpgsqlConnection pg:
                await CopyAsync(pg, rows, ct).ConfigureAwait(false);
                break;
            case SqliteConnection sqlite:
                await InsertSqliteAsync(sqlite, (SqliteTransaction)tx, rows, ct).ConfigureAwait(false);
                break;
            default:
                db.Chunks.AddRange(rows);
                await db.SaveChangesAsync(ct).ConfigureAwait(false);
                break;
        }
    }

    private static async Task CopyAsync(NpgsqlConnection pg, IReadOnlyList<ChunkRow> rows, CancellationToken ct)
    {
        await using var copy = await pg.BeginBinaryImportAsync($"COPY chunks ({Columns}) FROM STDIN (FORMAT BINARY)", ct).ConfigureAwait(false);
        foreach (var r in rows)
        {
            await copy.StartRowAsync(ct).ConfigureAwait(false);
            await copy.WriteAsync(r.Id, NpgsqlDbType.Text, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.TenantId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.CorpusId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.DocumentId, NpgsqlDbType.Text, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.IndexVersion, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.ChunkIndex, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.Text, NpgsqlDbType.Text, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.StartOffset, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.EndOffset, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.MetadataJson, NpgsqlDbType.Text, ct).ConfigureAwait(false);
            if (r.Embedding is null) await copy.WriteNullAsync(ct).ConfigureAwait(false);
            else await copy.WriteAsync(r.Embedding, NpgsqlDbType.Bytea, ct).ConfigureAwait(false);
            await copy.WriteAsync(r.Seq, NpgsqlDbType.Bigint, ct).ConfigureAwait(false);
            if (r.KeyVersion is { } kv) await copy.WriteAsync(kv, NpgsqlDbType.Integer, ct).ConfigureAwait(false);
            else await copy.WriteNullAsync(ct).ConfigureAwait(false);
            await copy.WriteAsync(Utc(r.CreatedAt), NpgsqlDbType.TimestampTz, ct).ConfigureAwait(false);
        }
        await copy.CompleteAsync(ct).ConfigureAwait(false);
    }

    private static async Task InsertSqliteAsync(SqliteConnection sqlite, SqliteTransaction tx, IReadOnlyList<ChunkRow> rows, CancellationToken ct)
    {
        await using var cmd = sqlite.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"INSERT INTO chunks ({Columns}) VALUES ($id, $tenant, $corpus, $doc, $version, $index, $text, $start, $end, $meta, $embedding, $seq, $key, $created)";
        var p = new[] { "$id", "$tenant", "$corpus", "$doc", "$version", "$index", "$text", "$start", "$end", "$meta", "$embedding", "$seq", "$key", "$created" }
            .Select(name => cmd.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
        foreach (var r in rows)
        {
            p[0].Value = r.Id;
            p[1].Value = r.TenantId;
            p[2].Value = r.CorpusId;
            p[3].Value = r.DocumentId;
            p[4].Value = r.IndexVersion;
            p[5].Value = r.ChunkIndex;
            p[6].Value = r.Text;
            p[7].Value = r.StartOffset;
            p[8].Value = r.EndOffset;
            p[9].Value = r.MetadataJson;
            p[10].Value = (object?)r.Embedding ?? DBNull.Value;
            p[11].Value = r.Seq;
            p[12].Value = r.KeyVersion is { } kv ? kv : DBNull.Value;
            p[13].Value = Utc(r.CreatedAt); // bound as text "yyyy-MM-dd HH:mm:ss.FFFFFFF", EF's SQLite format
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    private static DateTime Utc(DateTime t) => t.Kind == DateTimeKind.Utc ? t : DateTime.SpecifyKind(t.ToUniversalTime(), DateTimeKind.Utc);
}
