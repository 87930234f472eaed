using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Crypto;
using NexusRag.Core.Documents;
using NexusRag.Core.Errors;
using NexusRag.Core.Jobs;

namespace NexusRag.Core.DataGovernance;

/// <summary>Where DSAR export artefacts live (resolved by the host: <c>{data dir}/governance/dsar</c> unless set).</summary>
public sealed record DsarArtifactLocation(string Directory);

/// <summary>
/// Data subject requests (seed "DSAR Workflow"): <c>export</c> builds a ZIP of exactly the subject's data with a manifest;
/// <c>delete</c> and <c>anonymize</c> erase it from the store and the index (so backups taken afterwards do not hold it).
/// Destructive requests wait for a second admin's approval with <c>DSAR_REQUIRE_APPROVAL</c>, and are refused while a
/// legal hold covers their subject. Each request runs as a job of kind <c>dsar</c>.
/// </summary>
public sealed class DsarService(
    IGovernanceStore store, LegalHolds holds, IJobQueue jobs, Transactions.IUnitOfWork uow, IAuditLog audit, IDocumentStore documents,
    Chat.ISessionStore sessions, IIdentityStore identity, IOptions<DataGovernanceOptions> options, DsarArtifactLocation location, DataKeyService dataKeys,
    TimeProvider clock)
{
    public async Task<DsarRequest> CreateAsync(Principal principal, string tenantId, string? requestType, string? subjectType, string? subjectId, string? reason,
        string? requestId, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (requestType is null || !DsarTypes.Requests.Contains(requestType)) errors["request_type"] = [$"must be one of {string.Join(", ", DsarTypes.Requests)}"];
        if (subjectType is null || !DsarTypes.Subjects.Contains(subjectType)) errors["subject_type"] = [$"must be one of {string.Join(", ", DsarTypes.Subjects)}"];
        if (string.IsNullOrWhiteSpace(subjectId) || subjectId.Length > 200) errors["subject_id"] = ["must be 1-200 characters"];
        if (reason is { Length: > 1000 }) errors["reason"] = ["must be at most 1000 characters"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        if (!await SubjectExistsAsync(tenantId, subjectType!, subjectId!, ct).ConfigureAwait(false)) throw NexusException.NotFound(subjectType!, subjectId);
        var destructive = requestType != "export";
        if (destructive) await EnsureSubjectNotHeldAsync(tenantId, subjectType!, subjectId!, ct).ConfigureAwait(false);
        var pending = destructive && options.Value.DsarRequireApproval;
        return await uow.RunAsync(async c =>
        {
            var id = Services.Identifiers.NewId("dsar");
            var jobId = pending ? null : await EnqueueAsync(tenantId, id, c).ConfigureAwait(false);
            var request = new DsarRequest(id, tenantId, requestType!, subjectType!, subjectId!, reason?.Trim(), pending ? DsarStatus.PendingApproval : DsarStatus.Queued,
                principal.ActorId, null, null, jobId, null, null, null, null, clock.GetUtcNow().UtcDateTime, null);
            await store.AddDsarAsync(request, c).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(tenantId, "governance.dsar.requested", "success", principal.ActorType, principal.ActorId, "dsar", id, requestId,
                new Dictionary<string, object?> { ["request_type"] = requestType, ["subject_type"] = subjectType, ["subject_id"] = subjectId, ["status"] = request.Status }), c)
                .ConfigureAwait(false);
            return request;
        }, ct).ConfigureAwait(false);
    }

    public async Task<DsarRequest> GetAsync(string tenantId, string id, CancellationToken ct) =>
        await store.GetDsarAsync(tenantId, id, ct).ConfigureAwait(false) ?? throw NotFound(id);

    /// <summary>A second admin approves a destructive request; it then runs. The requester cannot approve its own request.</summary>
    public async Task<DsarRequest> ApproveAsync(Principal principal, string tenantId, string id, string? requestId, CancellationToken ct)
    {
        var request = await GetAsync(tenantId, id, ct).ConfigureAwait(false);
        if (request.Status != DsarStatus.PendingApproval)
            throw NexusException.Conflict("DSAR_NOT_PENDING", $"DSAR '{id}' is {request.Status}, not waiting for approval");
        if (request.RequestedBy == principal.ActorId)
            throw NexusException.Conflict(GovernanceErrorCodes.DsarRequiresApproval, "A destructive DSAR needs the approval of a second admin, not of its requester");
        await EnsureSubjectNotHeldAsync(tenantId, request.SubjectType, request.SubjectId, ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        return await uow.RunAsync(async c =>
        {
            var jobId = await EnqueueAsync(tenantId, id, c).ConfigureAwait(false);
            if (!await store.ApproveDsarAsync(tenantId, id, principal.ActorId, now, jobId, c).ConfigureAwait(false))
                throw NexusException.Conflict("DSAR_NOT_PENDING", $"DSAR '{id}' is no longer waiting for approval");
            await audit.AppendAsync(new AuditEntry(tenantId, "governance.dsar.approved", "success", principal.ActorType, principal.ActorId, "dsar", id, requestId), c)
                .ConfigureAwait(false);
            return request with { Status = DsarStatus.Queued, ApprovedBy = principal.ActorId, ApprovedAt = now, JobId = jobId };
        }, ct).ConfigureAwait(false);
    }

    /// <summary>The export ZIP of a completed export request (decrypted when encryption at rest sealed it).</summary>
    public async Task<(DsarRequest Request, Stream Zip)> OpenArtifactAsync(string tenantId, string id, CancellationToken ct)
    {
        var request = await GetAsync(tenantId, id, ct).ConfigureAwait(false);
        if (request.Status == DsarStatus.PendingApproval)
            throw NexusException.Conflict(GovernanceErrorCodes.DsarRequiresApproval, $"DSAR '{id}' is waiting for a second admin's approval");
        if (request.RequestType != "export" || request.Status != DsarStatus.Completed)
            throw NexusException.Conflict("DSAR_ARTIFACT_UNAVAILABLE", request.RequestType != "export"
                ? $"DSAR '{id}' is a {request.RequestType} request: it has no artefact"
                : $"DSAR '{id}' is {request.Status}; its artefact is ready when it is completed");
        var path = DsarJobHandler.ArtifactPath(location, tenantId, id);
        if (File.Exists(path + ".enc"))
        {
            var file = File.OpenRead(path + ".enc");
            try
            {
                var header = ChunkedGcm.ReadHeader(file);
                if (header?.Magic != DsarJobHandler.SealedMagic) throw CryptoErrors.DecryptionFailed($"the artefact of DSAR '{id}' is not a sealed export");
                var cipher = await dataKeys.ForReadAsync(tenantId, [header.KeyVersion], ct).ConfigureAwait(false);
                return (request, new GcmDecryptingStream(file, cipher.KeyOf(header.KeyVersion), DsarJobHandler.Context(tenantId, id)));
            }
            catch
            {
                await file.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        return File.Exists(path) ? (request, File.OpenRead(path)) : throw new NexusException(ErrorKind.Unavailable, GovernanceErrorCodes.GovernanceReportUnavailable,
            $"The artefact of DSAR '{id}' is not on this deployment's storage");
    }

    private Task EnsureSubjectNotHeldAsync(string tenantId, string subjectType, string subjectId, CancellationToken ct) =>
        subjectType == "document" ? holds.EnsureDocumentNotHeldAsync(tenantId, subjectId, ct) : holds.EnsureNotHeldAsync(tenantId, ct, (HoldScope(subjectType), subjectId));

    public static string HoldScope(string subjectType) => subjectType switch
    {
        "session" => HoldScopes.Session,
        "document" => HoldScopes.Document,
        _ => HoldScopes.UserKey,
    };

    public static NexusException NotFound(string id) =>
        new(ErrorKind.NotFound, GovernanceErrorCodes.DsarNotFound, $"DSAR '{Text.Clip(id, 64)}' not found", new Dictionary<string, object?> { ["id"] = Text.Clip(id, 64) });

    private Task<string> EnqueueAsync(string tenantId, string id, CancellationToken ct) =>
        jobs.EnqueueAsync(new NewJob(tenantId, DsarJobHandler.Kind, 3, JsonSerializer.Serialize(new Dictionary<string, string> { ["dsar_id"] = id })), ct);

    private async Task<bool> SubjectExistsAsync(string tenantId, string subjectType, string subjectId, CancellationToken ct) => subjectType switch
    {
        "session" => await sessions.ExistsAsync(tenantId, subjectId, ct).ConfigureAwait(false),
        "document" => await documents.GetAsync(tenantId, subjectId, ct).ConfigureAwait(false) is not null,
        _ => await identity.GetApiKeyAsync(subjectId, ct).ConfigureAwait(false) is { } key && key.TenantId == tenantId,
    };
}

/// <summary>Job kind <c>dsar</c>: runs an approved (or non-destructive) data subject request and records its result.</summary>
public sealed class DsarJobHandler(
    IGovernanceStore store, LegalHolds holds, Services.DocumentService documentService, IDocumentStore documents, IOriginalStore originals, IIdentityStore identity,
    IAuditLog audit, DsarArtifactLocation location, DataKeyService dataKeys, TimeProvider clock, ILogger<DsarJobHandler> logger) : IJobHandler
{
    public const string Kind = "dsar";
    public const string SealedMagic = "NXDSR1";
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, WriteIndented = true };

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];
    public string? HeldBy => null;

    public static string ArtifactPath(DsarArtifactLocation location, string tenantId, string id) => Path.Combine(location.Directory, tenantId, id + ".zip");
    public static string Context(string tenantId, string id) => $"dsar:{tenantId}:{id}";

    public async Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
    {
        using var payload = JsonDocument.Parse(job.PayloadJson ?? "{}");
        var id = payload.RootElement.GetProperty("dsar_id").GetString()!;
        var request = await store.GetDsarAsync(job.TenantId, id, ct).ConfigureAwait(false) ?? throw new PermanentJobFailure($"DSAR {id} not found");
        if (request.Status is DsarStatus.Completed or DsarStatus.PendingApproval) return JobResult.Done;
        await store.UpdateDsarAsync(id, DsarStatus.Running, null, null, null, null, null, ct).ConfigureAwait(false);
        try
        {
            object result;
            string? sha = null;
            long? bytes = null;
            if (request.RequestType == "export") (result, sha, bytes) = await ExportAsync(request, ct).ConfigureAwait(false);
            else result = await EraseAsync(request, ct).ConfigureAwait(false);
            var json = JsonSerializer.Serialize(result, Json);
            await store.UpdateDsarAsync(id, DsarStatus.Completed, json, sha, bytes, null, clock.GetUtcNow().UtcDateTime, CancellationToken.None).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(request.TenantId, "governance.dsar.completed", "success", "system", "dsar", "dsar", id, null,
                new Dictionary<string, object?> { ["request_type"] = request.RequestType, ["subject_type"] = request.SubjectType, ["artifact_sha256"] = sha }),
                CancellationToken.None).ConfigureAwait(false);
            return JobResult.Done;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "DSAR {Id} of tenant {TenantId} failed", id, request.TenantId);
            await store.UpdateDsarAsync(id, DsarStatus.Failed, null, null, null, Text.Clip(ex.Message, 500), clock.GetUtcNow().UtcDateTime, CancellationToken.None).ConfigureAwait(false);
            throw new PermanentJobFailure(ex.Message, ex);
        }
    }

    private async Task<IReadOnlyList<string>> SubjectDocumentsAsync(DsarRequest r, CancellationToken ct) => r.SubjectType switch
    {
        "document" => [r.SubjectId],
        "user_key" => await store.DocumentsOwnedByAsync(r.TenantId, r.SubjectId, ct).ConfigureAwait(false),
        _ => [],
    };

    private async Task<object> EraseAsync(DsarRequest r, CancellationToken ct)
    {
        var active = await holds.ActiveAsync(r.TenantId, ct).ConfigureAwait(false);
        if (active.Covering([(DsarService.HoldScope(r.SubjectType), r.SubjectId)]) is { } hold) throw LegalHolds.Held(hold);
        var now = clock.GetUtcNow().UtcDateTime;
        DataOutcome? messages = null;
        if (r.SubjectType == "session") messages = await store.EraseSessionAsync(r.TenantId, r.SubjectId, r.RequestType, now, ct).ConfigureAwait(false);
        var docs = await SubjectDocumentsAsync(r, ct).ConfigureAwait(false);
        long erased = 0, held = 0;
        foreach (var doc in docs)
        {
            if (active.CoveringDocument(doc) is not null) { held++; continue; }
            if (await documentService.EraseAsSystemAsync(r.TenantId, doc, r.RequestType, "dsar:" + r.Id, ct).ConfigureAwait(false)) erased++;
        }
        return new { mode = r.RequestType, messages, documents = new DataOutcome(docs.Count, erased, held) };
    }

    private async Task<(object Result, string Sha, long Bytes)> ExportAsync(DsarRequest r, CancellationToken ct)
    {
        var path = ArtifactPath(location, r.TenantId, r.Id);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var cipher = await dataKeys.ForWriteAsync(r.TenantId, ct).ConfigureAwait(false);
        var target = cipher.WriteVersion is null ? path : path + ".enc";
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long zipBytes;
        Dictionary<string, int> counts;
        int fileCount;
        await using (var file = new FileStream(target, FileMode.Create, FileAccess.Write))
        await using (var sink = cipher.WriteVersion is { } v
                         ? new GcmEncryptingStream(file, cipher.KeyOf(v), ChunkedGcm.NewHeader(SealedMagic, v), Context(r.TenantId, r.Id), leaveOpen: true)
                         : (Stream)file)
        await using (var hashed = new IO.HashingWriteStream(sink, sha, leaveOpen: true))
        {
            using (var zip = new ZipArchive(hashed, ZipArchiveMode.Create, leaveOpen: true))
                (counts, fileCount) = await WriteExportAsync(zip, r, ct).ConfigureAwait(false);
            zipBytes = hashed.Written;
        }
        // The checksum and size of the ZIP as it is downloaded (sealed at rest when encryption is on).
        return (new { counts, files = fileCount }, Convert.ToHexStringLower(sha.GetHashAndReset()), zipBytes);
    }

    /// <summary>Writes the subject's files and the manifest listing them (each file's size and SHA-256) into <paramref name="zip"/>.</summary>
    private async Task<(Dictionary<string, int> Counts, int Files)> WriteExportAsync(ZipArchive zip, DsarRequest r, CancellationToken ct)
    {
        var files = new List<object>();
        var counts = new Dictionary<string, int>();
        async Task AddAsync(string name, byte[] content)
        {
            var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
            await using (var s = entry.Open()) await s.WriteAsync(content, ct).ConfigureAwait(false);
            files.Add(new { path = name, bytes = content.LongLength, sha256 = Convert.ToHexStringLower(SHA256.HashData(content)) });
        }
        byte[] Serialize(object o) => JsonSerializer.SerializeToUtf8Bytes(o, Json);

        if (r.SubjectType == "session")
        {
            var messages = await store.SessionMessagesAsync(r.TenantId, r.SubjectId, ct).ConfigureAwait(false);
            counts["messages"] = messages.Count;
            await AddAsync("session/messages.json", Serialize(messages.Select(m => new
            {
                m.Id, m.SessionId, m.Role, m.Content, metadata = m.MetadataJson is null ? (JsonElement?)null : JsonDocument.Parse(m.MetadataJson).RootElement.Clone(), m.CreatedAt,
            }))).ConfigureAwait(false);
        }
        if (r.SubjectType == "user_key" && await identity.GetApiKeyAsync(r.SubjectId, ct).ConfigureAwait(false) is { } key)
        {
            await AddAsync("api_key.json", Serialize(new { key.Id, key.Name, role = key.Role.ToString().ToLowerInvariant(), key.Prefix, key.CreatedAt, key.ExpiresAt, key.RevokedAt, key.LastUsedAt }))
                .ConfigureAwait(false);
            var events = new List<AuditEvent>();
            (DateTime, long)? before = null;
            while (true)
            {
                var (page, more) = await audit.QueryAsync(new AuditQuery(r.TenantId, null, null, key.Id, null, null, null, null, 500, before), ct).ConfigureAwait(false);
                events.AddRange(page);
                if (!more || page.Count == 0) break;
                before = (page[^1].OccurredAt, page[^1].Id);
            }
            counts["audit_events"] = events.Count;
            await AddAsync("audit_events.json", Serialize(events)).ConfigureAwait(false);
        }
        var docs = await SubjectDocumentsAsync(r, ct).ConfigureAwait(false);
        counts["documents"] = 0;
        foreach (var id in docs)
        {
            if (await documents.GetAsync(r.TenantId, id, ct).ConfigureAwait(false) is not { } doc) continue;
            counts["documents"]++;
            await AddAsync($"documents/{id}/document.json", Serialize(doc)).ConfigureAwait(false);
            var chunks = await documents.GetChunksAsync(r.TenantId, id, ct).ConfigureAwait(false);
            await AddAsync($"documents/{id}/chunks.json", Serialize(chunks.Select(c => new { c.Id, c.ChunkIndex, c.Text, c.StartOffset, c.EndOffset }))).ConfigureAwait(false);
            await using var original = await originals.OpenReadAsync(r.TenantId, doc.ContentSha256, ct).ConfigureAwait(false);
            if (original is not null)
            {
                using var buffer = new MemoryStream();
                await original.CopyToAsync(buffer, ct).ConfigureAwait(false);
                await AddAsync($"documents/{id}/original{Path.GetExtension(doc.Filename ?? "")}", buffer.ToArray()).ConfigureAwait(false);
            }
        }
        var manifest = new
        {
            dsar_id = r.Id, tenant_id = r.TenantId, request_type = r.RequestType, subject_type = r.SubjectType, subject_id = r.SubjectId,
            generated_at = clock.GetUtcNow().UtcDateTime, counts, files,
        };
        var entry = zip.CreateEntry("manifest.json", CompressionLevel.Optimal);
        await using (var s = entry.Open()) await s.WriteAsync(Serialize(manifest), ct).ConfigureAwait(false);
        return (counts, files.Count);
    }
}
