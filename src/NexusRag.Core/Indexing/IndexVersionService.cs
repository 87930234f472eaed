using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Corpora;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Errors;
using NexusRag.Core.Evaluation;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Ports;
using NexusRag.Core.Search;
using NexusRag.Core.Services;
using NexusRag.Core.Transactions;

namespace NexusRag.Core.Indexing;

/// <summary>One version's scores on an evaluation set (document-level, at 10).</summary>
public sealed record VersionScore(
    int Version,
    [property: JsonPropertyName("ndcg_at_10")] double NdcgAt10,
    [property: JsonPropertyName("recall_at_10")] double RecallAt10,
    [property: JsonPropertyName("mrr_at_10")] double MrrAt10);

/// <summary>
/// An evaluation of a version against the active one on the same query set; the evidence a promotion is gated on.
/// <see cref="NdcgDelta"/> is candidate minus active.
/// </summary>
public sealed record EvaluationReport(string EvalSetId, int Queries, string Mode, VersionScore Candidate, VersionScore Active, double NdcgDelta, DateTime EvaluatedAt);

/// <summary>
/// Index versions of a corpus (seed 002's promotion corridor with an ACTIVE pointer): create (built in the background by
/// the <c>index_build</c> job while the active version serves), evaluate against the active version on an uploaded
/// query set, promote when the evidence allows (or forced with a reason), roll back to the previous active version, drop
/// retired versions after the retention window. Every step is a registry event and an audit event in one transaction.
/// </summary>
public sealed class IndexVersionService(
    IIndexVersionStore store,
    ICorpusStore corpora,
    IEmbedderRegistry embedders,
    SearchService search,
    IUnitOfWork uow,
    IAuditLog audit,
    IOutbox outbox,
    IJobSignal signal,
    IOptions<IndexVersionOptions> options,
    IOptions<IngestionOptions> ingestion,
    TimeProvider clock,
    ILogger<IndexVersionService> logger)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public async Task<CorpusInfo> CorpusAsync(string tenantId, string corpusId, CancellationToken ct)
    {
        if (!Identifiers.IsValid(corpusId)) throw NexusException.NotFound("corpus");
        return await corpora.GetAsync(tenantId, corpusId, ct).ConfigureAwait(false) ?? throw NexusException.NotFound("corpus", corpusId);
    }

    public async Task<IndexVersionInfo> GetAsync(string tenantId, string corpusId, int version, CancellationToken ct)
    {
        await CorpusAsync(tenantId, corpusId, ct).ConfigureAwait(false);
        return await store.GetAsync(tenantId, corpusId, version, ct).ConfigureAwait(false)
               ?? throw NexusException.NotFound("index version", version.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Starts a new version: the named model (default: the active version's) and chunking (default: each document's own).
    /// A model this server cannot run is refused before anything is recorded.
    /// </summary>
    public async Task<IndexVersionInfo> CreateAsync(string tenantId, string corpusId, string? provider, string? model, int? dimensions, ChunkingSpec? chunking,
        IndexActor actor, string? requestId, CancellationToken ct)
    {
        var corpus = await CorpusAsync(tenantId, corpusId, ct).ConfigureAwait(false);
        var identity = provider is null
            ? corpus.Embedding ?? embedders.Default
            : embedders.Resolve(provider, model, dimensions)
              ?? throw NexusException.Validation("embedding", $"this server cannot run {provider}/{model ?? "(default model)"}: use hash, sha256, local "
                  + $"({string.Join(", ", ["all-minilm-l6-v2", "snowflake-arctic-embed-xs"])}) or the configured {embedders.Default.Provider}/{embedders.Default.Model}");
        var created = await uow.RunAsync(async t =>
        {
            var v = await store.CreateAsync(tenantId, corpusId, identity, chunking, actor, ingestion.Value.MaxAttempts, t).ConfigureAwait(false)
                    ?? throw NexusException.Conflict(IndexVersionCodes.Building, "Another index version of this corpus is building; wait for it to finish (or fail) first");
            var details = Details(new Dictionary<string, object?>
            {
                ["embedding"] = Embedding(identity), ["chunking"] = chunking is null ? null : new { chunking.ChunkSizeChars, chunking.ChunkOverlapChars },
                ["job_id"] = v.JobId, ["documents_total"] = v.DocumentsTotal,
            });
            await store.AppendEventAsync(tenantId, corpusId, v.Version, IndexVersionEvents.Created, actor, null, details, t).ConfigureAwait(false);
            await AuditAsync(tenantId, "index_versions.created", actor, corpusId, v.Version, requestId, null, t, ("embedding", $"{identity.Provider}/{identity.Model}/{identity.Dimensions}"),
                ("chunk_size_chars", chunking?.ChunkSizeChars), ("chunk_overlap_chars", chunking?.ChunkOverlapChars)).ConfigureAwait(false);
            return v;
        }, ct).ConfigureAwait(false);
        signal.Notify();
        return created;
    }

    /// <summary>Evaluates a version and the active one on the same query set (the corpus's newest when none is named) and records the report.</summary>
    public async Task<EvaluationReport> EvaluateAsync(string tenantId, string corpusId, int version, string? evalSetId, IndexActor actor, string? requestId, CancellationToken ct)
    {
        var corpus = await CorpusAsync(tenantId, corpusId, ct).ConfigureAwait(false);
        var candidate = await GetAsync(tenantId, corpusId, version, ct).ConfigureAwait(false);
        if (!candidate.ReceivesWrites || candidate.Status == IndexVersionStatus.Building)
            throw NexusException.Conflict(IndexVersionCodes.NotReady, $"Index version {version} is {candidate.Status}; only a built version can be evaluated",
                new Dictionary<string, object?> { ["status"] = candidate.Status });
        var set = await store.GetEvalSetAsync(tenantId, corpusId, evalSetId, ct).ConfigureAwait(false)
                  ?? (evalSetId is null
                      ? throw NexusException.Conflict(IndexVersionCodes.NoEvalSet, "The corpus has no evaluation set; upload one with POST /v1/corpora/{id}/eval-sets")
                      : throw NexusException.NotFound("eval set", evalSetId));
        var judged = set.Qrels.Where(q => q.Score > 0).GroupBy(q => q.QueryId)
            .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, int>)g.GroupBy(j => j.DocumentId).ToDictionary(d => d.Key, d => d.Max(j => j.Score)));
        var queries = set.Queries.Where(q => judged.ContainsKey(q.Id)).ToList();
        if (queries.Count == 0) throw NexusException.Conflict(IndexVersionCodes.NoEvalSet, "The evaluation set has no query with a positive judgment");

        var active = corpus.ActiveIndexVersion == version
            ? candidate
            : await store.GetAsync(tenantId, corpusId, corpus.ActiveIndexVersion, ct).ConfigureAwait(false) ?? candidate;
        var candidateScore = await ScoreAsync(corpus, candidate, queries, judged, ct).ConfigureAwait(false);
        var activeScore = active.Version == candidate.Version ? candidateScore : await ScoreAsync(corpus, active, queries, judged, ct).ConfigureAwait(false);
        var report = new EvaluationReport(set.Id, queries.Count, "hybrid", candidateScore, activeScore,
            Math.Round(candidateScore.NdcgAt10 - activeScore.NdcgAt10, 6), clock.GetUtcNow().UtcDateTime);
        var json = JsonSerializer.Serialize(report, Json);
        await uow.RunAsync(async t =>
        {
            await store.SaveEvaluationAsync(tenantId, corpusId, version, json, t).ConfigureAwait(false);
            await store.AppendEventAsync(tenantId, corpusId, version, IndexVersionEvents.Evaluated, actor, null, json, t).ConfigureAwait(false);
            await AuditAsync(tenantId, "index_versions.evaluated", actor, corpusId, version, requestId, null, t, ("eval_set_id", set.Id),
                ("ndcg_at_10", candidateScore.NdcgAt10), ("active_version", activeScore.Version), ("active_ndcg_at_10", activeScore.NdcgAt10)).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
        return report;
    }

    private async Task<VersionScore> ScoreAsync(CorpusInfo corpus, IndexVersionInfo version, List<EvalQuery> queries,
        Dictionary<string, IReadOnlyDictionary<string, int>> judged, CancellationToken ct)
    {
        var target = new IndexTarget(version.Version, version.Embedding);
        double ndcg = 0, recall = 0, mrr = 0;
        foreach (var q in queries)
        {
            var response = await search.SearchAsync(corpus, new SearchRequest(corpus.Id, q.Text, 50, SearchMode.Hybrid, null), ct, target).ConfigureAwait(false);
            var ranked = response.Results.Select(r => r.Chunk.DocumentId).Distinct(StringComparer.Ordinal).ToList();
            ndcg += RetrievalMetrics.NdcgAt(10, ranked, judged[q.Id]);
            recall += RetrievalMetrics.RecallAt(10, ranked, judged[q.Id]);
            mrr += RetrievalMetrics.MrrAt(10, ranked, judged[q.Id]);
        }
        var n = queries.Count;
        return new VersionScore(version.Version, Math.Round(ndcg / n, 6), Math.Round(recall / n, 6), Math.Round(mrr / n, 6));
    }

    /// <summary>
    /// Makes a ready version active. Without <paramref name="force"/>, it needs an evaluation made against the current
    /// active version whose nDCG@10 is not below the active one's by more than <c>INDEX_PROMOTION_MAX_NDCG_DROP</c>.
    /// </summary>
    public async Task<IndexVersionInfo> PromoteAsync(string tenantId, string corpusId, int version, string reason, bool force, IndexActor actor, string? requestId,
        CancellationToken ct)
    {
        var corpus = await CorpusAsync(tenantId, corpusId, ct).ConfigureAwait(false);
        var v = await GetAsync(tenantId, corpusId, version, ct).ConfigureAwait(false);
        if (v.Status == IndexVersionStatus.Active)
            throw NexusException.Conflict(IndexVersionCodes.AlreadyActive, $"Index version {version} is already active");
        if (v.Status != IndexVersionStatus.Ready)
            throw NexusException.Conflict(IndexVersionCodes.NotReady, $"Index version {version} is {v.Status}; only a ready version can be promoted (a retired one comes back with rollback)",
                new Dictionary<string, object?> { ["status"] = v.Status });
        if (v.Embedding is { } model && embedders.Find(model) is null)
            throw NexusException.Conflict(ErrorCodes.EmbeddingModelMismatch, $"This server cannot run index version {version}'s model {model.Provider}/{model.Model}; it cannot serve");

        var report = v.EvaluationJson is null ? null : JsonSerializer.Deserialize<EvaluationReport>(v.EvaluationJson, Json);
        var gate = new Dictionary<string, object?> { ["forced"] = force, ["max_ndcg_drop"] = options.Value.PromotionMaxNdcgDrop };
        if (report is not null)
        {
            gate["candidate_ndcg_at_10"] = report.Candidate.NdcgAt10;
            gate["active_ndcg_at_10"] = report.Active.NdcgAt10;
            gate["evaluated_against"] = report.Active.Version;
        }
        if (!force)
        {
            if (report is null)
                throw NexusException.Conflict(IndexVersionCodes.NotEvaluated,
                    $"Index version {version} has no evaluation; run POST …/index-versions/{version}/evaluate first, or promote with force and a reason");
            if (report.Active.Version != corpus.ActiveIndexVersion)
                throw NexusException.Conflict(IndexVersionCodes.EvaluationStale,
                    $"Index version {version} was evaluated against version {report.Active.Version}, but version {corpus.ActiveIndexVersion} is active now; evaluate again");
            var drop = report.Active.NdcgAt10 - report.Candidate.NdcgAt10;
            if (drop > options.Value.PromotionMaxNdcgDrop + 1e-9)
            {
                await uow.RunAsync(async t =>
                {
                    await AuditAsync(tenantId, "index_versions.promoted", actor, corpusId, version, requestId, "denied", t, ("reason", reason),
                        ("candidate_ndcg_at_10", report.Candidate.NdcgAt10), ("active_ndcg_at_10", report.Active.NdcgAt10)).ConfigureAwait(false);
                    return 0;
                }, ct).ConfigureAwait(false);
                throw NexusException.Conflict(IndexVersionCodes.PromotionRefused,
                    $"Promotion refused: nDCG@10 {report.Candidate.NdcgAt10:F4} is {drop:F4} below the active version's {report.Active.NdcgAt10:F4} "
                    + $"(INDEX_PROMOTION_MAX_NDCG_DROP={options.Value.PromotionMaxNdcgDrop}); promote with force and a reason to override",
                    new Dictionary<string, object?>
                    {
                        ["candidate_ndcg_at_10"] = report.Candidate.NdcgAt10, ["active_ndcg_at_10"] = report.Active.NdcgAt10,
                        ["drop"] = Math.Round(drop, 6), ["max_ndcg_drop"] = options.Value.PromotionMaxNdcgDrop,
                    });
            }
        }
        await SwitchAsync(corpus, v.Version, IndexVersionEvents.Promoted, "index_versions.promoted", reason, gate, actor, requestId, ct).ConfigureAwait(false);
        return await GetAsync(tenantId, corpusId, version, ct).ConfigureAwait(false);
    }

    /// <summary>Returns to the most recently retired version (its chunks kept up to date while retained); the active one is retired.</summary>
    public async Task<IndexVersionInfo> RollbackAsync(string tenantId, string corpusId, string reason, IndexActor actor, string? requestId, CancellationToken ct)
    {
        var corpus = await CorpusAsync(tenantId, corpusId, ct).ConfigureAwait(false);
        var versions = await store.ListAsync(tenantId, corpusId, ct).ConfigureAwait(false);
        var target = versions.Where(v => v.Status == IndexVersionStatus.Retired && v.DroppedAt is null).OrderByDescending(v => v.RetiredAt).FirstOrDefault()
                     ?? throw NexusException.Conflict(IndexVersionCodes.NoRollbackTarget, "There is no retired index version to roll back to (none was active before, or it was dropped)");
        if (target.Embedding is { } model && embedders.Find(model) is null)
            throw NexusException.Conflict(ErrorCodes.EmbeddingModelMismatch, $"This server cannot run index version {target.Version}'s model {model.Provider}/{model.Model}; it cannot serve");
        await SwitchAsync(corpus, target.Version, IndexVersionEvents.RolledBack, "index_versions.rolled_back", reason,
            new Dictionary<string, object?> { ["from_version"] = corpus.ActiveIndexVersion }, actor, requestId, ct).ConfigureAwait(false);
        return await GetAsync(tenantId, corpusId, target.Version, ct).ConfigureAwait(false);
    }

    private async Task SwitchAsync(CorpusInfo corpus, int version, string eventType, string auditType, string reason, Dictionary<string, object?> details,
        IndexActor actor, string? requestId, CancellationToken ct)
    {
        var previous = corpus.ActiveIndexVersion;
        details["previous_active_version"] = previous;
        var json = Details(details);
        await uow.RunAsync(async t =>
        {
            if (!await store.ActivateAsync(corpus.TenantId, corpus.Id, version, previous, t).ConfigureAwait(false))
                throw NexusException.Conflict(IndexVersionCodes.Conflict, "The corpus's active index version changed meanwhile; look again and retry");
            await store.AppendEventAsync(corpus.TenantId, corpus.Id, version, eventType, actor, reason, json, t).ConfigureAwait(false);
            await store.AppendEventAsync(corpus.TenantId, corpus.Id, previous, IndexVersionEvents.Retired, actor, reason,
                Details(new Dictionary<string, object?> { ["active_version"] = version }), t).ConfigureAwait(false);
            await AuditAsync(corpus.TenantId, auditType, actor, corpus.Id, version, requestId, null, t, ("reason", reason), ("previous_active_version", previous),
                ("forced", details.GetValueOrDefault("forced"))).ConfigureAwait(false);
            await outbox.EnqueueAsync(new OutboxMessage(corpus.TenantId, "index_version.activated", Details(new Dictionary<string, object?>
            {
                ["corpus_id"] = corpus.Id, ["version"] = version, ["previous_version"] = previous, ["via"] = eventType,
            })), t).ConfigureAwait(false);
            return 0;
        }, ct).ConfigureAwait(false);
        logger.LogInformation("Corpus {Tenant}/{Corpus}: index version {Version} active ({Event}; was {Previous})", corpus.TenantId, corpus.Id, version, eventType, previous);
    }

    /// <summary>Drops failed versions, and retired ones past <c>INDEX_RETIRED_RETENTION_HOURS</c>: their chunks go, every replica's index follows.</summary>
    public async Task<int> DropExpiredAsync(CancellationToken ct)
    {
        var before = clock.GetUtcNow().UtcDateTime.AddHours(-options.Value.RetiredRetentionHours);
        var dropped = 0;
        foreach (var v in await store.DroppableAsync(before, ct).ConfigureAwait(false))
        {
            var system = new IndexActor("system", "index-janitor");
            var done = await uow.RunAsync(async t =>
            {
                if (!await store.DropAsync(v.TenantId, v.CorpusId, v.Version, t).ConfigureAwait(false)) return false;
                await store.AppendEventAsync(v.TenantId, v.CorpusId, v.Version, IndexVersionEvents.Dropped, system, v.Status == IndexVersionStatus.Failed
                    ? "failed build" : $"retired more than {options.Value.RetiredRetentionHours} h ago", null, t).ConfigureAwait(false);
                await AuditAsync(v.TenantId, "index_versions.dropped", system, v.CorpusId, v.Version, null, null, t, ("status", v.Status)).ConfigureAwait(false);
                return true;
            }, ct).ConfigureAwait(false);
            if (done) dropped++;
        }
        return dropped;
    }

    private Task AuditAsync(string tenantId, string eventType, IndexActor actor, string corpusId, int version, string? requestId, string? outcome,
        CancellationToken ct, params (string Key, object? Value)[] meta)
    {
        var metadata = new Dictionary<string, object?> { ["corpus_id"] = corpusId, ["index_version"] = version };
        foreach (var (k, val) in meta) metadata[k] = val;
        return audit.AppendAsync(new AuditEntry(tenantId, eventType, outcome ?? "success", actor.Type, actor.Id, "index_version",
            $"{corpusId}/{version}", requestId, metadata), ct);
    }

    internal static object? Embedding(EmbeddingIdentity? e) => e is null ? null : new { provider = e.Provider, model = e.Model, dimensions = e.Dimensions };

    internal static string Details(Dictionary<string, object?> values) => JsonSerializer.Serialize(values, Json);
}

/// <summary>Error codes of index-version operations.</summary>
public static class IndexVersionCodes
{
    public const string Building = "INDEX_VERSION_BUILDING";
    public const string NotReady = "INDEX_VERSION_NOT_READY";
    public const string AlreadyActive = "INDEX_VERSION_ALREADY_ACTIVE";
    public const string NotEvaluated = "INDEX_VERSION_NOT_EVALUATED";
    public const string EvaluationStale = "INDEX_VERSION_EVALUATION_STALE";
    public const string PromotionRefused = "INDEX_PROMOTION_REFUSED";
    public const string NoRollbackTarget = "INDEX_NO_ROLLBACK_TARGET";
    public const string NoEvalSet = "EVAL_SET_REQUIRED";
    public const string Conflict = "INDEX_VERSION_CONFLICT";
}
