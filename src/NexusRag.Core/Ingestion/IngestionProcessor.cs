using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Errors;
using NexusRag.Core.Model;
using NexusRag.Core.Ports;

namespace NexusRag.Core.Ingestion;

/// <summary>
/// Runs one claimed job through the pipeline (extract → chunk → embed → write) and records the outcome.
/// Failures are retried with exponential backoff until <see cref="IngestionOptions.MaxAttempts"/>,
/// then the document ends <c>failed</c> with the reason. An embedding-model mismatch with the corpus is
/// final at once: retrying cannot fix it.
/// </summary>
public sealed class IngestionProcessor(
    IJobQueue queue,
    IDocumentStore documents,
    ContentExtractorRegistry extractors,
    IChunker chunker,
    ICorpusStore corpora,
    IEmbeddingGenerator<string, Embedding<float>> embedder,
    IOptions<IngestionOptions> options,
    IOptions<EmbeddingOptions> embeddingOptions,
    TimeProvider clock,
    ILogger<IngestionProcessor> logger)
{
    public enum Outcome { Succeeded, Retrying, Failed, LeaseLost }

    public async Task<Outcome> ProcessAsync(IngestionJob job, string workerId, CancellationToken ct)
    {
        var opts = options.Value;
        try
        {
            await queue.MarkDocumentProcessingAsync(job, ct).ConfigureAwait(false);
            var doc = await documents.GetAsync(job.TenantId, job.DocumentId, ct).ConfigureAwait(false)
                      ?? throw new ExtractionException("document no longer exists");
            var content = await documents.GetContentAsync(job.TenantId, job.DocumentId, ct).ConfigureAwait(false) ?? [];

            var text = extractors.Extract(content, doc.ContentType);
            var spans = chunker.Chunk(text, doc.ChunkSizeChars, doc.ChunkOverlapChars);

            // Embed: fail closed before spending work if the corpus already holds another model's vectors.
            var identity = EmbeddingIdentity.Of(embedder);
            var corpus = await corpora.GetAsync(job.TenantId, job.CorpusId, ct).ConfigureAwait(false);
            if (corpus?.Embedding is { } recorded && recorded != identity) throw EmbeddingMismatch.Error(job.CorpusId, recorded, identity);
            var vectors = await EmbeddingBatches.EmbedAsync(embedder, spans.Select(s => s.Text).ToList(),
                embeddingOptions.Value.BatchSize, identity.Dimensions, ct).ConfigureAwait(false);

            var drafts = spans.Select((s, i) => new ChunkDraft(
                SlidingWindowChunker.ChunkId(job.TenantId, job.DocumentId, s.Index, s.Text),
                s.Index, s.Text, s.Start, s.End,
                ChunkMetadata(doc, s), vectors[i])).ToList();

            var done = await queue.CompleteAsync(job, workerId, drafts, identity, ct).ConfigureAwait(false);
            if (!done)
            {
                logger.LogWarning("Job {JobId}: lease lost before commit; another worker owns it", job.Id);
                return Outcome.LeaseLost;
            }
            logger.LogInformation("Job {JobId}: document {DocumentId} ingested, {Chunks} chunks", job.Id, job.DocumentId, drafts.Count);
            return Outcome.Succeeded;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw; // shutting down: the lease expires and another worker takes the job over
        }
        catch (Exception ex)
        {
            var reason = ex is ExtractionException or NexusException or EmbeddingProviderException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
            var mismatch = ex is NexusException { Code: ErrorCodes.EmbeddingModelMismatch };
            if (mismatch) reason = $"{ErrorCodes.EmbeddingModelMismatch}: {reason}";
            var final = mismatch || job.Attempts >= opts.MaxAttempts;
            DateTime? retryAt = final
                ? null
                : clock.GetUtcNow().UtcDateTime.AddMilliseconds(opts.RetryBackoffBaseMs * Math.Pow(2, job.Attempts - 1));
            logger.LogWarning(ex, "Job {JobId}: attempt {Attempt}/{Max} failed: {Reason}", job.Id, job.Attempts, opts.MaxAttempts, reason);
            var recorded = await queue.FailAttemptAsync(job, workerId, Truncate(reason, 1000), retryAt, CancellationToken.None).ConfigureAwait(false);
            if (!recorded) return Outcome.LeaseLost;
            return final ? Outcome.Failed : Outcome.Retrying;
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

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}
