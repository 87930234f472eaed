using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Indexing;
using NexusRag.Core.Jobs;
using NexusRag.Core.Services;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>
/// The <c>jobs</c> table as a queue of every kind. A claim is a conditional UPDATE on the row's (status, attempts,
/// lease_owner): two workers racing for one job cannot both win, on any store; PostgreSQL claims in one
/// <c>FOR UPDATE SKIP LOCKED</c> statement. Completion and failure are conditional on still holding the lease.
/// Also the ingestion handler's store: its completion commits the chunks, the document and the job together.
/// </summary>
public sealed class EfJobQueue(IDbContextFactory<NexusDbContext> factory, Core.Crypto.DataKeyService dataKeys, TableStatistics statistics, TimeProvider clock)
    : IJobQueue, IIngestionJobStore
{
    public async Task<string> EnqueueAsync(NewJob job, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var row = new JobRow
        {
            Id = Identifiers.NewId("job"), TenantId = job.TenantId, Kind = job.Kind, CorpusId = job.CorpusId, DocumentId = job.DocumentId,
            PayloadJson = job.PayloadJson, Status = JobStatus.Queued, MaxAttempts = job.MaxAttempts, AvailableAt = job.AvailableAt ?? now,
            CreatedAt = now, UpdatedAt = now,
        };
        db.Jobs.Add(row);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return row.Id;
    }

    public async Task<Job?> TryClaimAsync(string workerId, IReadOnlyCollection<string> kinds, TimeSpan lease, CancellationToken ct) =>
        (await TryClaimManyAsync(workerId, kinds, lease, 1, ct).ConfigureAwait(false)).FirstOrDefault();

    public async Task<IReadOnlyList<Job>> TryClaimManyAsync(string workerId, IReadOnlyCollection<string> kinds, TimeSpan lease, int max, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        if (kinds.Count == 0) return [];
        var kindList = kinds.ToList();
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        if (db.Database.IsNpgsql()) return await TryClaimSkipLockedAsync(db, workerId, kindList, lease, max, ct).ConfigureAwait(false);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var candidates = await db.Jobs.AsNoTracking()
                .Where(j => kindList.Contains(j.Kind) && ((j.Status == JobStatus.Queued && j.AvailableAt <= now)
                         || (j.Status == JobStatus.Processing && j.LeaseExpiresAt < now)))
                .OrderBy(j => j.AvailableAt).ThenBy(j => j.Id)
                .Select(j => new { j.Id, j.Status, j.Attempts, j.LeaseOwner })
                .Take(max == 1 ? 4 : max).ToListAsync(ct).ConfigureAwait(false);
            if (candidates.Count == 0) return [];

            var leaseUntil = now.Add(lease);
            if (max == 1)
            {
                // Spread concurrent single claimers over the first few candidates to reduce collisions.
                var c = candidates[Random.Shared.Next(candidates.Count)];
                var claimed = await TakeAsync(db.Jobs.Where(j => j.Id == c.Id && j.Status == c.Status && j.Attempts == c.Attempts && j.LeaseOwner == c.LeaseOwner),
                    workerId, leaseUntil, now, ct).ConfigureAwait(false);
                if (claimed == 1) return [(await db.Jobs.AsNoTracking().FirstAsync(j => j.Id == c.Id, ct).ConfigureAwait(false)).ToInfo()];
                continue;
            }

            // Several: one statement takes every candidate still claimable (SQLite runs it alone, so the check and the
            // take are one step); the rows this worker now leases until exactly this instant are the ones it won.
            var ids = candidates.Select(c => c.Id).ToList();
            var taken = await TakeAsync(db.Jobs.Where(j => ids.Contains(j.Id) && ((j.Status == JobStatus.Queued && j.AvailableAt <= now)
                || (j.Status == JobStatus.Processing && j.LeaseExpiresAt < now))), workerId, leaseUntil, now, ct).ConfigureAwait(false);
            if (taken == 0) continue;
            var rows = await db.Jobs.AsNoTracking()
                .Where(j => ids.Contains(j.Id) && j.LeaseOwner == workerId && j.LeaseExpiresAt == leaseUntil && j.Status == JobStatus.Processing)
                .OrderBy(j => j.AvailableAt).ThenBy(j => j.Id).ToListAsync(ct).ConfigureAwait(false);
            return rows.Select(r => r.ToInfo()).ToList();
        }
        return [];
    }

    /// <summary>
    /// PostgreSQL: one statement picks the oldest claimable jobs of the kinds, skipping rows other workers have locked, and
    /// takes them. Concurrent workers never wait on each other and never get the same job.
    /// </summary>
    private async Task<IReadOnlyList<Job>> TryClaimSkipLockedAsync(NexusDbContext db, string workerId, List<string> kinds, TimeSpan lease, int max, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var until = now.Add(lease);
        var kindArray = kinds.ToArray();
        var ids = await db.Database.SqlQuery<string>($"""
            UPDATE jobs SET status = 'processing', lease_owner = {workerId}, lease_expires_at = {until},
                   attempts = attempts + 1, updated_at = {now}
            WHERE id IN (SELECT id FROM jobs
                         WHERE kind = ANY({kindArray})
                           AND ((status = 'queued' AND available_at <= {now}) OR (status = 'processing' AND lease_expires_at < {now}))
                         ORDER BY available_at, id
                         LIMIT {max}
                         FOR UPDATE SKIP LOCKED)
            RETURNING id AS "Value"
            """).ToListAsync(ct).ConfigureAwait(false);
        if (ids.Count == 0) return [];
        var rows = await db.Jobs.AsNoTracking().Where(j => ids.Contains(j.Id)).OrderBy(j => j.AvailableAt).ThenBy(j => j.Id).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(r => r.ToInfo()).ToList();
    }

    public async Task<bool> CompleteAsync(Job job, string workerId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await MarkSucceededAsync(db, job, workerId, clock.GetUtcNow().UtcDateTime, ct).ConfigureAwait(false);
    }

    private static async Task<bool> MarkSucceededAsync(NexusDbContext db, Job job, string workerId, DateTime now, CancellationToken ct) =>
        await MarkSucceededAsync(db, [job.Id], workerId, now, ct).ConfigureAwait(false) == 1;

    /// <summary>Marks the jobs succeeded that this worker still holds; returns how many.</summary>
    internal static Task<int> MarkSucceededAsync(NexusDbContext db, IReadOnlyList<string> jobIds, string workerId, DateTime now, CancellationToken ct) =>
        (jobIds.Count == 1
            ? db.Jobs.Where(j => j.Id == jobIds[0] && j.LeaseOwner == workerId && j.Status == JobStatus.Processing)
            : db.Jobs.Where(j => jobIds.Contains(j.Id) && j.LeaseOwner == workerId && j.Status == JobStatus.Processing))
        .ExecuteUpdateAsync(s => s
            .SetProperty(j => j.Status, JobStatus.Succeeded)
            .SetProperty(j => j.LeaseOwner, (string?)null)
            .SetProperty(j => j.LeaseExpiresAt, (DateTime?)null)
            .SetProperty(j => j.CompletedAt, now)
            .SetProperty(j => j.LastError, (string?)null)
            .SetProperty(j => j.UpdatedAt, now), ct);

    /// <summary>Takes the jobs <paramref name="query"/> selects for <paramref name="workerId"/> until <paramref name="leaseUntil"/>, counting an attempt.</summary>
    private static Task<int> TakeAsync(IQueryable<JobRow> query, string workerId, DateTime leaseUntil, DateTime now, CancellationToken ct) =>
        query.ExecuteUpdateAsync(s => s
            .SetProperty(j => j.Status, JobStatus.Processing)
            .SetProperty(j => j.LeaseOwner, workerId)
            .SetProperty(j => j.LeaseExpiresAt, leaseUntil)
            .SetProperty(j => j.Attempts, j => j.Attempts + 1)
            .SetProperty(j => j.UpdatedAt, now), ct);

    public async Task<bool> RenewLeaseAsync(string jobId, string workerId, TimeSpan lease, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var until = clock.GetUtcNow().UtcDateTime.Add(lease);
        var n = await db.Jobs
            .Where(j => j.Id == jobId && j.LeaseOwner == workerId && j.Status == JobStatus.Processing)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.LeaseExpiresAt, until), ct).ConfigureAwait(false);
        return n == 1;
    }

    public Task<bool> CompleteIngestionAsync(Job job, string workerId, IReadOnlyList<VersionChunks> versions, string? extractionJson, CancellationToken ct) =>
        CompleteIngestionManyAsync(workerId, [new IngestionCompletion(job, versions, extractionJson)], ct);

    public async Task MarkDocumentsProcessingAsync(IReadOnlyList<Job> jobs, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var tenant in jobs.Where(j => j.DocumentId is not null).GroupBy(j => j.TenantId))
        {
            var tenantId = tenant.Key;
            var docIds = tenant.Select(j => j.DocumentId!).ToList();
            var jobIds = tenant.Select(j => (string?)j.Id).ToList();
            await db.Documents.Where(d => d.TenantId == tenantId && docIds.Contains(d.Id) && jobIds.Contains(d.LastJobId))
                .ExecuteUpdateAsync(s => s
                    .SetProperty(d => d.Status, DocumentStatus.Processing)
                    .SetProperty(d => d.ProcessingStartedAt, now)
                    .SetProperty(d => d.UpdatedAt, now), ct).ConfigureAwait(false);
        }
    }

    public async Task<bool> CompleteIngestionManyAsync(string workerId, IReadOnlyList<IngestionCompletion> completions, CancellationToken ct)
    {
        if (completions.Count == 0) return true;
        if (completions.Any(c => c.Job.CorpusId is null || c.Job.DocumentId is null))
            throw new ArgumentException("an ingestion job names its corpus and document", nameof(completions));
        var ciphers = new Dictionary<string, Core.Crypto.TenantCipher>(StringComparer.Ordinal);
        foreach (var tenantId in completions.Select(c => c.Job.TenantId).Distinct())
            ciphers[tenantId] = await dataKeys.ForWriteAsync(tenantId, ct).ConfigureAwait(false); // before the transaction: it may create the tenant's key
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;

        // Every job must still be this worker's; if one lease was lost, nothing is written (disposing the transaction rolls back).
        var jobIds = completions.Select(c => c.Job.Id).ToList();
        if (await MarkSucceededAsync(db, jobIds, workerId, now, ct).ConfigureAwait(false) != jobIds.Count) return false;

        var active = new Dictionary<string, int>(StringComparer.Ordinal); // job id → chunks in the corpus's active version
        foreach (var corpusGroup in completions.GroupBy(c => (c.Job.TenantId, CorpusId: c.Job.CorpusId!)))
        {
            var (tenantId, corpusId) = corpusGroup.Key;
            // The versions written must be exactly those that receive writes now (read inside this transaction).
            var corpus = await db.Corpora.AsNoTracking().FirstOrDefaultAsync(c => c.TenantId == tenantId && c.Id == corpusId, ct).ConfigureAwait(false)
                         ?? throw new PermanentJobFailure("the document's corpus no longer exists");
            var writable = await EfIndexVersionStore.WritableAsync(db, corpus, ct).ConfigureAwait(false);
            var expected = writable.Select(v => v.Version).Order().ToList();
            foreach (var c in corpusGroup)
            {
                var given = c.Versions.Select(v => v.Version).Order().ToList();
                if (!expected.SequenceEqual(given))
                    throw new IndexVersionsChangedException($"index versions receiving writes are now [{string.Join(", ", expected)}], not [{string.Join(", ", given)}]");
            }

            foreach (var version in expected)
            {
                var writes = corpusGroup.Select(c => (c.Job, Chunks: c.Versions.First(v => v.Version == version))).ToList();
                if (writes.FirstOrDefault(w => w.Chunks.Embedding is not null && w.Chunks.Chunks.Count > 0).Chunks?.Embedding is { } embedding)
                {
                    if (writes.Any(w => w.Chunks.Embedding is { } e && e != embedding && w.Chunks.Chunks.Count > 0))
                        throw new IndexVersionsChangedException($"index version {version} was given chunks of two models");
                    if (version == corpus.ActiveIndexVersion)
                    {
                        // First vectors in the corpus claim it for this model; any other model is refused, inside the same transaction.
                        if (corpus.EmbeddingProvider is null)
                            await db.Corpora.Where(c => c.TenantId == tenantId && c.Id == corpusId && c.EmbeddingProvider == null)
                                .ExecuteUpdateAsync(s => s
                                    .SetProperty(c => c.EmbeddingProvider, embedding.Provider)
                                    .SetProperty(c => c.EmbeddingModel, embedding.Model)
                                    .SetProperty(c => c.EmbeddingDimensions, embedding.Dimensions), ct).ConfigureAwait(false);
                        var recorded = corpus.ToInfo().Embedding;
                        if (recorded is not null && recorded != embedding) throw EmbeddingMismatch.Error(corpusId, recorded, embedding);
                    }
                    else
                    {
                        var row = writable.First(w => w.Version == version);
                        if (row.Embedding is null)
                            await db.IndexVersions.Where(r => r.TenantId == tenantId && r.CorpusId == corpusId && r.Version == version && r.EmbeddingProvider == null)
                                .ExecuteUpdateAsync(s => s
                                    .SetProperty(r => r.EmbeddingProvider, embedding.Provider)
                                    .SetProperty(r => r.EmbeddingModel, embedding.Model)
                                    .SetProperty(r => r.EmbeddingDimensions, embedding.Dimensions), ct).ConfigureAwait(false);
                        else if (row.Embedding != embedding)
                            throw new IndexVersionsChangedException($"index version {version} now records another model");
                    }
                }
                if (version == corpus.ActiveIndexVersion)
                    foreach (var w in writes) active[w.Job.Id] = w.Chunks.Chunks.Count;
                await ReplaceChunksAsync(db, ciphers[tenantId], corpusId, writes.Select(w => (w.Job.DocumentId!, w.Chunks.Chunks)).ToList(), version, now, ct).ConfigureAwait(false);
            }
        }

        foreach (var c in completions)
        {
            var job = c.Job;
            var isReindex = job.Kind == JobKind.Reindex;
            var chunks = active.GetValueOrDefault(job.Id);
            var extractionJson = c.ExtractionJson;
            await db.Documents.Where(d => d.TenantId == job.TenantId && d.Id == job.DocumentId && d.LastJobId == job.Id)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(d => d.Status, DocumentStatus.Succeeded)
                    .SetProperty(d => d.NumChunks, chunks)
                    .SetProperty(d => d.FailureReason, (string?)null)
                    .SetProperty(d => d.ExtractionJson, extractionJson)
                    .SetProperty(d => d.CompletedAt, now)
                    .SetProperty(d => d.LastReindexedAt, d => isReindex ? now : d.LastReindexedAt)
                    .SetProperty(d => d.UpdatedAt, now), ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        await statistics.AfterChunksWrittenAsync(db, completions.Sum(c => c.Versions.Sum(v => v.Chunks.Count)), ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Replaces a document's chunks in one index version: old rows go, new rows take fresh change-log seqs. Old rows are
    /// logged as deletions first, so a follower applying the log in seq order ends with exactly the new set. Call inside a transaction.
    /// </summary>
    internal static Task ReplaceChunksAsync(NexusDbContext db, Core.Crypto.TenantCipher cipher, string corpusId, string documentId, int version,
        IReadOnlyList<ChunkDraft> chunks, DateTime now, CancellationToken ct) =>
        ReplaceChunksAsync(db, cipher, corpusId, [(documentId, chunks)], version, now, ct);

    /// <summary>
    /// <see cref="ReplaceChunksAsync(NexusDbContext, Core.Crypto.TenantCipher, string, string, int, IReadOnlyList{ChunkDraft}, DateTime, CancellationToken)"/>
    /// for several documents of one corpus at once: one deletion pass, one seq reservation, one batch of inserts.
    /// </summary>
    internal static async Task ReplaceChunksAsync(NexusDbContext db, Core.Crypto.TenantCipher cipher, string corpusId,
        IReadOnlyList<(string DocumentId, IReadOnlyList<ChunkDraft> Chunks)> documents, int version, DateTime now, CancellationToken ct)
    {
        var tenantId = cipher.TenantId;
        var docIds = documents.Select(d => d.DocumentId).Distinct().ToList();
        await db.DeleteChunksLoggedAsync(docIds.Count == 1
            ? db.Chunks.Where(c => c.TenantId == tenantId && c.DocumentId == docIds[0] && c.IndexVersion == version)
            : db.Chunks.Where(c => c.TenantId == tenantId && docIds.Contains(c.DocumentId) && c.IndexVersion == version), now, ct).ConfigureAwait(false);
        var total = documents.Sum(d => d.Chunks.Count);
        if (total == 0) return;
        var seq = await db.ReserveSeqAsync(StoreConstants.ChunkSeq, total, ct).ConfigureAwait(false);
        var rows = new List<ChunkRow>(total);
        foreach (var (documentId, chunks) in documents)
            foreach (var c in chunks)
                rows.Add(new ChunkRow
                {
                    Id = c.Id, TenantId = tenantId, CorpusId = corpusId, DocumentId = documentId, IndexVersion = version,
                    ChunkIndex = c.ChunkIndex, StartOffset = c.StartOffset, EndOffset = c.EndOffset, Seq = seq++, CreatedAt = now,
                    Text = cipher.Seal(Core.Crypto.CryptoFields.Chunks, Core.Crypto.CryptoFields.Text, c.Id, c.Text),
                    MetadataJson = cipher.Seal(Core.Crypto.CryptoFields.Chunks, Core.Crypto.CryptoFields.Metadata, c.Id, c.MetadataJson),
                    KeyVersion = cipher.WriteVersion,
                    Embedding = c.Embedding is null ? null : Mapping.ToBlob(c.Embedding),
                });
        await ChunkWriter.InsertAsync(db, rows, ct).ConfigureAwait(false);
        await db.NotifyChunksChangedAsync(ct).ConfigureAwait(false);
    }

    public async Task<bool> ReleaseAsync(Job job, string workerId, DateTime availableAt, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.Jobs
            .Where(j => j.Id == job.Id && j.LeaseOwner == workerId && j.Status == JobStatus.Processing)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Queued)
                .SetProperty(j => j.Attempts, j => j.Attempts - 1)
                .SetProperty(j => j.AvailableAt, availableAt)
                .SetProperty(j => j.LeaseOwner, (string?)null)
                .SetProperty(j => j.LeaseExpiresAt, (DateTime?)null)
                .SetProperty(j => j.UpdatedAt, now), ct).ConfigureAwait(false) == 1;
    }

    public async Task<bool> FailAttemptAsync(Job job, string workerId, string reason, DateTime? retryAt, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var final = retryAt is null;
        var owned = await db.Jobs
            .Where(j => j.Id == job.Id && j.LeaseOwner == workerId && j.Status == JobStatus.Processing)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, final ? JobStatus.Failed : JobStatus.Queued)
                .SetProperty(j => j.AvailableAt, retryAt ?? now)
                .SetProperty(j => j.LeaseOwner, (string?)null)
                .SetProperty(j => j.LeaseExpiresAt, (DateTime?)null)
                .SetProperty(j => j.LastError, reason)
                .SetProperty(j => j.CompletedAt, final ? now : null)
                .SetProperty(j => j.UpdatedAt, now), ct).ConfigureAwait(false);
        if (owned != 1) return false;
        if (job.DocumentId is not null)
            await db.Documents.Where(d => d.TenantId == job.TenantId && d.Id == job.DocumentId && d.LastJobId == job.Id)
            .ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Status, final ? DocumentStatus.Failed : DocumentStatus.Queued)
                .SetProperty(d => d.FailureReason, final ? reason : null)
                .SetProperty(d => d.FailedAt, final ? now : null)
                .SetProperty(d => d.UpdatedAt, now), ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }
}
