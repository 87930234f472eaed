using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Net.Http.Headers;
using NexusRag.Core.Auth;
using NexusRag.Core.Documents;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Ingestion;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using NexusRag.Core.Pagination;
using NexusRag.Core.Services;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class IngestTextRequest
{
    public string? CorpusId { get; set; }
    public string? Text { get; set; }
    public string? DocumentId { get; set; }
    public string? Filename { get; set; }
    public bool? Overwrite { get; set; }
    public JsonElement? Metadata { get; set; }
    public int? ChunkSizeChars { get; set; }
    public int? ChunkOverlapChars { get; set; }
    /// <summary>ABAC labels, e.g. <c>{"sensitivity": "high", "teams": ["legal"]}</c>.</summary>
    public JsonElement? Labels { get; set; }
}

public sealed class PatchDocumentRequest
{
    /// <summary>Replaces the labels; <c>null</c> clears them (required: a PATCH without it changes nothing and is refused).</summary>
    public JsonElement Labels { get; set; }
}

public sealed class ReindexRequest
{
    public int? ChunkSizeChars { get; set; }
    public int? ChunkOverlapChars { get; set; }
}

public sealed record DocumentDto(
    string Id, string CorpusId, string? Filename, string ContentType, long SizeBytes, string ContentSha256, string Status,
    string? FailureReason, int NumChunks, int ChunkSizeChars, int ChunkOverlapChars, JsonElement? Metadata, string? LastJobId,
    DateTime CreatedAt, DateTime UpdatedAt, DateTime? QueuedAt, DateTime? ProcessingStartedAt, DateTime? CompletedAt,
    DateTime? FailedAt, DateTime? LastReindexedAt, JsonElement? Extraction, JsonElement? Labels, DateTime? AnonymizedAt)
{
    public static DocumentDto From(DocumentInfo d) =>
        new(d.Id, d.CorpusId, d.Filename, d.ContentType, d.SizeBytes, d.ContentSha256, d.Status, d.FailureReason,
            d.NumChunks, d.ChunkSizeChars, d.ChunkOverlapChars, Parse(d.MetadataJson), d.LastJobId, d.CreatedAt, d.UpdatedAt, d.QueuedAt,
            d.ProcessingStartedAt, d.CompletedAt, d.FailedAt, d.LastReindexedAt, Parse(d.ExtractionJson), Parse(d.LabelsJson), d.AnonymizedAt);

    private static JsonElement? Parse(string? json) => json is null ? null : JsonElement.Parse(json); // one parse, no clone of a document
}

public sealed record AcceptedDto(string DocumentId, string CorpusId, string JobId, string Status, string StatusUrl, bool Deduplicated);

/// <summary>One item of a batch: <c>result</c> <c>accepted</c> | <c>deduplicated</c> | <c>failed</c>, the status its own request would have had, and the error of a failed one.</summary>
public sealed record BatchItemDto(int Index, string? DocumentId, string Result, int Status, string? JobId, string? DocumentStatus, ErrorBody? Error);

public sealed record BatchResultDto(int Items, int Accepted, int Deduplicated, int Failed, IReadOnlyList<BatchItemDto> Results);

public sealed record ChunkDto(string Id, string DocumentId, int ChunkIndex, string Text, int StartOffset, int EndOffset, JsonElement Metadata, long Seq)
{
    public static ChunkDto From(ChunkInfo c)
    {
        using var doc = JsonDocument.Parse(c.MetadataJson);
        return new(c.Id, c.DocumentId, c.ChunkIndex, c.Text, c.StartOffset, c.EndOffset, doc.RootElement.Clone(), c.Seq);
    }
}

public static class DocumentsApi
{
    private static readonly HashSet<string> FormFields = ["corpus_id", "document_id", "overwrite", "chunk_size_chars", "chunk_overlap_chars", "labels"];
    private static readonly HashSet<string> ListParams = ["corpus_id", "status", "limit", "cursor"];

    public static RouteGroupBuilder MapDocumentsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/documents").WithTags("Documents").WithAuditCategory("documents");
        g.MapPost("/", Upload).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency().RequireNotKilled(KillSwitches.Ingest, "Document ingestion").WithMetadata(new Bulkhead(Bulkhead.Ingest)).DisableAntiforgery()
            .WithFileUpload().Accepts<IFormFile>("multipart/form-data").Produces<Envelope<AcceptedDto>>(202)
            .WithSummary("Upload a file (PDF, DOCX, PPTX, XLSX, HTML, CSV, EML, PNG/JPEG/TIFF, text, markdown, JSON); its type is detected from its bytes.");
        g.MapPost("/text", IngestText).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency().RequireNotKilled(KillSwitches.Ingest, "Document ingestion").WithMetadata(new Bulkhead(Bulkhead.Ingest)).Accepts<IngestTextRequest>("application/json").Produces<Envelope<AcceptedDto>>(202);
        g.MapPost("/batch", Batch).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency().RequireNotKilled(KillSwitches.Ingest, "Document ingestion").WithMetadata(new Bulkhead(Bulkhead.Ingest))
            .Accepts<IReadOnlyList<IngestTextRequest>>("application/json", "application/x-ndjson").Produces<Envelope<BatchResultDto>>()
            .WithSummary("Ingest up to 1,000 text documents (JSON array or NDJSON); per-item results, partial failure allowed, idempotent per document_id.");
        g.MapGet("/", List).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<PagedItems<DocumentDto>>>();
        g.MapGet("/{id}", Get).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<DocumentDto>>();
        g.MapGet("/{id}/content", Content).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read)
            .Produces(200, contentType: "application/octet-stream").WithSummary("Download the document's original file, as uploaded.");
        g.MapGet("/{id}/chunks", Chunks).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<ChunkDto>>>();
        g.MapPost("/{id}/reindex", Reindex).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency().RequireNotKilled(KillSwitches.Ingest, "Document ingestion").WithMetadata(new Bulkhead(Bulkhead.Ingest)).Accepts<ReindexRequest>("application/json").Produces<Envelope<AcceptedDto>>(202);
        g.MapPatch("/{id}", Patch).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<PatchDocumentRequest>("application/json").Produces<Envelope<DocumentDto>>().WithSummary("Set the document's ABAC labels (write permission).");
        g.MapDelete("/{id}", Delete).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency().Produces<Envelope<DeletedDto>>();
        return g;
    }

    /// <summary>
    /// Streams the multipart body: the file part goes straight to the original store's staging area (hashed on the way,
    /// at most <c>MAX_UPLOAD_BYTES</c>), never into memory; the small form fields are read as text.
    /// </summary>
    private static async Task<IResult> Upload(HttpContext ctx, DocumentService service, IOriginalStore originals, IOptions<ExtractionOptions> extraction)
    {
        if (!MediaTypeHeaderValue.TryParse(ctx.Request.ContentType, out var contentType)
            || !contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            throw new NexusException(ErrorKind.UnsupportedMediaType, ErrorCodes.UnsupportedMediaType, "Content-Type must be multipart/form-data with a 'file' part");
        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary) || boundary.Length > 200) throw new NexusException(ErrorKind.BadRequest, ErrorCodes.BadRequest, "Malformed multipart body: no boundary");

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        var unknown = new List<string>();
        StagedOriginal? staged = null;
        string? fileName = null, fileType = null;
        var fileParts = 0;
        try
        {
            try
            {
                var reader = new MultipartReader(boundary, ctx.Request.Body);
                while (await reader.ReadNextSectionAsync(ctx.RequestAborted) is { } section)
                {
                    if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.IsFormDisposition() && !disposition.IsFileDisposition())
                        throw new NexusException(ErrorKind.BadRequest, ErrorCodes.BadRequest, "Malformed multipart body: a part has no form-data Content-Disposition");
                    var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                    if (name == "file")
                    {
                        if (++fileParts > 1 || !disposition.IsFileDisposition()) { await section.Body.CopyToAsync(Stream.Null, ctx.RequestAborted); continue; }
                        fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                        fileType = section.ContentType;
                        staged = await originals.StageAsync(section.Body, extraction.Value.MaxUploadBytes, ctx.RequestAborted);
                    }
                    else if (FormFields.Contains(name) && !disposition.IsFileDisposition())
                    {
                        fields[name] = await ReadFieldAsync(section.Body, ctx.RequestAborted);
                    }
                    else
                    {
                        unknown.Add(name);
                        await section.Body.CopyToAsync(Stream.Null, ctx.RequestAborted);
                    }
                }
            }
            catch (OriginalTooLargeException ex)
            {
                throw new NexusException(ErrorKind.PayloadTooLarge, ErrorCodes.PayloadTooLarge, $"The file exceeds the upload limit of {ex.MaxBytes} bytes (MAX_UPLOAD_BYTES)",
                    new Dictionary<string, object?> { ["max_bytes"] = ex.MaxBytes });
            }
            catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                throw BodySizeLimitMiddleware.TooLarge(extraction.Value.MaxUploadBytes);
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException && !ctx.RequestAborted.IsCancellationRequested)
            {
                throw new NexusException(ErrorKind.BadRequest, ErrorCodes.BadRequest, "Malformed multipart body");
            }

            unknown = unknown.Distinct().ToList();
            if (unknown.Any(k => k.Equals("tenant_id", StringComparison.OrdinalIgnoreCase)))
                throw new NexusException(ErrorKind.BadRequest, ErrorCodes.TenantIdNotAllowed, "tenant_id must not be sent; the tenant comes from the API key");
            if (unknown.Count > 0)
                throw new NexusException(ErrorKind.BadRequest, ErrorCodes.UnknownField, $"Unknown form field(s): {string.Join(", ", unknown.Take(10).Select(k => Text.Clip(k)))}",
                    new Dictionary<string, object?> { ["fields"] = unknown.Take(50).Select(k => Text.Clip(k)).ToArray() });

            var errors = new Dictionary<string, string[]>();
            if (staged is null || fileParts != 1) errors["file"] = ["exactly one file part named 'file' is required"];
            var corpusId = fields.GetValueOrDefault("corpus_id") ?? "";
            if (corpusId.Length == 0) errors["corpus_id"] = ["is required"];
            var overwrite = ParseBool(fields.GetValueOrDefault("overwrite") ?? "", "overwrite", errors);
            var size = ParseInt(fields.GetValueOrDefault("chunk_size_chars") ?? "", "chunk_size_chars", errors);
            var overlap = ParseInt(fields.GetValueOrDefault("chunk_overlap_chars") ?? "", "chunk_overlap_chars", errors);
            var documentId = fields.GetValueOrDefault("document_id") is { Length: > 0 } d ? d : null;
            string? labels = null;
            if (fields.GetValueOrDefault("labels") is { Length: > 0 } rawLabels)
            {
                try
                {
                    using var parsed = JsonDocument.Parse(rawLabels);
                    labels = Core.Authorization.DocumentAuthorizer.NormalizeLabels(parsed.RootElement, out var labelError);
                    if (labelError is not null) errors["labels"] = [labelError];
                }
                catch (JsonException) { errors["labels"] = ["must be a JSON object"]; }
            }
            if (errors.Count > 0) throw NexusException.Validation(errors);

            var filename = Path.GetFileName(fileName ?? "");
            var declared = MediaTypeHeaderValue.TryParse(fileType, out var mt) ? mt.MediaType.Value?.ToLowerInvariant() : null;
            var result = await service.IngestAsync(ctx.GetPrincipal(),
                new IngestRequest(corpusId, documentId, filename.Length == 0 ? null : filename, declared, staged!, overwrite ?? false, size, overlap, null, labels),
                RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
            return Accepted(ctx, result);
        }
        finally
        {
            staged?.Dispose();
        }
    }

    /// <summary>A form field's value (UTF-8, at most 4 KiB).</summary>
    private static async Task<string> ReadFieldAsync(Stream body, CancellationToken ct)
    {
        var buffer = new byte[4097];
        var n = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
        if (n > 4096) throw new NexusException(ErrorKind.BadRequest, ErrorCodes.BadRequest, "A form field is longer than 4 KiB");
        return System.Text.Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>The original file as uploaded, with its detected media type; served as an attachment so a browser never renders it.</summary>
    private static async Task<IResult> Content(HttpContext ctx, string id, DocumentService service)
    {
        var (doc, stream) = await service.OpenOriginalAsync(ctx.GetPrincipal(), id, ctx.RequestAborted);
        var name = doc.Filename ?? doc.Id + (MediaTypes.ExtensionOf(doc.ContentType) ?? "");
        ctx.Response.Headers.XContentTypeOptions = "nosniff";
        ctx.Response.Headers.ContentSecurityPolicy = "sandbox; default-src 'none'";
        ctx.Response.Headers.ETag = $"\"{doc.ContentSha256}\"";
        return Results.Stream(stream, doc.ContentType, name, enableRangeProcessing: stream.CanSeek);
    }

    private static async Task<IResult> IngestText(HttpContext ctx, DocumentService service)
    {
        var body = await JsonBody.ReadAsync<IngestTextRequest>(ctx.Request);
        return Accepted(ctx, await IngestTextItemAsync(ctx, body, service));
    }

    /// <summary>Validates and ingests one <c>/v1/documents/text</c> body.</summary>
    private static Task<EnqueueResult> IngestTextItemAsync(HttpContext ctx, IngestTextRequest body, DocumentService service)
    {
        var (metadata, filename, labels) = ValidateText(body);
        return service.IngestBytesAsync(ctx.GetPrincipal(), body.CorpusId!, body.DocumentId, filename, MediaTypes.Text, Encoding.UTF8.GetBytes(body.Text!),
            body.Overwrite ?? false, body.ChunkSizeChars, body.ChunkOverlapChars, metadata, RequestIdMiddleware.Get(ctx), ctx.RequestAborted, labels);
    }

    /// <summary>The checks of a <c>/v1/documents/text</c> body (also each item of a batch): metadata, file name and labels to store.</summary>
    private static (string? Metadata, string? Filename, string? Labels) ValidateText(IngestTextRequest body)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrEmpty(body.CorpusId)) errors["corpus_id"] = ["is required"];
        if (body.Text is null) errors["text"] = ["is required"];
        else if (string.IsNullOrWhiteSpace(body.Text)) errors["text"] = ["must not be empty"];
        var labels = Core.Authorization.DocumentAuthorizer.NormalizeLabels(body.Labels, out var labelError);
        if (labelError is not null) errors["labels"] = [labelError];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        return (DocumentService.SerializeMetadata(body.Metadata), body.Filename is null ? null : Path.GetFileName(body.Filename), labels);
    }

    /// <summary>At most this many documents per <c>POST /v1/documents/batch</c>.</summary>
    public const int MaxBatchItems = 1000;

    /// <summary>
    /// Bulk loads: up to <see cref="MaxBatchItems"/> documents of the <c>/v1/documents/text</c> shape, as a JSON array or
    /// NDJSON (<c>application/x-ndjson</c>, one object per line). Each item stands alone: a bad or refused item is reported
    /// with the code and status its own request would have got, and the others go on. Every item needs a
    /// <c>document_id</c>, which makes a retried batch idempotent: an unchanged document answers <c>deduplicated</c>, a
    /// changed one <c>DOCUMENT_EXISTS</c> unless <c>overwrite</c>.
    /// </summary>
    private static async Task<IResult> Batch(HttpContext ctx, DocumentService service)
    {
        var items = new List<JsonElement>();
        var ndjson = ctx.Request.ContentType?.Split(';')[0].Trim().ToLowerInvariant() is "application/x-ndjson" or "application/jsonl" or "application/ndjson";
        if (ndjson)
        {
            using var reader = new StreamReader(ctx.Request.Body, Encoding.UTF8);
            var line = 0;
            while (await reader.ReadLineAsync(ctx.RequestAborted) is { } text)
            {
                line++;
                if (string.IsNullOrWhiteSpace(text)) continue;
                if (items.Count == MaxBatchItems) throw TooManyItems(items.Count + 1);
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    items.Add(doc.RootElement.Clone());
                }
                catch (JsonException)
                {
                    throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, $"Line {line} is not a JSON object", new Dictionary<string, object?> { ["line"] = line });
                }
            }
        }
        else
        {
            if (!ctx.Request.HasJsonContentType())
                throw new NexusException(ErrorKind.UnsupportedMediaType, ErrorCodes.UnsupportedMediaType, "Content-Type must be application/json (an array) or application/x-ndjson");
            JsonDocument parsed;
            try
            {
                parsed = await JsonDocument.ParseAsync(ctx.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, ctx.RequestAborted);
            }
            catch (JsonException)
            {
                throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, "Malformed JSON body");
            }
            using var doc = parsed;
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, "The body must be a JSON array of documents (or NDJSON with Content-Type application/x-ndjson)");
            if (doc.RootElement.GetArrayLength() > MaxBatchItems) throw TooManyItems(doc.RootElement.GetArrayLength());
            items.AddRange(doc.RootElement.EnumerateArray().Select(e => e.Clone()));
        }
        if (items.Count == 0) throw NexusException.Validation("documents", "the batch is empty");

        // Each item is checked and staged alone (a bad one fails alone); the good ones are enqueued together, in one transaction.
        var failed = new Dictionary<int, (string? DocumentId, NexusException Error)>();
        var accepted = new List<(int Index, IngestRequest Request)>(items.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            for (var i = 0; i < items.Count; i++)
            {
                string? documentId = null;
                try
                {
                    var body = JsonBody.Bind<IngestTextRequest>(items[i]);
                    documentId = body.DocumentId;
                    if (string.IsNullOrEmpty(documentId)) throw NexusException.Validation("document_id", "is required in a batch (it makes a retried batch idempotent)");
                    if (!seen.Add(documentId)) throw NexusException.Validation("document_id", "appears more than once in this batch");
                    var (metadata, filename, labels) = ValidateText(body);
                    var staged = await service.StageAsync(Encoding.UTF8.GetBytes(body.Text!), ctx.RequestAborted);
                    accepted.Add((i, new IngestRequest(body.CorpusId!, documentId, filename, MediaTypes.Text, staged, body.Overwrite ?? false,
                        body.ChunkSizeChars, body.ChunkOverlapChars, metadata, labels)));
                }
                catch (NexusException ex) { failed[i] = (documentId, ex); }
            }
            var outcomes = accepted.Count == 0 ? []
                : await service.IngestManyAsync(ctx.GetPrincipal(), accepted.Select(a => a.Request).ToList(), RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
            for (var k = 0; k < accepted.Count; k++)
                if (outcomes[k].Error is { } error) failed[accepted[k].Index] = (accepted[k].Request.DocumentId, error);

            var results = new List<BatchItemDto>(items.Count);
            var byIndex = accepted.Select((a, k) => (a.Index, Outcome: outcomes[k])).ToDictionary(x => x.Index, x => x.Outcome);
            for (var i = 0; i < items.Count; i++)
            {
                if (failed.TryGetValue(i, out var f))
                    results.Add(new BatchItemDto(i, f.DocumentId, "failed", ErrorEnvelopeMiddleware.StatusOf(f.Error.Kind), null, null, new ErrorBody(f.Error.Code, f.Error.Message, f.Error.Details)));
                else if (byIndex[i].Result is { } r)
                    results.Add(new BatchItemDto(i, r.Document.Id, r.Deduplicated ? "deduplicated" : "accepted", 202, r.JobId, r.Document.Status, null));
            }
            return ApiResults.Ok(ctx, new BatchResultDto(results.Count, results.Count(r => r.Result == "accepted"), results.Count(r => r.Result == "deduplicated"),
                results.Count(r => r.Result == "failed"), results));
        }
        finally
        {
            foreach (var (_, request) in accepted) request.Content.Dispose();
        }
    }

    private static NexusException TooManyItems(int count) =>
        new(ErrorKind.PayloadTooLarge, ErrorCodes.PayloadTooLarge, $"A batch holds at most {MaxBatchItems} documents",
            new Dictionary<string, object?> { ["max_items"] = MaxBatchItems, ["items"] = count });

    private static async Task<IResult> List(HttpContext ctx, IDocumentStore store, CursorCodec cursors, Core.Authorization.DocumentAuthorizer authorizer)
    {
        var q = ctx.Request.Query;
        var unknown = q.Keys.Where(k => !ListParams.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.UnknownField, $"Unknown query parameter(s): {string.Join(", ", unknown.Take(10).Select(k => Text.Clip(k)))}",
                new Dictionary<string, object?> { ["fields"] = unknown.Take(50).Select(k => Text.Clip(k)).ToArray(), ["allowed"] = ListParams.Order().ToArray() });

        var errors = new Dictionary<string, string[]>();
        var limit = 25;
        if (q["limit"].ToString() is { Length: > 0 } rawLimit)
        {
            if (!int.TryParse(rawLimit, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 100)
                errors["limit"] = ["must be an integer between 1 and 100"];
        }
        var status = q["status"].ToString() is { Length: > 0 } s ? s : null;
        if (status is not null && !DocumentStatus.All.Contains(status)) errors["status"] = [$"must be one of {string.Join(", ", DocumentStatus.All)}"];
        var corpusId = q["corpus_id"].ToString() is { Length: > 0 } c ? c : null;
        if (corpusId is not null && !Identifiers.IsValid(corpusId)) errors["corpus_id"] = [Identifiers.Rule];
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var principal = ctx.GetPrincipal();
        var scope = $"documents|{principal.TenantId}|{corpusId}|{status}";
        KeysetPosition? after = null;
        if (q["cursor"].ToString() is { Length: > 0 } cursor) after = cursors.Decode(scope, cursor);

        var readable = await authorizer.ReadableAsync(principal, corpusId, ctx.RequestAborted);
        if (readable is null)
        {
            var (items, hasMore) = await store.ListAsync(new DocumentListQuery(principal.TenantId, corpusId, status, limit, after), ctx.RequestAborted);
            var next = hasMore && items.Count > 0 ? cursors.Encode(scope, new KeysetPosition(items[^1].CreatedAt, items[^1].Id)) : null;
            return new DocumentPageResult(items, next, hasMore);
        }
        // Documents the caller may not read are skipped, not counted: read on until the page is full (the cursor is the
        // last document looked at, so the next page starts after the skipped ones too).
        var page = new List<DocumentInfo>(limit);
        var position = after;
        var exhausted = false;
        while (page.Count < limit && !exhausted)
        {
            var (batch, batchMore) = await store.ListAsync(new DocumentListQuery(principal.TenantId, corpusId, status, 100, position), ctx.RequestAborted);
            var i = 0;
            for (; i < batch.Count && page.Count < limit; i++)
            {
                position = new KeysetPosition(batch[i].CreatedAt, batch[i].Id);
                if (readable(batch[i].Id)) page.Add(batch[i]);
            }
            exhausted = !batchMore && i == batch.Count;
        }
        var nextCursor = !exhausted && position is not null ? cursors.Encode(scope, position) : null;
        return new DocumentPageResult(page, nextCursor, !exhausted);
    }

    private static async Task<IResult> Get(HttpContext ctx, string id, DocumentService service)
    {
        var doc = await service.GetAsync(ctx.GetPrincipal(), id, ctx.RequestAborted);
        return ApiResults.Ok(ctx, DocumentDto.From(doc));
    }

    private static async Task<IResult> Chunks(HttpContext ctx, string id, DocumentService service, IDocumentStore store)
    {
        var doc = await service.GetAsync(ctx.GetPrincipal(), id, ctx.RequestAborted);
        var chunks = await store.GetChunksAsync(doc.TenantId, doc.Id, ctx.RequestAborted);
        return ApiResults.Ok(ctx, chunks.Select(ChunkDto.From).ToList());
    }

    private static async Task<IResult> Reindex(HttpContext ctx, string id, DocumentService service)
    {
        var principal = ctx.GetPrincipal();
        await service.GetAsync(principal, id, ctx.RequestAborted); // 404 before reading a body for a foreign or unknown id
        var body = await JsonBody.ReadAsync<ReindexRequest>(ctx.Request, allowEmpty: true);
        var result = await service.ReindexAsync(principal, id, body.ChunkSizeChars, body.ChunkOverlapChars, RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
        return Accepted(ctx, result);
    }

    private static async Task<IResult> Patch(HttpContext ctx, string id, DocumentService service)
    {
        var principal = ctx.GetPrincipal();
        await service.GetAsync(principal, id, ctx.RequestAborted); // 404 before reading a body for a foreign, unknown or unreadable id
        var body = await JsonBody.ReadAsync<PatchDocumentRequest>(ctx.Request);
        if (body.Labels.ValueKind == JsonValueKind.Undefined) throw NexusException.Validation("labels", "is required (null clears the labels)");
        var labels = Core.Authorization.DocumentAuthorizer.NormalizeLabels(body.Labels, out var error);
        if (error is not null) throw NexusException.Validation("labels", error);
        var doc = await service.SetLabelsAsync(principal, id, labels, RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
        return ApiResults.Ok(ctx, DocumentDto.From(doc));
    }

    private static async Task<IResult> Delete(HttpContext ctx, string id, DocumentService service)
    {
        await service.DeleteAsync(ctx.GetPrincipal(), id, RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
        return ApiResults.Ok(ctx, new DeletedDto(id, true));
    }

    private static IResult Accepted(HttpContext ctx, EnqueueResult result)
    {
        var doc = result.Document;
        var statusUrl = $"/v1/documents/{Uri.EscapeDataString(doc.Id)}";
        ctx.Response.Headers.Location = statusUrl;
        return ApiResults.Ok(ctx, new AcceptedDto(doc.Id, doc.CorpusId, result.JobId, doc.Status, statusUrl, result.Deduplicated), StatusCodes.Status202Accepted);
    }

    private static bool? ParseBool(string raw, string field, Dictionary<string, string[]> errors)
    {
        if (raw.Length == 0) return null;
        if (bool.TryParse(raw, out var b)) return b;
        errors[field] = ["must be true or false"];
        return null;
    }

    private static int? ParseInt(string raw, string field, Dictionary<string, string[]> errors)
    {
        if (raw.Length == 0) return null;
        if (int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n)) return n;
        errors[field] = ["must be an integer"];
        return null;
    }

}
