using System.Text.Json;
using NexusRag.Core.Documents;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

/// <summary>
/// The document page (<c>GET /v1/documents</c>) written straight to the response with a <see cref="Utf8JsonWriter"/>:
/// the same envelope, property names, order and values as <c>Envelope&lt;PagedItems&lt;DocumentDto&gt;&gt;</c> through
/// <see cref="ApiJson.Options"/> (the OpenAPI document still describes that type), without building a DTO per document
/// or parsing its stored JSON columns (metadata, extraction, labels) into elements: they are copied as JSON values,
/// validated on the way. The hottest list of the API; measured in <c>bench … reads</c>.
/// </summary>
public sealed class DocumentPageResult(IReadOnlyList<DocumentInfo> items, string? nextCursor, bool hasMore) : IResult
{
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = ApiJson.Options.Encoder };

    public async Task ExecuteAsync(HttpContext ctx)
    {
        ctx.Response.StatusCode = StatusCodes.Status200OK;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        await using (var w = new Utf8JsonWriter(ctx.Response.BodyWriter, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteStartObject("data");
            w.WriteStartArray("items");
            foreach (var d in items) DocumentJson.Write(w, d);
            w.WriteEndArray();
            w.WriteStartObject("page");
            w.WriteString("next_cursor", nextCursor);
            w.WriteBoolean("has_more", hasMore);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("meta");
            w.WriteString("request_id", RequestIdMiddleware.Get(ctx));
            w.WriteString("api_version", "v1");
            w.WriteEndObject();
            w.WriteEndObject();
            await w.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
        }
        await ctx.Response.BodyWriter.FlushAsync(ctx.RequestAborted).ConfigureAwait(false);
    }
}

public static class DocumentJson
{
    /// <summary>One document as <see cref="DocumentDto"/> serialises it.</summary>
    public static void Write(Utf8JsonWriter w, DocumentInfo d)
    {
        w.WriteStartObject();
        w.WriteString("id", d.Id);
        w.WriteString("corpus_id", d.CorpusId);
        w.WriteString("filename", d.Filename);
        w.WriteString("content_type", d.ContentType);
        w.WriteNumber("size_bytes", d.SizeBytes);
        w.WriteString("content_sha256", d.ContentSha256);
        w.WriteString("status", d.Status);
        w.WriteString("failure_reason", d.FailureReason);
        w.WriteNumber("num_chunks", d.NumChunks);
        w.WriteNumber("chunk_size_chars", d.ChunkSizeChars);
        w.WriteNumber("chunk_overlap_chars", d.ChunkOverlapChars);
        Raw(w, "metadata", d.MetadataJson);
        w.WriteString("last_job_id", d.LastJobId);
        w.WriteString("created_at", d.CreatedAt);
        w.WriteString("updated_at", d.UpdatedAt);
        Time(w, "queued_at", d.QueuedAt);
        Time(w, "processing_started_at", d.ProcessingStartedAt);
        Time(w, "completed_at", d.CompletedAt);
        Time(w, "failed_at", d.FailedAt);
        Time(w, "last_reindexed_at", d.LastReindexedAt);
        Raw(w, "extraction", d.ExtractionJson);
        Raw(w, "labels", d.LabelsJson);
        Time(w, "anonymized_at", d.AnonymizedAt);
        w.WriteEndObject();
    }

    private static void Time(Utf8JsonWriter w, string name, DateTime? value)
    {
        if (value is { } t) w.WriteString(name, t);
        else w.WriteNull(name);
    }

    private static void Raw(Utf8JsonWriter w, string name, string? json)
    {
        w.WritePropertyName(name);
        if (json is null) w.WriteNullValue();
        else w.WriteRawValue(json); // validated: stored JSON that is not JSON fails here, as parsing it would
    }
}
