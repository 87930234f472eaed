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
    IDocumentChunker chunker,
    ICorpusStore corpora,
    IEmbedderRegistry embedders,
    IOptions<EmbeddingOptions> embeddingOptions,
    IOptions<ExtractionOptions> extractionOptions,
    IOptions<IngestionOptions> ingestionOptions,
    IJobSignal signal,
    ILogger<IngestionJobHandler> logger) : IJobHandler
{
    public IReadOnlyCollection<string> Kinds { get; } = [JobKind.Ingest, JobKind.Reindex];

    public string? HeldBy => Governance.KillSwitches.Ingest;

    public async Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
    {
        if (job.DocumentId is not { } documentId || job.CorpusId is not { } corpusId)
            throw new PermanentJobFailure("an ingestion job must name its corpus and document");
        try
        {
            await store.MarkDocumentProcessingAsync(job, ct).ConfigureAwait(false);
            var doc = await documents.GetAsync(job.TenantId, documentId, ct).ConfigureAwait(false)
                      ?? throw new PermanentJobFailure("document no longer exists");

            var extracted = await ExtractAsync(doc, ct).ConfigureAwait(false);
            var spans = chunker.Chunk(extracted, doc.ChunkSizeChars, doc.ChunkOverlapChars);
            var attachments = extracted.Attachments ?? [];
            var ingestAttachments = extractionOptions.Value.EmlAttachments == "ingest";
            if (spans.Count == 0 && !(ingestAttachments && attachments.Count > 0))
                throw new PermanentJobFailure($"{ExtractionCodes.Empty}: no text could be extracted" + SkippedSummary(extracted));

            // Embed with the corpus's own model (the server's default for a corpus without vectors yet); fail closed
            // before spending work when this server cannot run it.
            var corpus = await corpora.GetAsync(job.TenantId, corpusId, ct).ConfigureAwait(false);
            var (identity, embedder) = embedders.ForCorpus(corpusId, corpus?.Embedding);
            var vectors = await EmbedAsync(embedder, job.TenantId, documentId, spans.Select(s => s.Text).ToList(), identity,
                reuse: corpus?.Embedding == identity, ct).ConfigureAwait(false);

            var drafts = spans.Select((s, i) => new ChunkDraft(
                SlidingWindowChunker.ChunkId(job.TenantId, documentId, s.Index, s.Text),
                s.Index, s.Text, s.Start, s.End,
                ChunkMetadata(doc, s), vectors[i])).ToList();

            var children = ingestAttachments ? await StageAttachmentsAsync(doc, attachments, ct).ConfigureAwait(false) : [];
            try
            {
                var summary = extracted.SummaryJson(ingestAttachments ? null : attachments.Count, children.Select(c => c.Document.DocumentId).ToList());
                var committed = await CommitAsync(job, workerId, doc, drafts, identity, summary, children, ct).ConfigureAwait(false);
                if (!committed) return JobResult.LeaseLost;
            }
            finally
            {
                foreach (var c in children) c.Staged.Dispose();
            }
            if (children.Count > 0) signal.Notify();
            logger.LogInformation("Job {JobId}: document {DocumentId} ({Format}) ingested, {Chunks} chunks, {Children} attachments",
                job.Id, documentId, extracted.Format, drafts.Count, children.Count);
            return JobResult.Committed;
        }
        catch (NexusException ex) when (ex.Code == ErrorCodes.EmbeddingModelMismatch)
        {
            throw new PermanentJobFailure($"{ErrorCodes.EmbeddingModelMismatch}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Embeds the chunk texts. A re-ingest reuses the stored vector of every chunk whose text is unchanged (keyed by the
    /// text's SHA-256, so moved chunks count too) when the corpus holds this model's vectors: only new text is embedded.
    /// </summary>
    private async Task<float[][]> EmbedAsync(IEmbeddingGenerator<string, Embedding<float>> embedder, string tenantId, string documentId, List<string> texts, EmbeddingIdentity identity, bool reuse, CancellationToken ct)
    {
        var vectors = new float[texts.Count][];
        if (reuse && texts.Count > 0)
        {
            var known = new Dictionary<string, float[]>(StringComparer.Ordinal);
            foreach (var (text, vector) in await documents.GetChunkVectorsAsync(tenantId, documentId, ct).ConfigureAwait(false))
                if (vector.Length == identity.Dimensions) known.TryAdd(TextKey(text), vector);
            for (var i = 0; i < texts.Count; i++)
                if (known.TryGetValue(TextKey(texts[i]), out var v)) vectors[i] = v;
        }
        var missing = Enumerable.Range(0, texts.Count).Where(i => vectors[i] is null).ToList();
        if (missing.Count > 0)
        {
            var fresh = await EmbeddingBatches.EmbedAsync(embedder, missing.Select(i => texts[i]).ToList(),
                embeddingOptions.Value.BatchSize, identity.Dimensions, ct).ConfigureAwait(false);
            for (var j = 0; j < missing.Count; j++) vectors[missing[j]] = fresh[j];
        }
        if (missing.Count < texts.Count)
            logger.LogDebug("Document {DocumentId}: {Reused} of {Total} chunk vectors reused (text unchanged)", documentId, texts.Count - missing.Count, texts.Count);
        return vectors;

        static string TextKey(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>Opens the original and extracts it within the time budget; every extraction failure is final.</summary>
    private async Task<ExtractedDocument> ExtractAsync(DocumentInfo doc, CancellationToken ct)
    {
        var options = extractionOptions.Value;
        var stream = await originals.OpenReadAsync(doc.TenantId, doc.ContentSha256, ct).ConfigureAwait(false);
        if (stream is null && await documents.GetLegacyContentAsync(doc.TenantId, doc.Id, ct).ConfigureAwait(false) is { } legacy)
            stream = new MemoryStream(legacy, writable: false);
        if (stream is null) throw new PermanentJobFailure($"{ExtractionCodes.OriginalMissing}: the original file of this document is not in the original store");

        await using (stream)
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
            budget.CancelAfter(TimeSpan.FromSeconds(options.TimeoutSeconds));
            try
            {
                // Parsers are synchronous and may be slow on hostile input: run off the job loop, give up at the budget.
                var context = new ExtractionContext(doc.ContentType, doc.Filename, options);
                return await Task.Run(() => extractors.ExtractAsync(stream, context, budget.Token), budget.Token)
                    .WaitAsync(budget.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new PermanentJobFailure($"{ExtractionCodes.Timeout}: extraction took longer than {options.TimeoutSeconds} s (EXTRACT_TIMEOUT_S)");
            }
            catch (ExtractionException ex)
            {
                throw new PermanentJobFailure(ex.Message, ex);
            }
            catch (NexusException ex) when (ex.Code == ErrorCodes.UnsupportedMediaType)
            {
                throw new PermanentJobFailure($"{ExtractionCodes.Unsupported}: {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException and not IOException)
            {
                // A parser that threw on malformed input: the file is damaged, and will be on every retry.
                logger.LogInformation(ex, "Document {DocumentId}: extraction failed", doc.Id);
                throw new PermanentJobFailure($"{ExtractionCodes.Corrupt}: the file could not be read as {doc.ContentType} ({ex.GetType().Name}: {Text.Clip(ex.Message, 200)})", ex);
            }
        }
    }

    private static string SkippedSummary(ExtractedDocument d) =>
        d.SkippedPages is { Count: > 0 } skipped
            ? $"; {skipped.Count} page(s) skipped: " + string.Join("; ", skipped.GroupBy(s => s.Reason).Select(g => $"{g.Key} (pages {string.Join(", ", g.Select(s => s.Page).Take(20))})"))
            : "";

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

    private async Task<bool> CommitAsync(Job job, string workerId, DocumentInfo doc, List<ChunkDraft> drafts, EmbeddingIdentity identity, string summary,
        List<Child> children, CancellationToken ct)
    {
        if (children.Count == 0) return await store.CompleteIngestionAsync(job, workerId, drafts, identity, summary, ct).ConfigureAwait(false);

        var locks = new List<IDisposable>();
        try
        {
            foreach (var sha in children.Select(c => c.Document.ContentSha256).Distinct().Order(StringComparer.Ordinal))
                locks.Add(await originalLocks.AcquireAsync(job.TenantId, sha, ct).ConfigureAwait(false));
            foreach (var c in children) await originals.CommitAsync(job.TenantId, c.Staged, ct).ConfigureAwait(false);
            return await uow.RunAsync(async t =>
            {
                if (!await store.CompleteIngestionAsync(job, workerId, drafts, identity, summary, t).ConfigureAwait(false)) return false;
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
        finally
        {
            foreach (var l in locks) l.Dispose();
        }
    }

    private static string ChunkMetadata(DocumentInfo doc, ChunkSpan span)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("start_offset", span.Start);
            w.WriteNumber("end_offset", span.End);
            span.Location?.WriteTo(w);
            if (doc.Filename is not null) w.WriteString("filename", doc.Filename);
            w.WriteString("content_type", doc.ContentType);
            if (!string.IsNullOrEmpty(doc.MetadataJson))
            {
                w.WritePropertyName("document");
                using var meta = JsonDocument.Parse(doc.MetadataJson);
                meta.RootElement.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
