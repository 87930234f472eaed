using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Core.Errors;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Ports;

namespace NexusRag.Core.Services;

/// <summary>
/// A document to ingest. <see cref="DeclaredType"/> is what the client said (Content-Type or file name); the type used
/// is detected from the staged bytes.
/// </summary>
public sealed record IngestRequest(
    string CorpusId, string? DocumentId, string? Filename, string? DeclaredType, StagedOriginal Content,
    bool Overwrite, int? ChunkSizeChars, int? ChunkOverlapChars, string? MetadataJson, string? LabelsJson = null);

/// <summary>
/// Document use cases. Semantics of re-ingesting an existing <c>document_id</c> (conflicts are decided by
/// <see cref="IDocumentStore.UpsertAndEnqueueAsync"/> inside its transaction):
/// same content and <c>overwrite=false</c> → the existing document is returned and nothing is queued
/// (idempotent); different content and <c>overwrite=false</c> → 409 <c>DOCUMENT_EXISTS</c>;
/// <c>overwrite=true</c> → content replaced and re-queued (409 <c>DOCUMENT_IN_FLIGHT</c> while queued or processing).
/// </summary>
public sealed class DocumentService(
    IDocumentStore documents,
    ICorpusStore corpora,
    IAuditLog audit,
    Transactions.IUnitOfWork uow,
    IJobSignal signal,
    ContentExtractorRegistry extractors,
    IOriginalStore originals,
    OriginalLocks originalLocks,
    IOptions<IngestionOptions> options,
    IOptions<ExtractionOptions> extraction,
    Authorization.DocumentAuthorizer authorizer,
    Authorization.IAuthzStore authz,
    DataGovernance.LegalHolds holds,
    DataGovernance.IGovernanceStore governance,
    TimeProvider clock)
{
    /// <summary>Text formats small enough are extracted at upload, so an empty or malformed one is a 422 at once.</summary>
    private const long ValidateAtUploadBytes = 16L * 1024 * 1024;

    /// <summary>Stages <paramref name="content"/> as an original and ingests it (text endpoints, seeding, tools).</summary>
    /// <summary>Stages bytes as an original, for <see cref="IngestManyAsync"/> (the caller disposes it).</summary>
    public Task<StagedOriginal> StageAsync(byte[] content, CancellationToken ct) =>
        originals.StageAsync(new MemoryStream(content, writable: false), extraction.Value.MaxUploadBytes, ct);

    public async Task<EnqueueResult> IngestBytesAsync(Principal principal, string corpusId, string? documentId, string? filename, string? declaredType,
        byte[] content, bool overwrite, int? chunkSize, int? chunkOverlap, string? metadataJson, string? requestId, CancellationToken ct, string? labelsJson = null)
    {
        using var staged = await originals.StageAsync(new MemoryStream(content, writable: false), extraction.Value.MaxUploadBytes, ct).ConfigureAwait(false);
        return await IngestAsync(principal, new IngestRequest(corpusId, documentId, filename, declaredType, staged, overwrite, chunkSize, chunkOverlap, metadataJson, labelsJson),
            requestId, ct).ConfigureAwait(false);
    }

    public async Task<EnqueueResult> IngestAsync(Principal principal, IngestRequest request, string? requestId, CancellationToken ct)
    {
        var (result, error) = (await IngestManyAsync(principal, [request], requestId, ct).ConfigureAwait(false))[0];
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
        return result!;
    }

    /// <summary>
    /// Ingestion of one document or a batch (<c>POST /v1/documents/batch</c>): each item is validated and checked on its
    /// own (a bad item fails alone), then every accepted item's document, job, owner grant and audit event commit in
    /// <em>one</em> transaction — one commit for the batch instead of one per document. Should that transaction fail on an item (a concurrent
    /// writer got there first), the items are enqueued one by one instead, so each still gets its own answer.
    /// </summary>
    public async Task<IReadOnlyList<(EnqueueResult? Result, NexusException? Error)>> IngestManyAsync(Principal principal, IReadOnlyList<IngestRequest> requests,
        string? requestId, CancellationToken ct)
    {
        var outcomes = new (EnqueueResult? Result, NexusException? Error)[requests.Count];
        var prepared = new List<(int Index, Prepared P)>(requests.Count);
        var lookups = await Lookups.ReadAsync(documents, principal.TenantId, requests, ct).ConfigureAwait(false);
        for (var i = 0; i < requests.Count; i++)
        {
            try
            {
                var p = await PrepareAsync(principal, requests[i], lookups, ct).ConfigureAwait(false);
                if (p.Deduplicated is { } same) outcomes[i] = (same, null);
                else prepared.Add((i, p));
            }
            catch (NexusException ex) { outcomes[i] = (null, ex); }
        }
        if (prepared.Count == 0) return outcomes;

        using (await originalLocks.AcquireManyAsync(principal.TenantId, prepared.Select(x => x.P.Sha256), ct).ConfigureAwait(false))
        {
            foreach (var (i, _) in prepared) await originals.CommitAsync(principal.TenantId, requests[i].Content, ct).ConfigureAwait(false);
            try
            {
                var results = await uow.RunAsync(c => EnqueuePreparedAsync(principal, prepared.Select(x => x.P).ToList(), requestId, c), ct).ConfigureAwait(false);
                for (var k = 0; k < prepared.Count; k++) outcomes[prepared[k].Index] = (results[k], null);
            }
            catch (NexusException single) when (prepared.Count == 1)
            {
                outcomes[prepared[0].Index] = (null, single); // nothing to retry alone
            }
            catch (NexusException)
            {
                foreach (var (i, p) in prepared)
                {
                    try { outcomes[i] = ((await uow.RunAsync(c => EnqueuePreparedAsync(principal, [p], requestId, c), ct).ConfigureAwait(false))[0], null); }
                    catch (NexusException ex) { outcomes[i] = (null, ex); }
                }
            }
        }
        if (prepared.Any(x => outcomes[x.Index].Result is not null)) signal.Notify();
        foreach (var (i, p) in prepared)
            if (outcomes[i].Result is not null && p.Existing is { } existing && existing.ContentSha256 != p.Sha256)
                await ReleaseOriginalAsync(principal.TenantId, existing.ContentSha256, ct).ConfigureAwait(false);
        return outcomes;
    }

    /// <summary>An ingest checked and ready to enqueue, or the existing document that answers it (<see cref="Deduplicated"/>).</summary>
    private sealed record Prepared(IngestRequest Request, string DocumentId, string MediaType, string Sha256, int ChunkSize, int ChunkOverlap,
        DocumentInfo? Existing, EnqueueResult? Deduplicated);

    /// <summary>
    /// What a batch's items look up, read once for the batch: the documents its ids name (one read instead of one per item)
    /// and each corpus once. A single ingest reads as before. Every conflict rule is checked again in the store's transaction.
    /// </summary>
    private sealed class Lookups
    {
        private readonly IReadOnlyDictionary<string, DocumentInfo>? _documents;
        private readonly Dictionary<string, CorpusInfo?> _corpora = new(StringComparer.Ordinal);

        private Lookups(IReadOnlyDictionary<string, DocumentInfo>? documents) => _documents = documents;

        public static async Task<Lookups> ReadAsync(IDocumentStore store, string tenantId, IReadOnlyList<IngestRequest> requests, CancellationToken ct)
        {
            var ids = requests.Select(r => r.DocumentId).OfType<string>().Where(Identifiers.IsValid).Distinct(StringComparer.Ordinal).ToList();
            return new Lookups(requests.Count > 1 && ids.Count > 0 ? await store.GetManyAsync(tenantId, ids, ct).ConfigureAwait(false) : null);
        }

        public async Task<DocumentInfo?> DocumentAsync(IDocumentStore store, string tenantId, string documentId, CancellationToken ct) =>
            _documents is null ? await store.GetAsync(tenantId, documentId, ct).ConfigureAwait(false) : _documents.GetValueOrDefault(documentId);

        public async Task<CorpusInfo?> CorpusAsync(ICorpusStore store, string tenantId, string corpusId, CancellationToken ct)
        {
            if (_corpora.TryGetValue(corpusId, out var known)) return known;
            return _corpora[corpusId] = await store.GetAsync(tenantId, corpusId, ct).ConfigureAwait(false);
        }
    }

    private async Task<Prepared> PrepareAsync(Principal principal, IngestRequest request, Lookups lookups, CancellationToken ct)
    {
        var opts = options.Value;
        var errors = new Dictionary<string, string[]>();
        if (!Identifiers.IsValid(request.CorpusId)) errors["corpus_id"] = [Identifiers.Rule];
        if (request.DocumentId is not null && !Identifiers.IsValid(request.DocumentId)) errors["document_id"] = [Identifiers.Rule];
        if (request.Filename is { Length: > 255 }) errors["filename"] = ["must be at most 255 characters"];
        var (size, overlap) = (request.ChunkSizeChars ?? opts.DefaultChunkSizeChars, request.ChunkOverlapChars ?? opts.DefaultChunkOverlapChars);
        ValidateChunking(size, overlap, errors);
        if (errors.Count > 0) throw NexusException.Validation(errors);

        string mediaType;
        await using (var head = request.Content.OpenRead())
            mediaType = MediaTypeDetector.Detect(head, request.DeclaredType, request.Filename);
        if (!extractors.Supports(mediaType)) throw extractors.Unsupported(mediaType, request.DeclaredType);
        if (request.Content.Length == 0) throw NexusException.Validation("file", "must not be empty");
        if (mediaType is MediaTypes.Text or MediaTypes.Markdown or MediaTypes.Json && request.Content.Length <= ValidateAtUploadBytes)
        {
            // Reject text that can never be extracted now, rather than as a failed job later.
            ExtractedDocument extracted;
            try
            {
                await using var stream = request.Content.OpenRead();
                extracted = await extractors.ExtractAsync(stream, new ExtractionContext(mediaType, request.Filename, extraction.Value), ct).ConfigureAwait(false);
            }
            catch (ExtractionException ex) { throw NexusException.Validation("file", ex.Detail); }
            if (!extracted.HasText) throw NexusException.Validation(mediaType == MediaTypes.Json ? "text" : "file", "must not be empty");
        }

        _ = await lookups.CorpusAsync(corpora, principal.TenantId, request.CorpusId, ct).ConfigureAwait(false)
            ?? throw NexusException.NotFound("corpus", request.CorpusId);

        var sha = request.Content.Sha256;
        var documentId = request.DocumentId ?? Identifiers.NewId("doc");

        // Idempotent re-ingest: the same document again is answered from what exists and queues nothing.
        // Every conflict rule (other corpus, other content, in flight) lives in the store's transaction.
        var existing = request.DocumentId is null ? null : await lookups.DocumentAsync(documents, principal.TenantId, documentId, ct).ConfigureAwait(false);
        if (existing is not null)
        {
            // Replacing a document is writing it; answering "it is already there" is reading it.
            var action = request.Overwrite ? Authorization.DocumentActions.Write : Authorization.DocumentActions.Read;
            var decision = await authorizer.DecideAsync(principal, existing.Id, existing.CorpusId, existing.LabelsJson, action, ct).ConfigureAwait(false);
            if (!decision.Allowed)
                throw NexusException.Conflict(ErrorCodes.DocumentExists, $"Document '{documentId}' already exists and this key may not {action} it");
        }
        if (existing is not null && request.Overwrite) // replacing held content would destroy it
            await holds.EnsureDocumentNotHeldAsync(principal.TenantId, documentId, ct).ConfigureAwait(false);
        if (existing is not null && !request.Overwrite
            && existing.CorpusId == request.CorpusId && existing.ContentSha256 == sha
            && existing.ChunkSizeChars == size && existing.ChunkOverlapChars == overlap)
        {
            return new Prepared(request, documentId, mediaType, sha, size, overlap, existing, new EnqueueResult(existing, existing.LastJobId ?? "", Created: false, Deduplicated: true));
        }
        return new Prepared(request, documentId, mediaType, sha, size, overlap, existing, null);
    }

    /// <summary>
    /// The documents, their jobs, the creator's owner grants and the audit events (inside the caller's unit of work): one
    /// write of each kind for the whole list.
    /// </summary>
    private async Task<IReadOnlyList<EnqueueResult>> EnqueuePreparedAsync(Principal principal, IReadOnlyList<Prepared> items, string? requestId, CancellationToken c)
    {
        var results = await documents.UpsertAndEnqueueManyAsync(items.Select(p => (new NewDocument(principal.TenantId, p.Request.CorpusId, p.DocumentId,
                p.Request.Filename, p.MediaType, p.Request.Content.Length, p.Sha256, p.ChunkSize, p.ChunkOverlap, p.Request.MetadataJson, p.Request.LabelsJson),
            p.Request.Overwrite)).ToList(), options.Value.MaxAttempts, c).ConfigureAwait(false);
        if (principal.ApiKeyId is { } creator)
        {
            // The creator's owner entry (seed "Authorization Model"), committed with the document.
            var now = clock.GetUtcNow().UtcDateTime;
            await authz.AddGrantsAsync(items.Where((_, k) => results[k].Created).Select(p => new Authorization.DocumentGrant(Identifiers.NewId("perm"),
                principal.TenantId, p.DocumentId, Authorization.PrincipalTypes.ApiKey, creator, Authorization.DocumentActions.Owner, null, now, principal.ActorId)).ToList(), c)
                .ConfigureAwait(false);
        }
        await audit.AppendManyAsync(items.Select((p, k) => new AuditEntry(principal.TenantId, "documents.ingest.enqueued", "success", principal.ActorType, principal.ActorId,
            "document", p.DocumentId, requestId, new Dictionary<string, object?>
            {
                ["corpus_id"] = p.Request.CorpusId, ["job_id"] = results[k].JobId, ["bytes"] = p.Request.Content.Length,
                ["media_type"] = p.MediaType, ["declared_type"] = p.Request.DeclaredType, ["overwrite"] = p.Request.Overwrite,
            })).ToList(), c).ConfigureAwait(false);
        return results;
    }

    public async Task<EnqueueResult> ReindexAsync(Principal principal, string documentId, int? chunkSize, int? chunkOverlap, string? requestId, CancellationToken ct)
    {
        var existing = await GetAsync(principal, documentId, ct, Authorization.DocumentActions.Write).ConfigureAwait(false);
        var errors = new Dictionary<string, string[]>();
        var size = chunkSize ?? existing.ChunkSizeChars;
        var overlap = chunkOverlap ?? Math.Min(existing.ChunkOverlapChars, size - 1);
        ValidateChunking(size, overlap, errors);
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var result = await uow.RunAsync(async c =>
        {
            var r = await documents.EnqueueReindexAsync(principal.TenantId, documentId, size, overlap, options.Value.MaxAttempts, c).ConfigureAwait(false)
                    ?? throw NexusException.NotFound("document", documentId);
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "documents.reindex.enqueued", "success", principal.ActorType, principal.ActorId,
                "document", documentId, requestId, new Dictionary<string, object?>
                {
                    ["job_id"] = r.JobId, ["chunk_size_chars"] = size, ["chunk_overlap_chars"] = overlap,
                }), c).ConfigureAwait(false);
            return r;
        }, ct).ConfigureAwait(false);
        signal.Notify();
        return result;
    }

    /// <summary>
    /// The document, when this principal may do <paramref name="action"/> on it: one it may not read is 404 (as if it
    /// did not exist); one it may read but not change is 403 <c>FORBIDDEN</c> with the deciding step.
    /// </summary>
    public async Task<DocumentInfo> GetAsync(Principal principal, string documentId, CancellationToken ct, string action = Authorization.DocumentActions.Read)
    {
        if (!Identifiers.IsValid(documentId)) throw NexusException.NotFound("document", Text.Clip(documentId, 64));
        var doc = await documents.GetAsync(principal.TenantId, documentId, ct).ConfigureAwait(false)
                  ?? throw NexusException.NotFound("document", documentId);
        var decision = await authorizer.DecideAsync(principal, doc.Id, doc.CorpusId, doc.LabelsJson, action, ct).ConfigureAwait(false);
        if (decision.Allowed) return doc;
        if (action != Authorization.DocumentActions.Read
            && (await authorizer.DecideAsync(principal, doc.Id, doc.CorpusId, doc.LabelsJson, Authorization.DocumentActions.Read, ct).ConfigureAwait(false)).Allowed)
            throw new NexusException(ErrorKind.Forbidden, ErrorCodes.Forbidden, $"This key may not {action} this document",
                new Dictionary<string, object?> { ["document_id"] = documentId, ["decided_by"] = decision.DecidedBy, ["policy_id"] = decision.PolicyId });
        throw NexusException.NotFound("document", documentId);
    }

    /// <summary>Replaces the document's ABAC labels (write permission), audited.</summary>
    public async Task<DocumentInfo> SetLabelsAsync(Principal principal, string documentId, string? labelsJson, string? requestId, CancellationToken ct)
    {
        var doc = await GetAsync(principal, documentId, ct, Authorization.DocumentActions.Write).ConfigureAwait(false);
        await uow.RunAsync(async c =>
        {
            if (!await documents.SetLabelsAsync(principal.TenantId, documentId, labelsJson, c).ConfigureAwait(false)) throw NexusException.NotFound("document", documentId);
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "documents.labels.updated", "success", principal.ActorType, principal.ActorId,
                "document", documentId, requestId, new Dictionary<string, object?> { ["labels"] = labelsJson is null ? null : JsonDocument.Parse(labelsJson).RootElement.Clone() }), c)
                .ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
        return doc with { LabelsJson = labelsJson };
    }

    /// <summary>The document's original file, or null when there is none (a document from before originals were kept, whose bytes are then returned).</summary>
    public async Task<(DocumentInfo Document, Stream Content)> OpenOriginalAsync(Principal principal, string documentId, CancellationToken ct)
    {
        var doc = await GetAsync(principal, documentId, ct).ConfigureAwait(false);
        var stream = await originals.OpenReadAsync(doc.TenantId, doc.ContentSha256, ct).ConfigureAwait(false);
        if (stream is null && await documents.GetLegacyContentAsync(doc.TenantId, doc.Id, ct).ConfigureAwait(false) is { } legacy)
            stream = new MemoryStream(legacy, writable: false);
        return (doc, stream ?? throw new NexusException(ErrorKind.NotFound, ErrorCodes.NotFound, "The original file of this document is not available",
            new Dictionary<string, object?> { ["resource"] = "original", ["id"] = documentId }));
    }

    /// <summary>Deletes the tenant's original with this hash when no document refers to it any more.</summary>
    private async Task ReleaseOriginalAsync(string tenantId, string sha256, CancellationToken ct)
    {
        using (await originalLocks.AcquireAsync(tenantId, sha256, ct).ConfigureAwait(false))
        {
            if (!await documents.IsOriginalReferencedAsync(tenantId, sha256, ct).ConfigureAwait(false))
                await originals.DeleteAsync(tenantId, sha256, ct).ConfigureAwait(false);
        }
    }

    public async Task DeleteAsync(Principal principal, string documentId, string? requestId, CancellationToken ct)
    {
        var sha = (await GetAsync(principal, documentId, ct, Authorization.DocumentActions.Write).ConfigureAwait(false)).ContentSha256;
        await holds.EnsureDocumentNotHeldAsync(principal.TenantId, documentId, ct).ConfigureAwait(false);
        await uow.RunAsync(async c =>
        {
            switch (await documents.DeleteAsync(principal.TenantId, documentId, c).ConfigureAwait(false))
            {
                case DocumentDeleteResult.NotFound: throw NexusException.NotFound("document", documentId);
                case DocumentDeleteResult.InFlight:
                    throw NexusException.Conflict(ErrorCodes.DocumentInFlight, "Document is queued or processing; retry when ingestion has finished",
                        new Dictionary<string, object?> { ["document_id"] = documentId });
            }
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "documents.deleted", "success", principal.ActorType, principal.ActorId,
                "document", documentId, requestId), c).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
        await ReleaseOriginalAsync(principal.TenantId, sha, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Retention and DSAR erasure of a document, with no caller's ACL (the tenant's governance decided it): <c>delete</c>
    /// removes it as <see cref="DeleteAsync"/> does; <c>anonymize</c> drops its content (chunks, original, filename,
    /// metadata) and keeps its row, ids and counts. False when it is gone or still being ingested (left for the next run).
    /// The caller checks legal holds.
    /// </summary>
    public async Task<bool> EraseAsSystemAsync(string tenantId, string documentId, string mode, string actor, CancellationToken ct)
    {
        var doc = await documents.GetAsync(tenantId, documentId, ct).ConfigureAwait(false);
        if (doc is null || DocumentStatus.IsInFlight(doc.Status)) return false;
        var done = await uow.RunAsync(async c =>
        {
            if (mode == "anonymize")
            {
                if (await governance.AnonymizeDocumentAsync(tenantId, documentId, clock.GetUtcNow().UtcDateTime, c).ConfigureAwait(false) is null) return false;
            }
            else if (await documents.DeleteAsync(tenantId, documentId, c).ConfigureAwait(false) != DocumentDeleteResult.Deleted) return false;
            await audit.AppendAsync(new AuditEntry(tenantId, mode == "anonymize" ? "documents.anonymized" : "documents.deleted", "success", "system", actor,
                "document", documentId, null, new Dictionary<string, object?> { ["by"] = actor }), c).ConfigureAwait(false);
            return true;
        }, ct).ConfigureAwait(false);
        if (done) await ReleaseOriginalAsync(tenantId, doc.ContentSha256, ct).ConfigureAwait(false); // an anonymized row no longer names its hash
        return done;
    }

    private void ValidateChunking(int size, int overlap, Dictionary<string, string[]> errors)
    {
        var max = options.Value.MaxChunkSizeChars;
        if (size < 50 || size > max) errors["chunk_size_chars"] = [$"must be between 50 and {max}"];
        if (overlap < 0) errors["chunk_overlap_chars"] = ["must be >= 0"];
        else if (overlap >= size) errors["chunk_overlap_chars"] = ["must be less than chunk_size_chars"];
    }

    public static string? SerializeMetadata(JsonElement? metadata)
    {
        if (metadata is null || metadata.Value.ValueKind == JsonValueKind.Null) return null;
        if (metadata.Value.ValueKind != JsonValueKind.Object) throw NexusException.Validation("metadata", "must be a JSON object");
        var raw = metadata.Value.GetRawText();
        if (Encoding.UTF8.GetByteCount(raw) > 16 * 1024) throw NexusException.Validation("metadata", "must be at most 16 KiB");
        return raw;
    }

}
