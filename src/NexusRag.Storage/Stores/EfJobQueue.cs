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
public sealed class EfJobQueue(IDbContextFactory<NexusDbContext> factory, Core.Crypto.DataKeyService dataKeys, TimeProvider clock) : IJobQueue, IIngestionJobStore
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

    public async Task<Job?> TryClaimAsync(string workerId, IReadOnlyCollection<string> kinds, TimeSpan lease, CancellationToken ct)
    {
        if (kinds.Count == 0) return null;
        var kindList = kinds.ToList();
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        if (db.Database.IsNpgsql()) return await TryClaimSkipLockedAsync(db, workerId, kindList, lease, ct).ConfigureAwait(false);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var now = clock.GetUtcNow().UtcDateTime;
            var candidates = await db.Jobs.AsNoTracking()
                .Where(j => kindList.Contains(j.Kind) && ((j.Status == JobStatus.Queued && j.AvailableAt <= now)
                         || (j.Status == JobStatus.Processing && j.LeaseExpiresAt < now)))
                .OrderBy(j => j.AvailableAt).ThenBy(j => j.Id)
                .Select(j => new { j.Id, j.Status, j.Attempts, j.LeaseOwner })
                .Take(4).ToListAsync(ct).ConfigureAwait(false);
            if (candidates.Count == 0) return null;

            // Spread concurrent workers over the first few candidates to reduce collisions.
            var c = candidates[Random.Shared.Next(candidates.Count)];
            var leaseUntil = now.Add(lease);
            var claimed = await db.Jobs
                .Where(j => j.Id == c.Id && j.Status == c.Status && j.Attempts == c.Attempts && j.LeaseOwner == c.LeaseOwner)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(j => j.Status, JobStatus.Processing)
                    .SetProperty(j => j.LeaseOwner, workerId)
                    .SetProperty(j => j.LeaseExpiresAt, leaseUntil)
                    .SetProperty(j => j.Attempts, j => j.Attempts + 1)
                    .SetProperty(j => j.UpdatedAt, now), ct).ConfigureAwait(false);
            if (claimed == 1)
            {
                var row = await db.Jobs.AsNoTracking().FirstAsync(j => j.Id == c.Id, ct).ConfigureAwait(false);
                return row.ToInfo();
            }
        }
        return null;
    }

    /// <summary>
    /// PostgreSQL: one statement picks the oldest claimable job of the kinds, skipping rows other workers have locked, and
    /// takes it. Concurrent workers never wait on each other and never get the same job.
    /// </summary>
    private async Task<Job?> TryClaimSkipLockedAsync(NexusDbContext db, string workerId, List<string> kinds, TimeSpan lease, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var until = now.Add(lease);
        var kindArray = kinds.ToArray();
        var ids = await db.Database.SqlQuery<string>($"""
            UPDATE jobs SET status = 'processing', lease_owner = {workerId}, lease_expires_at = {until},
                   attempts = attempts + 1, updated_at = {now}
            WHERE id = (SELECT id FROM jobs
                        WHERE kind = ANY({kindArray})
                          AND ((status = 'queued' AND available_at <= {now}) OR (status = 'processing' AND lease_expires_at < {now}))
                        ORDER BY available_at, id
                        LIMIT 1
                        FOR UPDATE SKIP LOCKED)
            RETURNING id AS "Value"
            """).ToListAsync(ct).ConfigureAwait(false);
        if (ids.Count == 0) return null;
        var row = await db.Jobs.AsNoTracking().FirstAsync(j => j.Id == ids[0], ct).ConfigureAwait(false);
        return row.ToInfo();
    }

    public async Task<bool> CompleteAsync(Job job, string workerId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await MarkSucceededAsync(db, job, workerId, clock.GetUtcNow().UtcDateTime, ct).ConfigureAwait(false);
    }

    private static async Task<bool> MarkSucceededAsync(NexusDbContext db, Job job, string workerId, DateTime now, CancellationToken ct) =>
        await db.Jobs
            .Where(j => j.Id == job.Id && j.LeaseOwner == workerId && j.Status == JobStatus.Processing)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.Status, JobStatus.Succeeded)
                .SetProperty(j => j.LeaseOwner, (string?)null)
                .SetProperty(j => j.LeaseExpiresAt, (DateTime?)null)
                .SetProperty(j => j.CompletedAt, now)
                .SetProperty(j => j.LastError, (string?)null)
                .SetProperty(j => j.UpdatedAt, now), ct).ConfigureAwait(false) == 1;

    public async Task<bool> RenewLeaseAsync(string jobId, string workerId, TimeSpan lease, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var until = clock.GetUtcNow().UtcDateTime.Add(lease);
        var n = await db.Jobs
            .Where(j => j.Id == jobId && j.LeaseOwner == workerId && j.Status == JobStatus.Processing)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.LeaseExpiresAt, until), ct).ConfigureAwait(false);
        return n == 1;
    }

    public async Task MarkDocumentProcessingAsync(Job job, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        await db.Documents.Where(d => d.TenantId == job.TenantId && d.Id == job.DocumentId && d.LastJobId == job.Id)
            .ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Status, DocumentStatus.Processing)
                .SetProperty(d => d.ProcessingStartedAt, now)
                .SetProperty(d => d.UpdatedAt, now), ct).ConfigureAwait(false);
    }

    public async Task<bool> CompleteIngestionAsync(Job job, string workerId, IReadOnlyList<VersionChunks> versions, string? extractionJson, CancellationToken ct)
    {
        var cipher = await dataKeys.ForWriteAsync(job.TenantId, ct).ConfigureAwait(false); // before the transaction: it may create the tenant's key
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        if (job.CorpusId is not { } corpusId || job.DocumentId is not { } documentId)
            throw new ArgumentException("an ingestion job names its corpus and document", nameof(job));
        if (!await MarkSucceededAsync(db, job, workerId, now, ct).ConfigureAwait(false)) return false; // disposing the transaction rolls it back

        // The versions written must be exactly those that receive writes now (read inside this transaction).
        var corpus = await db.Corpora.AsNoTracking().FirstOrDefaultAsync(c => c.TenantId == job.TenantId && c.Id == corpusId, ct).ConfigureAwait(false)
                     ?? throw new PermanentJobFailure("the document's corpus no longer exists");
        var writable = await EfIndexVersionStore.WritableAsync(db, corpus, ct).ConfigureAwait(false);
        var expected = writable.Select(v => v.Version).Order().ToList();
        var given = versions.Select(v => v.Version).Order().ToList();
        if (!expected.SequenceEqual(given))
            throw new IndexVersionsChangedException($"index versions receiving writes are now [{string.Join(", ", expected)}], not [{string.Join(", ", given)}]");

        var active = 0;
        foreach (var v in versions)
        {
            if (v.Version == corpus.ActiveIndexVersion)
            {
                active = v.Chunks.Count;
                if (v.Embedding is { } embedding && v.Chunks.Count > 0)
                {
                    // First vectors in the corpus claim it for this model; any other model is refused, inside the same transaction.
                    await db.Corpora.Where(c => c.TenantId == job.TenantId && c.Id == corpusId && c.EmbeddingProvider == null)
                        .ExecuteUpdateAsync(s => s
                            .SetProperty(c => c.EmbeddingProvider, embedding.Provider)
                            .SetProperty(c => c.EmbeddingModel, embedding.Model)
                            .SetProperty(c => c.EmbeddingDimensions, embedding.Dimensions), ct).ConfigureAwait(false);
                    var recorded = corpus.ToInfo().Embedding;
                    if (recorded is not null && recorded != embedding) throw EmbeddingMismatch.Error(corpusId, recorded, embedding);
                }
            }
            else if (v.Embedding is { } embedding && v.Chunks.Count > 0)
            {
                var row = writable.First(w => w.Version == v.Version);
                if (row.Embedding is null)
                    await db.IndexVersions.Where(r => r.TenantId == job.TenantId && r.CorpusId == corpusId && r.Version == v.Version && r.EmbeddingProvider == null)
                        .ExecuteUpdateAsync(s => s
                            .SetProperty(r => r.EmbeddingProvider, embedding.Provider)
                            .SetProperty(r => r.EmbeddingModel, embedding.Model)
                            .SetProperty(r => r.EmbeddingDimensions, embedding.Dimensions), ct).ConfigureAwait(false);
                else if (row.Embedding != embedding)
                    throw new IndexVersionsChangedException($"index version {v.Version} now records another model");
            }
            await ReplaceChunksAsync(db, cipher, corpusId, documentId, v.Version, v.Chunks, now, ct).ConfigureAwait(false);
        }

        var isReindex = job.Kind == JobKind.Reindex;
        await db.Documents.Where(d => d.TenantId == job.TenantId && d.Id == job.DocumentId && d.LastJobId == job.Id)
            .ExecuteUpdateAsync(s => s
                .SetProperty(d => d.Status, DocumentStatus.Succeeded)
                .SetProperty(d => d.NumChunks, active)
                .SetProperty(d => d.FailureReason, (string?)null)
                .SetProperty(d => d.ExtractionJson, extractionJson)
                .SetProperty(d => d.CompletedAt, now)
                .SetProperty(d => d.LastReindexedAt, d => isReindex ? now : d.LastReindexedAt)
                .SetProperty(d => d.UpdatedAt, now), ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// Replaces a document's chunks in one index version: old rows go, new rows take fresh change-log seqs. Old rows are
    /// logged as deletions first, so a follower applying the log in seq order ends with exactly the new set. Call inside a transaction.
    /// </summary>
    internal static async Task ReplaceChunksAsync(NexusDbContext db, Core.Crypto.TenantCipher cipher, string corpusId, string documentId, int version,
        IReadOnlyList<ChunkDraft> chunks, DateTime now, CancellationToken ct)
    {
        var tenantId = cipher.TenantId;
        await db.DeleteChunksLoggedAsync(db.Chunks.Where(c => c.TenantId == tenantId && c.DocumentId == documentId && c.IndexVersion == version), now, ct).ConfigureAwait(false);
        if (chunks.Count == 0) return;
        var seq = await db.ReserveSeqAsync(StoreConstants.ChunkSeq, chunks.Count, ct).ConfigureAwait(false);
        foreach (var c in chunks)
        {
            db.Chunks.Add(new ChunkRow
            {
                Id = c.Id, TenantId = tenantId, CorpusId = corpusId, DocumentId = documentId, IndexVersion = version,
                ChunkIndex = c.ChunkIndex, StartOffset = c.StartOffset, EndOffset = c.EndOffset, Seq = seq++, CreatedAt = now,
                Text = cipher.Seal(Core.Crypto.CryptoFields.Chunks, Core.Crypto.CryptoFields.Text, c.Id, c.Text),
                MetadataJson = cipher.Seal(Core.Crypto.CryptoFields.Chunks, Core.Crypto.CryptoFields.Metadata, c.Id, c.MetadataJson),
                KeyVersion = cipher.WriteVersion,
                Embedding = c.Embedding is null ? null : Mapping.ToBlob(c.Embedding),
            });
        }
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
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
