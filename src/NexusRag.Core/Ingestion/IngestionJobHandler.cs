using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Errors;
using NexusRag.Core.Indexing;
using NexusRag.Core.Jobs;
using NexusRag.Core.Ports;
using NexusRag.Core.Services;
using NexusRag.Core.Transactions;

namespace NexusRag.Core.Ingestion;

/// <summary>
/// The handler of ingest and re-index jobs: original → extract (within <c>EXTRACT_TIMEOUT_S</c>) → chunk → embed → write,
/// committed atomically with the job's completion and, for an e-mail, its attachments as child documents with their own
/// jobs. Held while <c>kill.ingest</c> is on. Content that cannot be extracted, and an embedding-model mismatch with the
/// corpus, fail at once (retrying cannot fix them); I/O errors reading the original and other failures are retried by the job runner.
/// </summary>
public sealed class IngestionJobHandler(
    IIngestionJobStore store,
    IDocumentStore documents,
    IOriginalStore originals,
    OriginalLocks originalLocks,
    IUnitOfWork uow,
    IAuditLog audit,
    ContentExtractorRegistry extractors,
    DocumentPipeline pipeline,
    ICorpusStore corpora,
    IIndexVersionStore indexVersions,
    IEmbedderRegistry embedders,
    IOptions<ExtractionOptions> extractionOptions,
    IOptions<IngestionOptions> ingestionOptions,
    IJobSignal signal,
    Observability.NexusInstrumentation telemetry,
    TimeProvider clock,
    ILogger<IngestionJobHandler> logger) : IBatchJobHandler
{
    public IReadOnlyCollection<string> Kinds { get; } = [JobKind.Ingest, JobKind.Reindex];

    public string? HeldBy => Governance.KillSwitches.Ingest;

    public int MaxBatch => ingestionOptions.Value.JobBatchSize;

    public async Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
    {
        try
        {
            await store.MarkDocumentsProcessingAsync([job], ct).ConfigureAwait(false);
            var prepared = await PrepareAsync(job, null, ct).ConfigureAwait(false);
            try
            {
                return await CommitOneAsync(prepared, workerId, ct).ConfigureAwait(false);
            }
            finally
            {
                prepared.Dispose();
            }
        }
        catch (Exception ex) when (AsPermanent(ex) is { } permanent)
        {
            throw permanent;
        }
    }

    /// <summary>
    /// How long prepared jobs of a batch may wait for the jobs after them before they commit (checked after each job is
    /// prepared, so at most this plus one more job's preparation): fast documents (text) still commit dozens at once,
    /// while slow ones (large PDFs, OCR) do not hold finished work back for the whole batch.
    /// </summary>
    public static readonly TimeSpan CommitWindow = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Several jobs: each is extracted, chunked and embedded on its own (a failure stays that job's); the prepared jobs
    /// without attachments commit together in one transaction (at the latest every <see cref="CommitWindow"/>). If that
    /// transaction cannot take them all (a lease lost, the index versions changed, a model conflict), each commits on its
    /// own as <see cref="HandleAsync"/> would, with its own answer.
    /// </summary>
    public async Task<IReadOnlyList<JobOutcome>> HandleManyAsync(IReadOnlyList<Job> jobs, string workerId, CancellationToken ct)
    {
        var outcomes = new JobOutcome?[jobs.Count];
        var pending = new List<(int Index, Prepared Job)>(jobs.Count);
        try
        {
            await store.MarkDocumentsProcessingAsync(jobs, ct).ConfigureAwait(false);
            var batch = await BatchReads.ReadAsync(documents, jobs, ct).ConfigureAwait(false);
            var windowStart = clock.GetUtcNow();
            for (var i = 0; i < jobs.Count; i++)
            {
                try
                {
                    pending.Add((i, await PrepareAsync(jobs[i], batch, ct).ConfigureAwait(false)));
                }
                catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested))
                {
                    outcomes[i] = JobOutcome.Failed(AsPermanent(ex) ?? ex);
                }
                if (pending.Count > 0 && (i == jobs.Count - 1 || clock.GetUtcNow() - windowStart >= CommitWindow))
                {
                    try
                    {
                        await CommitGroupAsync(pending, outcomes, workerId, ct).ConfigureAwait(false);
                    }
                    finally
                    {
                        foreach (var (_, p) in pending) p.Dispose();
                        pending.Clear();
                    }
                    windowStart = clock.GetUtcNow();
                }
            }
        }
        finally
        {
            foreach (var (_, p) in pending) p.Dispose();
        }
        return outcomes.Select(o => o ?? throw new InvalidOperationException("a batched job got no outcome")).ToList();
    }

    /// <summary>Commits prepared jobs: those without attachments in one transaction when there are several, the rest (and all of them, should that fail) alone.</summary>
    private async Task CommitGroupAsync(List<(int Index, Prepared Job)> prepared, JobOutcome?[] outcomes, string workerId, CancellationToken ct)
    {
        var together = prepared.Where(p => p.Job.Children.Count == 0).ToList();
        if (together.Count > 1)
        {
            var committed = false;
            try
            {
                using (telemetry.Step("write"))
                    committed = await store.CompleteIngestionManyAsync(workerId,
                        together.Select(p => new IngestionCompletion(p.Job.Job, p.Job.Targets, p.Job.Summary)).ToList(), ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested))
            {
                logger.LogInformation("Batch of {Count} ingestion jobs could not commit together ({Reason}); committing each alone", together.Count, ex.Message);
            }
            if (committed)
                foreach (var (i, p) in together)
                {
                    Written(p);
                    outcomes[i] = new JobOutcome(JobResult.Committed);
                }
        }
        foreach (var (i, p) in prepared)
        {
            if (outcomes[i] is not null) continue;
            try
            {
                outcomes[i] = new JobOutcome(await CommitOneAsync(p, workerId, ct).ConfigureAwait(false));
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested))
            {
                outcomes[i] = JobOutcome.Failed(AsPermanent(ex) ?? ex);
            }
        }
    }

    /// <summary>An embedding-model mismatch with the corpus cannot be fixed by retrying: the job fails at once.</summary>
    private static PermanentJobFailure? AsPermanent(Exception ex) =>
        ex is NexusException { Code: ErrorCodes.EmbeddingModelMismatch } ? new PermanentJobFailure($"{ErrorCodes.EmbeddingModelMismatch}: {ex.Message}", ex) : null;

    /// <summary>A job ready to commit: its document extracted, its attachments staged, its chunks drafted for every writable version.</summary>
    private sealed record Prepared(Job Job, DocumentInfo Doc, ExtractedDocument Extracted, List<Child> Children, bool HasAttachments, string Summary)
        : IDisposable
    {
        public List<VersionChunks> Targets { get; set; } = [];
        public void Dispose()
        {
            foreach (var c in Children) c.Staged.Dispose();
        }
    }

    /// <summary>
    /// What a batch of jobs reads once instead of once per job: its documents (one read per tenant), and per corpus its
    /// writable index versions and which of the batch's documents have stored vectors in them (a first ingest has none, so
    /// it needs no read of reusable vectors).
    /// </summary>
    private sealed class BatchReads
    {
        private readonly IReadOnlyList<Job> _jobs;
        private readonly Dictionary<(string Tenant, string Id), DocumentInfo> _documents = [];
        public Dictionary<(string Tenant, string Corpus), (CorpusInfo Corpus, IReadOnlyList<IndexVersionInfo> Versions, IReadOnlySet<string> WithVectors)> Corpora { get; } = [];

        private BatchReads(IReadOnlyList<Job> jobs) => _jobs = jobs;

        public static async Task<BatchReads> ReadAsync(IDocumentStore documents, IReadOnlyList<Job> jobs, CancellationToken ct)
        {
            var batch = new BatchReads(jobs);
            foreach (var tenant in jobs.Where(j => j.DocumentId is not null).GroupBy(j => j.TenantId))
                foreach (var (id, doc) in await documents.GetManyAsync(tenant.Key, tenant.Select(j => j.DocumentId!).ToList(), ct).ConfigureAwait(false))
                    batch._documents[(tenant.Key, id)] = doc;
            return batch;
        }

        public DocumentInfo? Document(string tenantId, string documentId) => _documents.GetValueOrDefault((tenantId, documentId));

        /// <summary>The batch's documents in this corpus (the ids its vector read asks about).</summary>
        public List<string> DocumentIds(string tenantId, string corpusId) =>
            _jobs.Where(j => j.TenantId == tenantId && j.CorpusId == corpusId && j.DocumentId is not null).Select(j => j.DocumentId!).Distinct().ToList();
    }

    private async Task<Prepared> PrepareAsync(Job job, BatchReads? batch, CancellationToken ct)
    {
        if (job.DocumentId is not { } documentId || job.CorpusId is null)
            throw new PermanentJobFailure("an ingestion job must name its corpus and document");
        var doc = batch?.Document(job.TenantId, documentId) ?? await documents.GetAsync(job.TenantId, documentId, ct).ConfigureAwait(false)
                  ?? throw new PermanentJobFailure("document no longer exists");
        var extracted = await pipeline.ExtractAsync(doc, ct).ConfigureAwait(false);
        var attachments = extracted.Attachments ?? [];
        var ingestAttachments = extractionOptions.Value.EmlAttachments == "ingest";
        var children = ingestAttachments ? await StageAttachmentsAsync(doc, attachments, ct).ConfigureAwait(false) : [];
        var prepared = new Prepared(job, doc, extracted, children, ingestAttachments && attachments.Count > 0,
            extracted.SummaryJson(ingestAttachments ? null : attachments.Count, children.Select(c => c.Document.DocumentId).ToList()));
        try
        {
            prepared.Targets = await ChunkForVersionsAsync(doc, extracted, prepared.HasAttachments, batch, ct).ConfigureAwait(false);
            return prepared;
        }
        catch
        {
            prepared.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Commits one prepared job. Every index version that receives writes gets the document (the active one, and any
    /// building, ready or retained retired one); if that set changes before the commit, it is chunked again for the new set.
    /// </summary>
    private async Task<JobResult> CommitOneAsync(Prepared p, string workerId, CancellationToken ct)
    {
        for (var round = 1; ; round++)
        {
            try
            {
                using (telemetry.Step("write"))
                    if (!await CommitAsync(p.Job, workerId, p.Doc, p.Targets, p.Summary, p.Children, ct).ConfigureAwait(false)) return JobResult.LeaseLost;
                Written(p);
                if (p.Children.Count > 0) signal.Notify();
                return JobResult.Committed;
            }
            catch (IndexVersionsChangedException ex) when (round < 5)
            {
                logger.LogInformation("Job {JobId}: {Reason}; chunking again for the new set of index versions", p.Job.Id, ex.Message);
                p.Targets = await ChunkForVersionsAsync(p.Doc, p.Extracted, p.HasAttachments, null, ct).ConfigureAwait(false);
            }
        }
    }

    private void Written(Prepared p)
    {
        telemetry.ChunksWritten.Add(p.Targets.Sum(t => t.Chunks.Count));
        logger.LogInformation("Job {JobId}: document {DocumentId} ({Format}) ingested, {Chunks} chunks in {Versions} index version(s), {Children} attachments",
            p.Job.Id, p.Doc.Id, p.Extracted.Format, p.Targets[0].Chunks.Count, p.Targets.Count, p.Children.Count);
    }

    /// <summary>
    /// The document's chunks for each version that receives writes (the active one first), each with its version's model
    /// (the corpus's for the active one; the server's default for a corpus without vectors yet) and chunking. Fails closed,
    /// before spending work, when this server cannot run a version's model. <paramref name="batch"/>: the corpora and
    /// writable versions already read for this batch (the commit checks them again inside its transaction), and which of its
    /// documents have vectors to reuse; null (a retry) reads them afresh.
    /// </summary>
    private async Task<List<VersionChunks>> ChunkForVersionsAsync(DocumentInfo doc, ExtractedDocument extracted, bool hasAttachments,
        BatchReads? batch, CancellationToken ct)
    {
        CorpusInfo corpus;
        IReadOnlyList<IndexVersionInfo> versions;
        var mayReuse = true;
        if (batch is not null && batch.Corpora.TryGetValue((doc.TenantId, doc.CorpusId), out var read))
        {
            (corpus, versions, var withVectors) = read;
            mayReuse = withVectors.Contains(doc.Id);
        }
        else
        {
            corpus = await corpora.GetAsync(doc.TenantId, doc.CorpusId, ct).ConfigureAwait(false)
                     ?? throw new PermanentJobFailure("the document's corpus no longer exists");
            versions = await indexVersions.WritableAsync(doc.TenantId, doc.CorpusId, ct).ConfigureAwait(false);
            if (batch is not null)
            {
                var withVectors = await documents.WithChunkVectorsAsync(doc.TenantId, batch.DocumentIds(doc.TenantId, doc.CorpusId),
                    versions.Select(v => v.Version).ToList(), ct).ConfigureAwait(false);
                batch.Corpora.Add((doc.TenantId, doc.CorpusId), (corpus, versions, withVectors));
                mayReuse = withVectors.Contains(doc.Id);
            }
        }
        var models = versions.Select(v => (v, embedders.ForCorpus(doc.CorpusId, v.Version == corpus.ActiveIndexVersion ? corpus.Embedding : v.Embedding))).ToList();
        var targets = new List<VersionChunks>(versions.Count);
        foreach (var (v, (identity, embedder)) in models)
        {
            var spans = pipeline.Chunk(extracted, doc, v.Chunking);
            if (targets.Count == 0 && spans.Count == 0 && !hasAttachments)
                throw new PermanentJobFailure($"{ExtractionCodes.Empty}: no text could be extracted" + DocumentPipeline.SkippedSummary(extracted));
            IReadOnlyCollection<int> sameModel = mayReuse ? models.Where(m => m.Item2.Identity == identity).Select(m => m.v.Version).ToList() : [];
            var drafts = await pipeline.DraftsAsync(doc, spans, v.Version, identity, embedder, sameModel, ct).ConfigureAwait(false);
            targets.Add(new VersionChunks(v.Version, identity, drafts));
        }
        return targets;
    }

    private sealed record Child(NewDocument Document, StagedOriginal Staged);

    private async Task<List<Child>> StageAttachmentsAsync(DocumentInfo parent, IReadOnlyList<ExtractedAttachment> attachments, CancellationToken ct)
    {
        var children = new List<Child>();
        var max = extractionOptions.Value.MaxAttachments;
        for (var i = 0; i < attachments.Count && i < max; i++)
        {
            var a = attachments[i];
            var staged = await originals.StageAsync(new MemoryStream(a.Content, writable: false), extractionOptions.Value.MaxUploadBytes, ct).ConfigureAwait(false);
            string mediaType;
            await using (var head = staged.OpenRead()) mediaType = MediaTypeDetector.Detect(head, a.DeclaredMediaType, a.Filename);
            if (!extractors.Supports(mediaType) || staged.Length == 0)
            {
                staged.Dispose();
                continue;
            }
            var id = ChildId(parent.Id, i + 1);
            var meta = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["parent_document_id"] = parent.Id, ["attachment_index"] = i + 1, ["attachment_filename"] = a.Filename,
            });
            children.Add(new Child(new NewDocument(parent.TenantId, parent.CorpusId, id, a.Filename is null ? null : Text.Clip(Path.GetFileName(a.Filename), 255),
                mediaType, staged.Length, staged.Sha256, parent.ChunkSizeChars, parent.ChunkOverlapChars, meta), staged));
        }
        return children;
    }

    /// <summary>A child's id: the parent's with <c>:att-N</c>, or a hash of it when that would be too long.</summary>
    private static string ChildId(string parentId, int n)
    {
        var id = $"{parentId}:att-{n}";
        return Identifiers.IsValid(id) ? id : "doc_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)).AsSpan(0, 16));
    }

    private async Task<bool> CommitAsync(Job job, string workerId, DocumentInfo doc, List<VersionChunks> targets, string summary,
        List<Child> children, CancellationToken ct)
    {
        if (children.Count == 0) return await store.CompleteIngestionAsync(job, workerId, targets, summary, ct).ConfigureAwait(false);

        // Each lock stripe once (two attachments whose hashes share a stripe must not wait on themselves).
        using (await originalLocks.AcquireManyAsync(job.TenantId, children.Select(c => c.Document.ContentSha256), ct).ConfigureAwait(false))
        {
            foreach (var c in children) await originals.CommitAsync(job.TenantId, c.Staged, ct).ConfigureAwait(false);
            return await uow.RunAsync(async t =>
            {
                if (!await store.CompleteIngestionAsync(job, workerId, targets, summary, t).ConfigureAwait(false)) return false;
                foreach (var c in children)
                {
                    var r = await documents.UpsertAndEnqueueAsync(c.Document, replaceExisting: true, ingestionOptions.Value.MaxAttempts, t).ConfigureAwait(false);
                    await audit.AppendAsync(new AuditEntry(job.TenantId, "documents.ingest.enqueued", "success", "system", "ingestion",
                        "document", c.Document.DocumentId, null, new Dictionary<string, object?>
                        {
                            ["corpus_id"] = c.Document.CorpusId, ["job_id"] = r.JobId, ["bytes"] = c.Document.SizeBytes,
                            ["media_type"] = c.Document.ContentType, ["parent_document_id"] = doc.Id,
                        }), t).ConfigureAwait(false);
                }
                return true;
            }, ct).ConfigureAwait(false);
        }
    }
}
