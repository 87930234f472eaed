using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Errors;
using NexusRag.Core.Indexing;
using NexusRag.Core.Jobs;

namespace NexusRag.Core.Ingestion;

/// <summary>
/// The steps every writer of chunks shares (ingestion and index-version builds): original → extract (within
/// <c>EXTRACT_TIMEOUT_S</c>) → chunk → embed, with vectors of unchanged text reused.
/// </summary>
public sealed class DocumentPipeline(
    IDocumentStore documents,
    IOriginalStore originals,
    ContentExtractorRegistry extractors,
    IDocumentChunker chunker,
    IOptions<EmbeddingOptions> embeddingOptions,
    IOptions<ExtractionOptions> extractionOptions,
    Observability.NexusInstrumentation telemetry,
    ILogger<DocumentPipeline> logger)
{
    /// <summary>The document's spans under a version's chunking (or the document's own when the version has none).</summary>
    public IReadOnlyList<ChunkSpan> Chunk(ExtractedDocument extracted, DocumentInfo doc, ChunkingSpec? chunking)
    {
        using var step = telemetry.Step("chunk");
        return chunker.Chunk(extracted, chunking?.ChunkSizeChars ?? doc.ChunkSizeChars, chunking?.ChunkOverlapChars ?? doc.ChunkOverlapChars);
    }

    /// <summary>
    /// Chunk drafts of one index version, embedded with <paramref name="embedder"/>. The stored vector of every chunk whose
    /// text is unchanged in <paramref name="reuseFrom"/> (versions holding this model's vectors; keyed by the text's SHA-256,
    /// so moved chunks count too) is reused: only new text is embedded.
    /// </summary>
    public async Task<List<ChunkDraft>> DraftsAsync(DocumentInfo doc, IReadOnlyList<ChunkSpan> spans, int version, EmbeddingIdentity identity,
        IEmbeddingGenerator<string, Embedding<float>> embedder, IReadOnlyCollection<int> reuseFrom, CancellationToken ct)
    {
        var texts = spans.Select(s => s.Text).ToList();
        var vectors = new float[texts.Count][];
        if (reuseFrom.Count > 0 && texts.Count > 0)
        {
            var known = new Dictionary<string, float[]>(StringComparer.Ordinal);
            foreach (var (text, vector) in await documents.GetChunkVectorsAsync(doc.TenantId, doc.Id, reuseFrom, ct).ConfigureAwait(false))
                if (vector.Length == identity.Dimensions) known.TryAdd(TextKey(text), vector);
            if (known.Count > 0) // a first ingest has nothing to reuse: no hash per chunk
                for (var i = 0; i < texts.Count; i++)
                    if (known.TryGetValue(TextKey(texts[i]), out var v)) vectors[i] = v;
        }
        var missing = Enumerable.Range(0, texts.Count).Where(i => vectors[i] is null).ToList();
        if (missing.Count > 0)
        {
            using var step = telemetry.Step("embed");
            var fresh = await EmbeddingBatches.EmbedAsync(embedder, missing.Select(i => texts[i]).ToList(),
                embeddingOptions.Value.BatchSize, identity.Dimensions, ct).ConfigureAwait(false);
            for (var j = 0; j < missing.Count; j++) vectors[missing[j]] = fresh[j];
        }
        if (missing.Count < texts.Count)
            logger.LogDebug("Document {DocumentId} v{Version}: {Reused} of {Total} chunk vectors reused (text unchanged)", doc.Id, version, texts.Count - missing.Count, texts.Count);
        using var documentMetadata = string.IsNullOrEmpty(doc.MetadataJson) ? null : JsonDocument.Parse(doc.MetadataJson); // once per document, not per chunk
        return spans.Select((s, i) => new ChunkDraft(
            SlidingWindowChunker.ChunkId(doc.TenantId, doc.Id, s.Index, s.Text, version),
            s.Index, s.Text, s.Start, s.End, ChunkMetadata(doc, documentMetadata, s), vectors[i])).ToList();

        static string TextKey(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>Opens the original and extracts it within the time budget; every extraction failure is final.</summary>
    public async Task<ExtractedDocument> ExtractAsync(DocumentInfo doc, CancellationToken ct)
    {
        using var step = telemetry.Step("extract");
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

    public static string SkippedSummary(ExtractedDocument d) =>
        d.SkippedPages is { Count: > 0 } skipped
            ? $"; {skipped.Count} page(s) skipped: " + string.Join("; ", skipped.GroupBy(s => s.Reason).Select(g => $"{g.Key} (pages {string.Join(", ", g.Select(s => s.Page).Take(20))})"))
            : "";

    private static string ChunkMetadata(DocumentInfo doc, JsonDocument? documentMetadata, ChunkSpan span)
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
            if (documentMetadata is not null)
            {
                w.WritePropertyName("document");
                documentMetadata.RootElement.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
