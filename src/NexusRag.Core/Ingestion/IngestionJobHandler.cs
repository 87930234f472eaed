using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Errors;
using NexusRag.Core.Jobs;

namespace NexusRag.Core.Ingestion;

/// <summary>
/// The handler of ingest and re-index jobs: extract → chunk → embed → write, committed atomically with the job's
/// completion. Held while <c>kill.ingest</c> is on. An embedding-model mismatch with the corpus is final at once
/// (retrying cannot fix it); other failures are retried by the job runner.
/// </summary>
public sealed class IngestionJobHandler(
    IIngestionJobStore store,
    IDocumentStore documents,
    ContentExtractorRegistry extractors,
    IChunker chunker,
    ICorpusStore corpora,
    IEmbeddingGenerator<string, Embedding<float>> embedder,
    IOptions<EmbeddingOptions> embeddingOptions,
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
                      ?? throw new ExtractionException("document no longer exists");
            var content = await documents.GetContentAsync(job.TenantId, documentId, ct).ConfigureAwait(false) ?? [];

            var text = extractors.Extract(content, doc.ContentType);
            var spans = chunker.Chunk(text, doc.ChunkSizeChars, doc.ChunkOverlapChars);

            // Embed: fail closed before spending work if the corpus already holds another model's vectors.
            var identity = EmbeddingIdentity.Of(embedder);
            var corpus = await corpora.GetAsync(job.TenantId, corpusId, ct).ConfigureAwait(false);
            if (corpus?.Embedding is { } recorded && recorded != identity) throw EmbeddingMismatch.Error(corpusId, recorded, identity);
            var vectors = await EmbeddingBatches.EmbedAsync(embedder, spans.Select(s => s.Text).ToList(),
                embeddingOptions.Value.BatchSize, identity.Dimensions, ct).ConfigureAwait(false);

            var drafts = spans.Select((s, i) => new ChunkDraft(
                SlidingWindowChunker.ChunkId(job.TenantId, documentId, s.Index, s.Text),
                s.Index, s.Text, s.Start, s.End,
                ChunkMetadata(doc, s), vectors[i])).ToList();

            if (!await store.CompleteIngestionAsync(job, workerId, drafts, identity, ct).ConfigureAwait(false)) return JobResult.LeaseLost;
            logger.LogInformation("Job {JobId}: document {DocumentId} ingested, {Chunks} chunks", job.Id, documentId, drafts.Count);
            return JobResult.Committed;
        }
        catch (NexusException ex) when (ex.Code == ErrorCodes.EmbeddingModelMismatch)
        {
            throw new PermanentJobFailure($"{ErrorCodes.EmbeddingModelMismatch}: {ex.Message}", ex);
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
