using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Indexing;
using NexusRag.Core.Jobs;
using NexusRag.Core.Services;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>
/// Index versions on the <c>index_versions</c>, <c>index_version_events</c> and <c>eval_sets</c> tables. A corpus that never
/// had a second version has no rows: its version 1 is implied by the corpus row, and recorded when a second one is created.
/// The active version's model lives on the corpus row (where searches read it); a version takes it back onto its own row when retired.
/// </summary>
public sealed class EfIndexVersionStore(IDbContextFactory<NexusDbContext> factory, Core.Crypto.DataKeyService dataKeys, TableStatistics statistics, TimeProvider clock)
    : IIndexVersionStore
{
    public async Task<IReadOnlyList<IndexVersionInfo>> ListAsync(string tenantId, string corpusId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var corpus = await db.Corpora.AsNoTracking().FirstOrDefaultAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false);
        if (corpus is null) return [];
        var rows = await db.IndexVersions.AsNoTracking().Where(v => v.TenantId == tenantId && v.CorpusId == corpusId)
            .OrderByDescending(v => v.Version).ToListAsync(ct).ConfigureAwait(false);
        var counts = await db.Chunks.AsNoTracking().Where(c => c.TenantId == tenantId && c.CorpusId == corpusId)
            .GroupBy(c => c.IndexVersion)
            .Select(g => new { Version = g.Key, Chunks = g.Count(), Documents = g.Select(c => c.DocumentId).Distinct().Count() })
            .ToListAsync(ct).ConfigureAwait(false);
        var infos = rows.Count == 0 ? [Implied(corpus)] : rows.Select(r => ToInfo(r, corpus)).ToList();
        return infos.Select(i => counts.FirstOrDefault(c => c.Version == i.Version) is { } n ? i with { Chunks = n.Chunks, DocumentsIndexed = n.Documents } : i).ToList();
    }

    public async Task<IndexVersionInfo?> GetAsync(string tenantId, string corpusId, int version, CancellationToken ct) =>
        (await ListAsync(tenantId, corpusId, ct).ConfigureAwait(false)).FirstOrDefault(v => v.Version == version);

    public async Task<IReadOnlyList<IndexVersionInfo>> WritableAsync(string tenantId, string corpusId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var corpus = await db.Corpora.AsNoTracking().FirstOrDefaultAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false);
        return corpus is null ? [] : await WritableAsync(db, corpus, ct).ConfigureAwait(false);
    }

    internal static async Task<List<IndexVersionInfo>> WritableAsync(NexusDbContext db, CorpusRow corpus, CancellationToken ct)
    {
        var rows = await db.IndexVersions.AsNoTracking().Where(v => v.TenantId == corpus.TenantId && v.CorpusId == corpus.Id)
            .ToListAsync(ct).ConfigureAwait(false);
        if (rows.Count == 0) return [Implied(corpus)];
        return rows.Select(r => ToInfo(r, corpus)).Where(v => v.ReceivesWrites)
            .OrderByDescending(v => v.Version == corpus.ActiveIndexVersion).ThenBy(v => v.Version).ToList();
    }

    public async Task<IndexVersionInfo?> CreateAsync(string tenantId, string corpusId, EmbeddingIdentity embedding, ChunkingSpec? chunking, IndexActor actor,
        int maxAttempts, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var corpus = await db.Corpora.AsNoTracking().FirstOrDefaultAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false);
        if (corpus is null) return null;
        var rows = await db.IndexVersions.AsNoTracking().Where(v => v.TenantId == tenantId && v.CorpusId == corpusId).ToListAsync(ct).ConfigureAwait(false);
        if (rows.Any(r => r.Status == IndexVersionStatus.Building)) return null;
        if (rows.Count == 0)
        {
            db.IndexVersions.Add(new IndexVersionRow
            {
                TenantId = tenantId, CorpusId = corpusId, Version = corpus.ActiveIndexVersion, Status = IndexVersionStatus.Active,
                CreatedBy = "system", CreatedAt = corpus.CreatedAt, UpdatedAt = now, ActivatedAt = corpus.CreatedAt, BuiltAt = corpus.CreatedAt,
            });
        }
        var version = Math.Max(corpus.ActiveIndexVersion, rows.Count == 0 ? 0 : rows.Max(r => r.Version)) + 1;
        var total = await db.Documents.CountAsync(d => d.TenantId == tenantId && d.CorpusId == corpusId, ct).ConfigureAwait(false);
        var job = new JobRow
        {
            Id = Identifiers.NewId("job"), TenantId = tenantId, CorpusId = corpusId, Kind = JobKind.IndexBuild,
            PayloadJson = JsonSerializer.Serialize(new { version }), Status = JobStatus.Queued, MaxAttempts = maxAttempts,
            AvailableAt = now, CreatedAt = now, UpdatedAt = now,
        };
        db.Jobs.Add(job);
        var row = new IndexVersionRow
        {
            TenantId = tenantId, CorpusId = corpusId, Version = version, Status = IndexVersionStatus.Building,
            EmbeddingProvider = embedding.Provider, EmbeddingModel = embedding.Model, EmbeddingDimensions = embedding.Dimensions,
            ChunkSizeChars = chunking?.ChunkSizeChars, ChunkOverlapChars = chunking?.ChunkOverlapChars, DocumentsTotal = total,
            JobId = job.Id, CreatedBy = $"{actor.Type}:{actor.Id}", CreatedAt = now, UpdatedAt = now,
        };
        db.IndexVersions.Add(row);
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
        }
        catch (DbUpdateException)
        {
            return null; // another version was created concurrently
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return ToInfo(row, corpus);
    }

    public async Task AppendEventAsync(string tenantId, string corpusId, int version, string eventType, IndexActor actor, string? reason, string? detailsJson,
        CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.IndexVersionEvents.Add(new IndexVersionEventRow
        {
            TenantId = tenantId, CorpusId = corpusId, Version = version, EventType = eventType, ActorType = actor.Type, ActorId = actor.Id,
            Reason = reason, DetailsJson = detailsJson, OccurredAt = clock.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IndexVersionEvent>> EventsAsync(string tenantId, string corpusId, int? version, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.IndexVersionEvents.AsNoTracking().Where(e => e.TenantId == tenantId && e.CorpusId == corpusId);
        if (version is { } v) q = q.Where(e => e.Version == v);
        var rows = await q.OrderBy(e => e.Id).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(e => new IndexVersionEvent(e.Id, e.TenantId, e.CorpusId, e.Version, e.EventType, e.ActorType, e.ActorId, e.Reason, e.DetailsJson, e.OccurredAt)).ToList();
    }

    public async Task SaveEvaluationAsync(string tenantId, string corpusId, int version, string evaluationJson, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        await db.IndexVersions.Where(v => v.TenantId == tenantId && v.CorpusId == corpusId && v.Version == version)
            .ExecuteUpdateAsync(s => s.SetProperty(v => v.EvaluationJson, evaluationJson).SetProperty(v => v.UpdatedAt, now), ct).ConfigureAwait(false);
    }

    public async Task<bool> ActivateAsync(string tenantId, string corpusId, int version, int expectedActive, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var corpus = await db.Corpora.FirstOrDefaultAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false);
        if (corpus is null || corpus.ActiveIndexVersion != expectedActive || version == expectedActive) return false;
        var target = await db.IndexVersions.FirstOrDefaultAsync(v => v.TenantId == tenantId && v.CorpusId == corpusId && v.Version == version, ct).ConfigureAwait(false);
        if (target is null || !(target.Status == IndexVersionStatus.Ready || (target.Status == IndexVersionStatus.Retired && target.DroppedAt is null))) return false;
        var previous = await db.IndexVersions.FirstOrDefaultAsync(v => v.TenantId == tenantId && v.CorpusId == corpusId && v.Version == expectedActive, ct).ConfigureAwait(false);
        if (previous is null) return false;

        // The retiring version keeps the model it served with; the corpus takes the new one's.
        previous.Status = IndexVersionStatus.Retired;
        previous.RetiredAt = now;
        previous.UpdatedAt = now;
        previous.EmbeddingProvider = corpus.EmbeddingProvider;
        previous.EmbeddingModel = corpus.EmbeddingModel;
        previous.EmbeddingDimensions = corpus.EmbeddingDimensions;
        target.Status = IndexVersionStatus.Active;
        target.ActivatedAt = now;
        target.RetiredAt = null;
        target.UpdatedAt = now;
        corpus.ActiveIndexVersion = version;
        corpus.EmbeddingProvider = target.EmbeddingProvider;
        corpus.EmbeddingModel = target.EmbeddingModel;
        corpus.EmbeddingDimensions = target.EmbeddingDimensions;
        corpus.UpdatedAt = now;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        await db.Documents.Where(d => d.TenantId == tenantId && d.CorpusId == corpusId)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.NumChunks,
                d => db.Chunks.Count(c => c.TenantId == d.TenantId && c.DocumentId == d.Id && c.IndexVersion == version)), ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    public async Task<IReadOnlyList<DocumentInfo>> BuildDocumentsAsync(string tenantId, string corpusId, string? afterDocumentId, int limit, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        // An anonymized document has no content to index.
        var q = db.Documents.AsNoTracking().Where(d => d.TenantId == tenantId && d.CorpusId == corpusId && d.AnonymizedAt == null);
        if (afterDocumentId is not null) q = q.Where(d => string.Compare(d.Id, afterDocumentId) > 0);
        var rows = await EfDocumentStore.WithoutContent(q.OrderBy(d => d.Id).Take(limit)).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(r => r.ToInfo()).ToList();
    }

    public async Task<bool> CommitBuildStepAsync(Job job, string workerId, int version, BuildStep step, CancellationToken ct)
    {
        var cipher = await dataKeys.ForWriteAsync(job.TenantId, ct).ConfigureAwait(false); // before the transaction: it may create the tenant's key
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        // Touching the job row under the lease both checks the lease and serializes with its loss.
        var held = await db.Jobs.Where(j => j.Id == job.Id && j.LeaseOwner == workerId && j.Status == JobStatus.Processing)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.UpdatedAt, now), ct).ConfigureAwait(false);
        if (held != 1) return false;
        var row = await db.IndexVersions.FirstOrDefaultAsync(v => v.TenantId == job.TenantId && v.CorpusId == job.CorpusId && v.Version == version, ct).ConfigureAwait(false);
        if (row is null || row.Status != IndexVersionStatus.Building)
            throw new IndexVersionsChangedException($"index version {version} is no longer building");
        var doc = await db.Documents.AsNoTracking().Where(d => d.TenantId == job.TenantId && d.Id == step.DocumentId)
            .Select(d => new { d.UpdatedAt, d.CorpusId }).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        var written = 0;
        if (step.Skipped) row.DocumentsSkipped++;
        else if (step.Chunks is not null && doc is not null && doc.CorpusId == job.CorpusId && doc.UpdatedAt == step.ExpectedUpdatedAt)
        {
            await EfJobQueue.ReplaceChunksAsync(db, cipher, job.CorpusId!, step.DocumentId, version, step.Chunks, now, ct).ConfigureAwait(false);
            written = step.Chunks.Count;
        }
        // else: changed (or gone) since it was read; its own ingestion, or deletion, brings this version up to date.
        row.DocumentsDone++;
        row.BuildCursor = step.DocumentId;
        row.UpdatedAt = now;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        await statistics.AfterChunksWrittenAsync(db, written, ct).ConfigureAwait(false);
        return true;
    }

    public async Task<bool> CompleteBuildAsync(Job job, string workerId, int version, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        if (await EfJobQueue.MarkSucceededAsync(db, [job.Id], workerId, now, ct).ConfigureAwait(false) != 1) return false;
        await db.IndexVersions.Where(v => v.TenantId == job.TenantId && v.CorpusId == job.CorpusId && v.Version == version && v.Status == IndexVersionStatus.Building)
            .ExecuteUpdateAsync(s => s.SetProperty(v => v.Status, IndexVersionStatus.Ready).SetProperty(v => v.BuiltAt, now).SetProperty(v => v.UpdatedAt, now), ct)
            .ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    public async Task MarkFailedAsync(string tenantId, string corpusId, int version, string reason, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var clipped = reason.Length <= 1000 ? reason : reason[..1000];
        await db.IndexVersions.Where(v => v.TenantId == tenantId && v.CorpusId == corpusId && v.Version == version && v.Status == IndexVersionStatus.Building)
            .ExecuteUpdateAsync(s => s.SetProperty(v => v.Status, IndexVersionStatus.Failed).SetProperty(v => v.FailureReason, clipped)
                .SetProperty(v => v.UpdatedAt, now), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<IndexVersionInfo>> DroppableAsync(DateTime retiredBefore, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.IndexVersions.AsNoTracking()
            .Where(v => v.DroppedAt == null && (v.Status == IndexVersionStatus.Failed || (v.Status == IndexVersionStatus.Retired && v.RetiredAt < retiredBefore)))
            .OrderBy(v => v.UpdatedAt).Take(100).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(r => ToInfo(r, null)).ToList();
    }

    public async Task<bool> DropAsync(string tenantId, string corpusId, int version, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var marked = await db.IndexVersions
            .Where(v => v.TenantId == tenantId && v.CorpusId == corpusId && v.Version == version && v.DroppedAt == null
                        && (v.Status == IndexVersionStatus.Failed || v.Status == IndexVersionStatus.Retired))
            .ExecuteUpdateAsync(s => s.SetProperty(v => v.DroppedAt, now).SetProperty(v => v.UpdatedAt, now), ct).ConfigureAwait(false);
        if (marked != 1) return false;
        await db.DeleteChunksLoggedAsync(db.Chunks.Where(c => c.TenantId == tenantId && c.CorpusId == corpusId && c.IndexVersion == version), now, ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    public async Task<EvalSetInfo> CreateEvalSetAsync(EvalSetInfo set, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.EvalSets.Add(new EvalSetRow
        {
            TenantId = set.TenantId, Id = set.Id, CorpusId = set.CorpusId, Name = set.Name,
            QueriesJson = JsonSerializer.Serialize(set.Queries), QrelsJson = JsonSerializer.Serialize(set.Qrels),
            QueryCount = set.Queries.Count, JudgmentCount = set.Qrels.Count, CreatedBy = set.CreatedBy, CreatedAt = set.CreatedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return set;
    }

    public async Task<EvalSetInfo?> GetEvalSetAsync(string tenantId, string corpusId, string? evalSetId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var q = db.EvalSets.AsNoTracking().Where(e => e.TenantId == tenantId && e.CorpusId == corpusId);
        q = evalSetId is null ? q.OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.Id) : q.Where(e => e.Id == evalSetId);
        var row = await q.FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return row is null ? null : new EvalSetInfo(row.Id, row.TenantId, row.CorpusId, row.Name,
            JsonSerializer.Deserialize<List<EvalQuery>>(row.QueriesJson) ?? [], JsonSerializer.Deserialize<List<EvalJudgment>>(row.QrelsJson) ?? [],
            row.CreatedBy, row.CreatedAt);
    }

    public async Task<IReadOnlyList<EvalSetInfo>> ListEvalSetsAsync(string tenantId, string corpusId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.EvalSets.AsNoTracking().Where(e => e.TenantId == tenantId && e.CorpusId == corpusId)
            .OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.Id)
            .Select(e => new { e.Id, e.Name, e.QueryCount, e.JudgmentCount, e.CreatedBy, e.CreatedAt }).ToListAsync(ct).ConfigureAwait(false);
        // Listing carries counts, not the sets: placeholders sized to the counts would cost memory for nothing.
        return rows.Select(r => new EvalSetInfo(r.Id, tenantId, corpusId, r.Name, [], [], r.CreatedBy, r.CreatedAt)
        { QueryCount = r.QueryCount, JudgmentCount = r.JudgmentCount }).ToList();
    }

    private static IndexVersionInfo Implied(CorpusRow corpus)
    {
        var c = corpus.ToInfo();
        return new IndexVersionInfo(corpus.TenantId, corpus.Id, corpus.ActiveIndexVersion, IndexVersionStatus.Active, c.Embedding, null,
            0, 0, 0, null, null, null, null, "system", corpus.CreatedAt, corpus.UpdatedAt, corpus.CreatedAt, corpus.CreatedAt, null, null);
    }

    private static IndexVersionInfo ToInfo(IndexVersionRow r, CorpusRow? corpus)
    {
        var embedding = corpus is not null && r.Version == corpus.ActiveIndexVersion
            ? corpus.ToInfo().Embedding
            : r.EmbeddingProvider is null || r.EmbeddingModel is null || r.EmbeddingDimensions is null
                ? null
                : new EmbeddingIdentity(r.EmbeddingProvider, r.EmbeddingModel, r.EmbeddingDimensions.Value);
        var chunking = r.ChunkSizeChars is { } size ? new ChunkingSpec(size, r.ChunkOverlapChars ?? 0) : null;
        return new IndexVersionInfo(r.TenantId, r.CorpusId, r.Version, r.Status, embedding, chunking, r.DocumentsTotal, r.DocumentsDone, r.DocumentsSkipped,
            r.BuildCursor, r.JobId, r.EvaluationJson, r.FailureReason, r.CreatedBy, r.CreatedAt, r.UpdatedAt, r.BuiltAt, r.ActivatedAt, r.RetiredAt, r.DroppedAt);
    }
}
