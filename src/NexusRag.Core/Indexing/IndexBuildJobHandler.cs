using System.Text.Json;
using Microsoft.Extensions.Logging;
using NexusRag.Core.Audit;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Jobs;
using NexusRag.Core.Transactions;

namespace NexusRag.Core.Indexing;

/// <summary>
/// The handler of <c>index_build</c> jobs: walks the corpus's documents in id order from the version's cursor, re-extracts
/// each from its stored original, chunks it with the version's chunking and embeds it with the version's model (reusing
/// vectors of unchanged text held by any version with that model), and commits each document with the cursor, so a build
/// whose worker dies resumes where it stopped. Documents in flight are passed: their own ingestion writes every building
/// version. At the end the version is ready; a build that cannot finish marks it failed. Held while <c>kill.ingest</c> is on.
/// </summary>
public sealed class IndexBuildJobHandler(
    IIndexVersionStore store,
    DocumentPipeline pipeline,
    IEmbedderRegistry embedders,
    IUnitOfWork uow,
    IAuditLog audit,
    ILogger<IndexBuildJobHandler> logger) : IJobHandler
{
    private const int Page = 32;
    private static readonly IndexActor System = new("system", "index-build");

    public IReadOnlyCollection<string> Kinds { get; } = [JobKind.IndexBuild];

    public string? HeldBy => Governance.KillSwitches.Ingest;

    public async Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
    {
        if (job.CorpusId is not { } corpusId || Payload(job.PayloadJson) is not { } version)
            throw new PermanentJobFailure("an index build job names its corpus and {\"version\": n}");
        var v = await store.GetAsync(job.TenantId, corpusId, version, ct).ConfigureAwait(false);
        if (v is null || v.Status != IndexVersionStatus.Building) return JobResult.Done; // failed, or its corpus went: nothing to build
        try
        {
            var identity = v.Embedding ?? throw new PermanentJobFailure($"index version {version} records no embedding model");
            var embedder = embedders.Find(identity)
                           ?? throw new PermanentJobFailure($"this server cannot run {identity.Provider}/{identity.Model} ({identity.Dimensions} dims)");
            var cursor = v.BuildCursor;
            if (cursor is not null) logger.LogInformation("Index build {Corpus} v{Version}: resuming after document {Cursor} ({Done} done)", corpusId, version, cursor, v.DocumentsDone);
            while (true)
            {
                var docs = await store.BuildDocumentsAsync(job.TenantId, corpusId, cursor, Page, ct).ConfigureAwait(false);
                if (docs.Count == 0) break;
                // Vectors of unchanged text are reused from every version that holds this model's vectors (this one included: a resumed build re-embeds nothing).
                var sameModel = (await store.WritableAsync(job.TenantId, corpusId, ct).ConfigureAwait(false))
                    .Where(w => (w.Embedding ?? embedders.Default) == identity).Select(w => w.Version).ToList();
                foreach (var doc in docs)
                {
                    var step = await BuildStepAsync(doc, v, identity, embedder, sameModel, ct).ConfigureAwait(false);
                    if (!await store.CommitBuildStepAsync(job, workerId, version, step, ct).ConfigureAwait(false)) return JobResult.LeaseLost;
                    cursor = doc.Id;
                }
            }

            var finished = await uow.RunAsync(async t =>
            {
                if (!await store.CompleteBuildAsync(job, workerId, version, t).ConfigureAwait(false)) return false;
                var built = await store.GetAsync(job.TenantId, corpusId, version, t).ConfigureAwait(false);
                var details = IndexVersionService.Details(new Dictionary<string, object?>
                {
                    ["documents_done"] = built?.DocumentsDone, ["documents_skipped"] = built?.DocumentsSkipped, ["chunks"] = built?.Chunks,
                    ["job_id"] = job.Id, ["attempt"] = job.Attempts,
                });
                await store.AppendEventAsync(job.TenantId, corpusId, version, IndexVersionEvents.Built, System, null, details, t).ConfigureAwait(false);
                await audit.AppendAsync(new AuditEntry(job.TenantId, "index_versions.built", "success", System.Type, System.Id, "index_version", $"{corpusId}/{version}", null,
                    new Dictionary<string, object?> { ["corpus_id"] = corpusId, ["index_version"] = version, ["chunks"] = built?.Chunks }), t).ConfigureAwait(false);
                return true;
            }, ct).ConfigureAwait(false);
            if (!finished) return JobResult.LeaseLost;
            logger.LogInformation("Index build {Corpus} v{Version}: ready", corpusId, version);
            return JobResult.Committed;
        }
        catch (IndexVersionsChangedException ex)
        {
            logger.LogInformation("Index build {Corpus} v{Version} stopped: {Reason}", corpusId, version, ex.Message);
            return JobResult.Done;
        }
        catch (Exception ex) when (ex is not OperationCanceledException && (ex is PermanentJobFailure || job.Attempts >= job.MaxAttempts))
        {
            // The last attempt: the version fails (its chunks are dropped by the janitor); the job runner records the job's failure.
            var reason = ex is PermanentJobFailure ? ex.Message : $"{ex.GetType().Name}: {ex.Message}";
            await uow.RunAsync(async t =>
            {
                await store.MarkFailedAsync(job.TenantId, corpusId, version, reason, t).ConfigureAwait(false);
                await store.AppendEventAsync(job.TenantId, corpusId, version, IndexVersionEvents.Failed, System, reason, null, t).ConfigureAwait(false);
                await audit.AppendAsync(new AuditEntry(job.TenantId, "index_versions.failed", "failure", System.Type, System.Id, "index_version", $"{corpusId}/{version}", null,
                    new Dictionary<string, object?> { ["corpus_id"] = corpusId, ["index_version"] = version, ["reason"] = Errors.Text.Clip(reason, 300) }), t).ConfigureAwait(false);
                return 0;
            }, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<BuildStep> BuildStepAsync(DocumentInfo doc, IndexVersionInfo v, EmbeddingIdentity identity,
        Microsoft.Extensions.AI.IEmbeddingGenerator<string, Microsoft.Extensions.AI.Embedding<float>> embedder, IReadOnlyCollection<int> sameModel, CancellationToken ct)
    {
        // In flight: its ingestion commits into every building version. Failed: it has no chunks anywhere.
        if (doc.Status != DocumentStatus.Succeeded) return new BuildStep(doc.Id, doc.UpdatedAt, null);
        ExtractedDocument extracted;
        try
        {
            extracted = await pipeline.ExtractAsync(doc, ct).ConfigureAwait(false);
        }
        catch (PermanentJobFailure ex)
        {
            logger.LogWarning("Index build {Corpus} v{Version}: document {Document} skipped: {Reason}", doc.CorpusId, v.Version, doc.Id, ex.Message);
            return new BuildStep(doc.Id, doc.UpdatedAt, null, Skipped: true);
        }
        var spans = pipeline.Chunk(extracted, doc, v.Chunking);
        var drafts = await pipeline.DraftsAsync(doc, spans, v.Version, identity, embedder, sameModel, ct).ConfigureAwait(false);
        return new BuildStep(doc.Id, doc.UpdatedAt, drafts);
    }

    private static int? Payload(string? json)
    {
        if (json is null) return null;
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.TryGetProperty("version", out var v) && v.TryGetInt32(out var n) && n > 0 ? n : null;
        }
        catch (JsonException) { return null; }
    }
}
