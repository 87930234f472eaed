using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Documents;
using NexusRag.Core.Errors;
using NexusRag.Core.Jobs;
using NexusRag.Core.Services;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfDocumentStore(IDbContextFactory<NexusDbContext> factory, SqliteHotReads hot, Core.Crypto.DataKeyService dataKeys, TimeProvider clock) : IDocumentStore
{
    public async Task<DocumentInfo?> GetAsync(string tenantId, string documentId, CancellationToken ct)
    {
        if (hot.Enabled) return hot.Document(tenantId, documentId)?.ToInfo();
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await WithoutContent(db.Documents.AsNoTracking())
            .FirstOrDefaultAsync(d => d.TenantId == tenantId && d.Id == documentId, ct).ConfigureAwait(false);
        return row?.ToInfo();
    }

    public async Task<IReadOnlyDictionary<string, DocumentInfo>> GetManyAsync(string tenantId, IReadOnlyCollection<string> documentIds, CancellationToken ct)
    {
        var found = new Dictionary<string, DocumentInfo>(StringComparer.Ordinal);
        if (documentIds.Count == 0) return found;
        if (hot.Enabled)
        {
            // SQLite in process: a prepared point read each costs less than building one statement per id count.
            foreach (var id in documentIds.Distinct())
                if (hot.Document(tenantId, id) is { } row) found[row.Id] = row.ToInfo();
            return found;
        }
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        foreach (var part in documentIds.Distinct().Chunk(500))
            foreach (var row in await WithoutContent(db.Documents.AsNoTracking()).Where(d => d.TenantId == tenantId && part.Contains(d.Id)).ToListAsync(ct).ConfigureAwait(false))
                found[row.Id] = row.ToInfo();
        return found;
    }

    private static readonly System.Linq.Expressions.Expression<Func<DocumentRow, DocumentRow>> WithoutContentProjection = d => new DocumentRow
    {
        TenantId = d.TenantId, Id = d.Id, CorpusId = d.CorpusId, Filename = d.Filename, ContentType = d.ContentType,
        SizeBytes = d.SizeBytes, ContentSha256 = d.ContentSha256, Status = d.Status, FailureReason = d.FailureReason,
        NumChunks = d.NumChunks, ChunkSizeChars = d.ChunkSizeChars, ChunkOverlapChars = d.ChunkOverlapChars,
        MetadataJson = d.MetadataJson, LastJobId = d.LastJobId, CreatedAt = d.CreatedAt, UpdatedAt = d.UpdatedAt,
        QueuedAt = d.QueuedAt, ProcessingStartedAt = d.ProcessingStartedAt, CompletedAt = d.CompletedAt,
        FailedAt = d.FailedAt, LastReindexedAt = d.LastReindexedAt, ExtractionJson = d.ExtractionJson, LabelsJson = d.LabelsJson,
        AnonymizedAt = d.AnonymizedAt,
    };

    // Compiled once per store (one provider's model each; the document list is the hottest list read); null filters drop
    // out of the SQL, which EF specialises per combination of null parameters, so each shape keeps its index.
    private readonly Func<NexusDbContext, string, string?, string?, DateTime?, string?, int, IAsyncEnumerable<DocumentRow>> _page =
        EF.CompileAsyncQuery((NexusDbContext db, string tenantId, string? corpusId, string? status, DateTime? afterAt, string? afterId, int take) =>
            db.Documents.AsNoTracking()
                .Where(d => d.TenantId == tenantId && (corpusId == null || d.CorpusId == corpusId) && (status == null || d.Status == status)
                            && (afterAt == null || d.CreatedAt < afterAt || (d.CreatedAt == afterAt && string.Compare(d.Id, afterId) < 0)))
                .OrderByDescending(d => d.CreatedAt).ThenByDescending(d => d.Id)
                .Select(WithoutContentProjection)
                .Take(take));

    public async Task<(IReadOnlyList<DocumentInfo> Items, bool HasMore)> ListAsync(DocumentListQuery q, CancellationToken ct)
    {
        List<DocumentRow> rows;
        if (hot.Enabled) rows = hot.Documents(q.TenantId, q.CorpusId, q.Status, q.After?.CreatedAt, q.After?.Id, q.Limit + 1);
        else
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            rows = new List<DocumentRow>(q.Limit + 1);
            await foreach (var row in _page(db, q.TenantId, q.CorpusId, q.Status, q.After?.CreatedAt, q.After?.Id, q.Limit + 1).WithCancellation(ct).ConfigureAwait(false))
                rows.Add(row);
        }
        var hasMore = rows.Count > q.Limit;
        return (rows.Take(q.Limit).Select(r => r.ToInfo()).ToList(), hasMore);
    }

    public async Task<EnqueueResult> UpsertAndEnqueueAsync(NewDocument doc, bool replaceExisting, int maxAttempts, CancellationToken ct) =>
        (await UpsertAndEnqueueManyAsync([(doc, replaceExisting)], maxAttempts, ct).ConfigureAwait(false))[0];

    public async Task<IReadOnlyList<EnqueueResult>> UpsertAndEnqueueManyAsync(IReadOnlyList<(NewDocument Document, bool ReplaceExisting)> documents, int maxAttempts,
        CancellationToken ct)
    {
        if (documents.Count == 0) return [];
        var tenantId = documents[0].Document.TenantId;
        if (documents.Any(d => d.Document.TenantId != tenantId)) throw new ArgumentException("documents enqueued together belong to one tenant", nameof(documents));
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var ids = documents.Select(d => d.Document.DocumentId).Distinct().ToList();
        var rows = ids.Count == 1
            ? await db.Documents.Where(d => d.TenantId == tenantId && d.Id == ids[0]).ToDictionaryAsync(d => d.Id, StringComparer.Ordinal, ct).ConfigureAwait(false)
            : await db.Documents.Where(d => d.TenantId == tenantId && ids.Contains(d.Id)).ToDictionaryAsync(d => d.Id, StringComparer.Ordinal, ct).ConfigureAwait(false);
        var results = new List<(DocumentRow Row, JobRow Job, bool Created)>(documents.Count);
        foreach (var (doc, replaceExisting) in documents)
        {
            var created = !rows.TryGetValue(doc.DocumentId, out var row);
            if (row is null)
            {
                row = new DocumentRow { TenantId = doc.TenantId, Id = doc.DocumentId, CreatedAt = now };
                db.Documents.Add(row);
                rows[doc.DocumentId] = row;
            }
            else
            {
                if (row.CorpusId != doc.CorpusId)
                    throw NexusException.Conflict(ErrorCodes.DocumentExists, $"Document '{doc.DocumentId}' exists in another corpus",
                        new Dictionary<string, object?> { ["document_id"] = doc.DocumentId, ["corpus_id"] = row.CorpusId });
                if (!replaceExisting)
                    throw NexusException.Conflict(ErrorCodes.DocumentExists, $"Document '{doc.DocumentId}' already exists with other content; set overwrite=true to replace it",
                        new Dictionary<string, object?> { ["document_id"] = doc.DocumentId });
                if (DocumentStatus.IsInFlight(row.Status))
                    throw NexusException.Conflict(ErrorCodes.DocumentInFlight, "Document is queued or processing; retry when ingestion has finished",
                        new Dictionary<string, object?> { ["document_id"] = doc.DocumentId });
            }
            row.CorpusId = doc.CorpusId;
            row.Filename = doc.Filename;
            row.ContentType = doc.ContentType;
            row.Content = []; // the bytes live in the original store
            row.SizeBytes = doc.SizeBytes;
            row.ExtractionJson = null;
            row.ContentSha256 = doc.ContentSha256;
            row.ChunkSizeChars = doc.ChunkSizeChars;
            row.ChunkOverlapChars = doc.ChunkOverlapChars;
            row.MetadataJson = doc.MetadataJson;
            if (doc.LabelsJson is not null) row.LabelsJson = doc.LabelsJson; // a re-ingest without labels keeps the document's
            var job = NewJob(row, JobKind.Ingest, maxAttempts, now);
            db.Jobs.Add(job);
            MarkQueued(row, job, now);
            results.Add((row, job, created));
        }
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateException) when (results.Any(r => r.Created))
        {
            // Another writer created one of them first.
            var id = documents.Count == 1 ? documents[0].Document.DocumentId : null;
            throw NexusException.Conflict(ErrorCodes.DocumentExists, id is null
                ? "One of the documents was created by another request meanwhile; set overwrite=true to replace it"
                : $"Document '{id}' already exists; set overwrite=true to replace it");
        }
        return results.Select(r => new EnqueueResult(r.Row.ToInfo(), r.Job.Id, r.Created)).ToList();
    }

    public async Task<bool> SetLabelsAsync(string tenantId, string documentId, string? labelsJson, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.Documents.Where(d => d.TenantId == tenantId && d.Id == documentId)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.LabelsJson, labelsJson).SetProperty(d => d.UpdatedAt, now), ct).ConfigureAwait(false) == 1;
    }

    public async Task<EnqueueResult?> EnqueueReindexAsync(string tenantId, string documentId, int chunkSizeChars, int chunkOverlapChars, int maxAttempts, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var row = await db.Documents.FirstOrDefaultAsync(d => d.TenantId == tenantId && d.Id == documentId, ct).ConfigureAwait(false);
        if (row is null) return null;
        if (DocumentStatus.IsInFlight(row.Status))
            throw NexusException.Conflict(ErrorCodes.DocumentInFlight, "Document is queued or processing; retry when ingestion has finished");
        var now = clock.GetUtcNow().UtcDateTime;
        row.ChunkSizeChars = chunkSizeChars;
        row.ChunkOverlapChars = chunkOverlapChars;
        var job = NewJob(row, JobKind.Reindex, maxAttempts, now);
        db.Jobs.Add(job);
        MarkQueued(row, job, now);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return new EnqueueResult(row.ToInfo(), job.Id, false);
    }

    public async Task<DocumentDeleteResult> DeleteAsync(string tenantId, string documentId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var status = await db.Documents.Where(d => d.TenantId == tenantId && d.Id == documentId)
            .Select(d => d.Status).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        if (status is null) return DocumentDeleteResult.NotFound;
        if (DocumentStatus.IsInFlight(status)) return DocumentDeleteResult.InFlight;
        await db.DeleteChunksLoggedAsync(db.Chunks.Where(c => c.TenantId == tenantId && c.DocumentId == documentId), clock.GetUtcNow().UtcDateTime, ct).ConfigureAwait(false);
        await db.Jobs.Where(j => j.TenantId == tenantId && j.DocumentId == documentId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.DocumentPermissions.Where(g => g.TenantId == tenantId && g.DocumentId == documentId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await db.Documents.Where(d => d.TenantId == tenantId && d.Id == documentId).ExecuteDeleteAsync(ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return DocumentDeleteResult.Deleted;
    }

    public async Task<byte[]?> GetLegacyContentAsync(string tenantId, string documentId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var content = await db.Documents.Where(d => d.TenantId == tenantId && d.Id == documentId)
            .Select(d => d.Content).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return content is { Length: > 0 } ? content : null;
    }

    public async Task<bool> IsOriginalReferencedAsync(string tenantId, string sha256, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Documents.AnyAsync(d => d.TenantId == tenantId && d.ContentSha256 == sha256, ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<ChunkInfo>> GetChunksAsync(string tenantId, string documentId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.Chunks.AsNoTracking().Where(c => c.TenantId == tenantId && c.DocumentId == documentId
                && db.Corpora.Any(k => k.TenantId == tenantId && k.Id == c.CorpusId && k.ActiveIndexVersion == c.IndexVersion))
            .OrderBy(c => c.ChunkIndex).Select(SealedRows.WithoutVector).ToListAsync(ct).ConfigureAwait(false);
        return (await dataKeys.OpenAsync(rows, ct).ConfigureAwait(false)).Select(Mapping.ToInfo).ToList();
    }

    public async Task<IReadOnlyList<(string Text, float[] Vector)>> GetChunkVectorsAsync(string tenantId, string documentId, IReadOnlyCollection<int> versions, CancellationToken ct)
    {
        if (versions.Count == 0) return [];
        var list = versions.ToList();
        List<ChunkRow> rows;
        if (hot.Enabled && list.Count <= 8) rows = hot.ChunkVectors(tenantId, documentId, list);
        else
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            rows = await db.Chunks.AsNoTracking().Where(c => c.TenantId == tenantId && c.DocumentId == documentId && list.Contains(c.IndexVersion) && c.Embedding != null)
            .Select(c => new ChunkRow { Id = c.Id, TenantId = c.TenantId, Text = c.Text, MetadataJson = c.MetadataJson, KeyVersion = c.KeyVersion, Embedding = c.Embedding })
            .ToListAsync(ct).ConfigureAwait(false);
        }
        return (await dataKeys.OpenAsync(rows, ct).ConfigureAwait(false)).Select(r => (r.Text, Mapping.FromBlob(r.Embedding)!)).ToList();
    }

    public async Task<IReadOnlySet<string>> WithChunkVectorsAsync(string tenantId, IReadOnlyCollection<string> documentIds, IReadOnlyCollection<int> versions, CancellationToken ct)
    {
        var found = new HashSet<string>(StringComparer.Ordinal);
        if (documentIds.Count == 0 || versions.Count == 0) return found;
        var list = versions.ToList();
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        foreach (var part in documentIds.Distinct().Chunk(500))
            found.UnionWith(await db.Chunks.AsNoTracking()
                .Where(c => c.TenantId == tenantId && part.Contains(c.DocumentId) && list.Contains(c.IndexVersion) && c.Embedding != null)
                .Select(c => c.DocumentId).Distinct().ToListAsync(ct).ConfigureAwait(false));
        return found;
    }

    public async Task<IReadOnlyList<ChunkInfo>> GetChunksByIdsAsync(string tenantId, IReadOnlyCollection<string> chunkIds, CancellationToken ct)
    {
        if (chunkIds.Count == 0) return [];
        // Look up by primary key only, then keep the tenant's rows: with tenant_id in the WHERE clause SQLite
        // prefers the tenant index and scans every chunk of the tenant.
        List<ChunkRow> rows;
        if (hot.Enabled && chunkIds.Count <= 100) rows = hot.Chunks(chunkIds);
        else
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            rows = await db.Chunks.AsNoTracking().Where(c => chunkIds.Contains(c.Id))
                .Select(SealedRows.WithoutVector).ToListAsync(ct).ConfigureAwait(false);
        }
        rows.RemoveAll(c => c.TenantId != tenantId);
        return (await dataKeys.OpenAsync(rows, ct).ConfigureAwait(false)).Select(Mapping.ToInfo).ToList();
    }

    private static JobRow NewJob(DocumentRow doc, string kind, int maxAttempts, DateTime now) => new()
    {
        Id = Identifiers.NewId("job"), TenantId = doc.TenantId, CorpusId = doc.CorpusId, DocumentId = doc.Id, Kind = kind,
        Status = JobStatus.Queued, Attempts = 0, MaxAttempts = maxAttempts, AvailableAt = now, CreatedAt = now, UpdatedAt = now,
    };

    private static void MarkQueued(DocumentRow row, JobRow job, DateTime now)
    {
        row.Status = DocumentStatus.Queued;
        row.FailureReason = null;
        row.LastJobId = job.Id;
        row.QueuedAt = now;
        row.ProcessingStartedAt = null;
        row.CompletedAt = null;
        row.FailedAt = null;
        row.UpdatedAt = now;
    }

    /// <summary>Projects a document without its (possibly large) raw content.</summary>
    internal static IQueryable<DocumentRow> WithoutContent(IQueryable<DocumentRow> q) => q.Select(WithoutContentProjection);
}
