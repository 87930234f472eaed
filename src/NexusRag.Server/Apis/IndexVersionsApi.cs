using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Indexing;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Services;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class CreateIndexVersionRequest
{
    public EmbeddingSpecBody? Embedding { get; set; }
    public ChunkingSpecBody? Chunking { get; set; }
}

public sealed class EmbeddingSpecBody
{
    public string? Provider { get; set; }
    public string? Model { get; set; }
    public int? Dimensions { get; set; }
}

public sealed class ChunkingSpecBody
{
    public int? ChunkSizeChars { get; set; }
    public int? ChunkOverlapChars { get; set; }
}

public sealed class EvaluateRequest
{
    public string? EvalSetId { get; set; }
}

public sealed class PromoteRequest
{
    public string? Reason { get; set; }
    public bool? Force { get; set; }
}

public sealed class RollbackRequest
{
    public string? Reason { get; set; }
}

/// <summary>
/// A query set: <c>queries</c> as BEIR's <c>queries.jsonl</c> records (<c>_id</c> or <c>id</c>, <c>text</c>) and <c>qrels</c> as
/// BEIR's <c>qrels/*.tsv</c> rows (<c>query-id</c> or <c>query_id</c>, <c>corpus-id</c> or <c>document_id</c>, <c>score</c>) — or
/// the two files' raw text in <c>queries_jsonl</c> and <c>qrels_tsv</c>.
/// </summary>
public sealed class CreateEvalSetRequest
{
    public string? Name { get; set; }
    public JsonElement? Queries { get; set; }
    public JsonElement? Qrels { get; set; }
    public string? QueriesJsonl { get; set; }
    public string? QrelsTsv { get; set; }
}

/// <summary>An index version: <c>progress</c> is documents visited over documents at the start of the build (1 once built).</summary>
public sealed record IndexVersionDto(
    int VersionId, string CorpusId, string Status, EmbeddingDto? Embedding, ChunkingDto? Chunking, double Progress, IndexVersionCountsDto Counts,
    JsonElement? Evaluation, string? FailureReason, string CreatedBy, DateTime CreatedAt, DateTime UpdatedAt, DateTime? BuiltAt, DateTime? ActivatedAt,
    DateTime? RetiredAt, DateTime? DroppedAt, string? JobId, string StatusUrl)
{
    public static IndexVersionDto From(IndexVersionInfo v)
    {
        JsonElement? eval = null;
        if (v.EvaluationJson is { } json)
        {
            using var doc = JsonDocument.Parse(json);
            eval = doc.RootElement.Clone();
        }
        var progress = v.Status == IndexVersionStatus.Building
            ? v.DocumentsTotal == 0 ? 0 : Math.Round(Math.Min(1.0, v.DocumentsDone / (double)v.DocumentsTotal), 4)
            : v.Status == IndexVersionStatus.Failed ? (v.DocumentsTotal == 0 ? 0 : Math.Round(Math.Min(1.0, v.DocumentsDone / (double)v.DocumentsTotal), 4)) : 1.0;
        return new IndexVersionDto(v.Version, v.CorpusId, v.Status,
            v.Embedding is { } e ? new EmbeddingDto(e.Provider, e.Model, e.Dimensions) : null,
            v.Chunking is { } c ? new ChunkingDto(c.ChunkSizeChars, c.ChunkOverlapChars) : null,
            progress, new IndexVersionCountsDto(v.DocumentsTotal, v.DocumentsDone, v.DocumentsSkipped, v.DocumentsIndexed, v.Chunks),
            eval, v.FailureReason, v.CreatedBy, v.CreatedAt, v.UpdatedAt, v.BuiltAt, v.ActivatedAt, v.RetiredAt, v.DroppedAt, v.JobId,
            $"/v1/corpora/{Uri.EscapeDataString(v.CorpusId)}/index-versions/{v.Version}");
    }
}

/// <summary>Null chunking: each document keeps its own chunk size and overlap.</summary>
public sealed record ChunkingDto(int ChunkSizeChars, int ChunkOverlapChars);

public sealed record IndexVersionCountsDto(int DocumentsTotal, int DocumentsDone, int DocumentsSkipped, int DocumentsIndexed, int Chunks);

public sealed record IndexVersionAcceptedDto(int VersionId, string CorpusId, string Status, string JobId, string StatusUrl);

public sealed record IndexVersionListDto(int ActiveVersion, IReadOnlyList<IndexVersionDto> Items);

public sealed record IndexVersionEventDto(long Id, int VersionId, string EventType, string ActorType, string ActorId, string? Reason, JsonElement? Details, DateTime OccurredAt);

public sealed record EvalSetDto(string EvalSetId, string CorpusId, string Name, int Queries, int Judgments, string CreatedBy, DateTime CreatedAt);

public static class IndexVersionsApi
{
    public static RouteGroupBuilder MapIndexVersionsApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/corpora/{id}").WithTags("Index versions").WithAuditCategory("index_versions");
        g.MapPost("/index-versions", Create).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .RequireNotKilled(KillSwitches.Ingest, "Index builds")
            .Accepts<CreateIndexVersionRequest>("application/json").Produces<Envelope<IndexVersionAcceptedDto>>(202)
            .WithSummary("Build a new index version (another embedding model or chunking) in the background while the active one serves.");
        g.MapGet("/index-versions", List).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<IndexVersionListDto>>();
        g.MapGet("/index-versions/events", Events).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<IndexVersionEventDto>>>()
            .WithSummary("The append-only registry of the corpus's index-version events.");
        g.MapGet("/index-versions/{version}", Get).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<IndexVersionDto>>();
        g.MapPost("/index-versions/{version}/evaluate", Evaluate).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<EvaluateRequest>("application/json").Produces<Envelope<IndexVersionDto>>()
            .WithSummary("Evaluate the version and the active one on an uploaded query set (nDCG@10, recall@10, MRR@10).");
        g.MapPost("/index-versions/{version}/promote", Promote).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<PromoteRequest>("application/json").Produces<Envelope<IndexVersionDto>>()
            .WithSummary("Make a ready version active, if its evaluation is not worse than the active one's beyond INDEX_PROMOTION_MAX_NDCG_DROP (or force with a reason).");
        g.MapPost("/index-versions/rollback", Rollback).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<RollbackRequest>("application/json").Produces<Envelope<IndexVersionDto>>()
            .WithSummary("Return to the previously active version.");
        g.MapPost("/eval-sets", CreateEvalSet).RequireRole(Role.Editor).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<CreateEvalSetRequest>("application/json").Produces<Envelope<EvalSetDto>>(201)
            .WithSummary("Upload a BEIR-style query set (queries + qrels over the corpus's document ids) for evaluating index versions.");
        g.MapGet("/eval-sets", ListEvalSets).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<EvalSetDto>>>();
        return g;
    }

    private static IndexActor Actor(HttpContext ctx) => new(ctx.GetPrincipal().ActorType, ctx.GetPrincipal().ActorId);

    private static int ParseVersion(string version) =>
        int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : throw NexusException.NotFound("index version", Text.Clip(version, 32));

    private static async Task<IResult> Create(HttpContext ctx, string id, IndexVersionService versions, IOptions<IngestionOptions> ingestion)
    {
        var body = await JsonBody.ReadAsync<CreateIndexVersionRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        var e = body.Embedding;
        if (e is not null && string.IsNullOrWhiteSpace(e.Provider)) errors["embedding.provider"] = ["is required when embedding is given"];
        if (e?.Dimensions is { } d && d is < 1 or > 8192) errors["embedding.dimensions"] = ["must be between 1 and 8192"];
        ChunkingSpec? chunking = null;
        if (body.Chunking is { } c)
        {
            var o = ingestion.Value;
            var size = c.ChunkSizeChars ?? o.DefaultChunkSizeChars;
            var overlap = c.ChunkOverlapChars ?? Math.Min(o.DefaultChunkOverlapChars, size - 1);
            if (size < 1 || size > o.MaxChunkSizeChars) errors["chunking.chunk_size_chars"] = [$"must be between 1 and {o.MaxChunkSizeChars}"];
            else if (overlap < 0 || overlap >= size) errors["chunking.chunk_overlap_chars"] = ["must be at least 0 and less than chunk_size_chars"];
            chunking = new ChunkingSpec(size, overlap);
        }
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var tenant = ctx.GetPrincipal().TenantId;
        var v = await versions.CreateAsync(tenant, id, e?.Provider, e?.Model, e?.Dimensions, chunking, Actor(ctx), RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
        var dto = IndexVersionDto.From(v);
        ctx.Response.Headers.Location = dto.StatusUrl;
        return ApiResults.Ok(ctx, new IndexVersionAcceptedDto(v.Version, v.CorpusId, v.Status, v.JobId ?? "", dto.StatusUrl), StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> List(HttpContext ctx, string id, IndexVersionService versions, IIndexVersionStore store)
    {
        var tenant = ctx.GetPrincipal().TenantId;
        var corpus = await versions.CorpusAsync(tenant, id, ctx.RequestAborted);
        var items = await store.ListAsync(tenant, id, ctx.RequestAborted);
        return ApiResults.Ok(ctx, new IndexVersionListDto(corpus.ActiveIndexVersion, items.Select(IndexVersionDto.From).ToList()));
    }

    private static async Task<IResult> Get(HttpContext ctx, string id, string version, IndexVersionService versions) =>
        ApiResults.Ok(ctx, IndexVersionDto.From(await versions.GetAsync(ctx.GetPrincipal().TenantId, id, ParseVersion(version), ctx.RequestAborted)));

    private static async Task<IResult> Events(HttpContext ctx, string id, IndexVersionService versions, IIndexVersionStore store)
    {
        var tenant = ctx.GetPrincipal().TenantId;
        await versions.CorpusAsync(tenant, id, ctx.RequestAborted);
        var events = await store.EventsAsync(tenant, id, null, ctx.RequestAborted);
        return ApiResults.Ok(ctx, events.Select(e =>
        {
            JsonElement? details = null;
            if (e.DetailsJson is { } json)
            {
                using var doc = JsonDocument.Parse(json);
                details = doc.RootElement.Clone();
            }
            return new IndexVersionEventDto(e.Id, e.Version, e.EventType, e.ActorType, e.ActorId, e.Reason, details, e.OccurredAt);
        }).ToList());
    }

    private static async Task<IResult> Evaluate(HttpContext ctx, string id, string version, IndexVersionService versions)
    {
        var body = ctx.Request.ContentLength is 0 || (ctx.Request.ContentLength is null && !ctx.Request.Headers.ContentType.Any())
            ? new EvaluateRequest()
            : await JsonBody.ReadAsync<EvaluateRequest>(ctx.Request);
        var tenant = ctx.GetPrincipal().TenantId;
        var n = ParseVersion(version);
        await versions.EvaluateAsync(tenant, id, n, body.EvalSetId, Actor(ctx), RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
        return ApiResults.Ok(ctx, IndexVersionDto.From(await versions.GetAsync(tenant, id, n, ctx.RequestAborted)));
    }

    private static async Task<IResult> Promote(HttpContext ctx, string id, string version, IndexVersionService versions)
    {
        var body = await JsonBody.ReadAsync<PromoteRequest>(ctx.Request);
        var reason = Reason(body.Reason);
        var v = await versions.PromoteAsync(ctx.GetPrincipal().TenantId, id, ParseVersion(version), reason, body.Force == true, Actor(ctx),
            RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
        return ApiResults.Ok(ctx, IndexVersionDto.From(v));
    }

    private static async Task<IResult> Rollback(HttpContext ctx, string id, IndexVersionService versions)
    {
        var body = await JsonBody.ReadAsync<RollbackRequest>(ctx.Request);
        var v = await versions.RollbackAsync(ctx.GetPrincipal().TenantId, id, Reason(body.Reason), Actor(ctx), RequestIdMiddleware.Get(ctx), ctx.RequestAborted);
        return ApiResults.Ok(ctx, IndexVersionDto.From(v));
    }

    /// <summary>Every switch of the active version says why (it goes into the registry and the audit log).</summary>
    private static string Reason(string? reason)
    {
        var r = reason?.Trim() ?? "";
        if (r.Length is 0 or > 500) throw NexusException.Validation("reason", "is required: 1-500 characters saying why");
        return r;
    }

    private static async Task<IResult> CreateEvalSet(HttpContext ctx, string id, IndexVersionService versions, IIndexVersionStore store,
        IOptions<IndexVersionOptions> options, TimeProvider clock)
    {
        var tenant = ctx.GetPrincipal().TenantId;
        await versions.CorpusAsync(tenant, id, ctx.RequestAborted);
        var body = await JsonBody.ReadAsync<CreateEvalSetRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        var name = body.Name?.Trim() ?? "eval set";
        if (name.Length is 0 or > 200) errors["name"] = ["must be 1-200 characters"];
        var queries = EvalSetParser.Queries(body.Queries, body.QueriesJsonl, errors);
        var qrels = EvalSetParser.Qrels(body.Qrels, body.QrelsTsv, errors);
        var o = options.Value;
        if (queries.Count > o.MaxEvalQueries) errors["queries"] = [$"at most {o.MaxEvalQueries} queries"];
        if (qrels.Count > o.MaxEvalJudgments) errors["qrels"] = [$"at most {o.MaxEvalJudgments} judgments"];
        if (errors.Count == 0)
        {
            var known = queries.Select(q => q.Id).ToHashSet(StringComparer.Ordinal);
            if (queries.Count != known.Count) errors["queries"] = ["query ids must be unique"];
            var orphans = qrels.Where(j => !known.Contains(j.QueryId)).Select(j => j.QueryId).Distinct().Take(5).ToList();
            if (orphans.Count > 0) errors["qrels"] = [$"judge queries that are not in queries: {string.Join(", ", orphans.Select(x => Text.Clip(x, 40)))}"];
            else if (!qrels.Any(j => j.Score > 0)) errors["qrels"] = ["need at least one judgment with a positive score"];
        }
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var principal = ctx.GetPrincipal();
        var set = await store.CreateEvalSetAsync(new EvalSetInfo(Identifiers.NewId("evalset"), tenant, id, name, queries, qrels,
            $"{principal.ActorType}:{principal.ActorId}", clock.GetUtcNow().UtcDateTime), ctx.RequestAborted);
        return ApiResults.Ok(ctx, ToDto(set), StatusCodes.Status201Created);
    }

    private static async Task<IResult> ListEvalSets(HttpContext ctx, string id, IndexVersionService versions, IIndexVersionStore store)
    {
        var tenant = ctx.GetPrincipal().TenantId;
        await versions.CorpusAsync(tenant, id, ctx.RequestAborted);
        return ApiResults.Ok(ctx, (await store.ListEvalSetsAsync(tenant, id, ctx.RequestAborted)).Select(ToDto).ToList());
    }

    private static EvalSetDto ToDto(EvalSetInfo s) => new(s.Id, s.CorpusId, s.Name, s.QueryCount, s.JudgmentCount, s.CreatedBy, s.CreatedAt);
}

/// <summary>Reads BEIR queries and qrels from JSON arrays or from the raw files' text, collecting every problem.</summary>
internal static class EvalSetParser
{
    public static List<EvalQuery> Queries(JsonElement? array, string? jsonl, Dictionary<string, string[]> errors)
    {
        var items = new List<EvalQuery>();
        if (array is { ValueKind: not JsonValueKind.Null } a && jsonl is not null) { errors["queries"] = ["send queries or queries_jsonl, not both"]; return items; }
        IEnumerable<(int Line, JsonElement E)> records;
        var parsed = new List<JsonDocument>();
        try
        {
            if (array is { ValueKind: JsonValueKind.Array } arr) records = arr.EnumerateArray().Select((e, i) => (i + 1, e)).ToList();
            else if (jsonl is not null)
            {
                var list = new List<(int, JsonElement)>();
                var lines = jsonl.Split('\n');
                for (var i = 0; i < lines.Length; i++)
                {
                    if (string.IsNullOrWhiteSpace(lines[i])) continue;
                    try
                    {
                        var d = JsonDocument.Parse(lines[i]);
                        parsed.Add(d);
                        list.Add((i + 1, d.RootElement));
                    }
                    catch (JsonException) { errors["queries_jsonl"] = [$"line {i + 1} is not a JSON object"]; return items; }
                }
                records = list;
            }
            else { errors["queries"] = ["is required: an array of {\"_id\", \"text\"} (or queries_jsonl)"]; return items; }

            foreach (var (line, e) in records)
            {
                var qid = e.ValueKind == JsonValueKind.Object ? (Str(e, "_id") ?? Str(e, "id")) : null;
                var text = e.ValueKind == JsonValueKind.Object ? Str(e, "text")?.Trim() : null;
                if (string.IsNullOrEmpty(qid) || string.IsNullOrEmpty(text) || text.Length > 8_000)
                {
                    errors["queries"] = [$"record {line} needs a string _id (or id) and a non-empty text of at most 8000 characters"];
                    return items;
                }
                items.Add(new EvalQuery(qid, text));
            }
        }
        finally
        {
            foreach (var d in parsed) d.Dispose();
        }
        if (items.Count == 0) errors["queries"] = ["need at least one query"];
        return items;
    }

    public static List<EvalJudgment> Qrels(JsonElement? array, string? tsv, Dictionary<string, string[]> errors)
    {
        var items = new List<EvalJudgment>();
        if (array is { ValueKind: not JsonValueKind.Null } && tsv is not null) { errors["qrels"] = ["send qrels or qrels_tsv, not both"]; return items; }
        if (array is { ValueKind: JsonValueKind.Array } arr)
        {
            var i = 0;
            foreach (var e in arr.EnumerateArray())
            {
                i++;
                var q = e.ValueKind == JsonValueKind.Object ? Str(e, "query-id") ?? Str(e, "query_id") : null;
                var d = e.ValueKind == JsonValueKind.Object ? Str(e, "corpus-id") ?? Str(e, "document_id") : null;
                int? score = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("score", out var s) && s.ValueKind == JsonValueKind.Number && s.TryGetInt32(out var n) ? n : null;
                if (q is null || d is null || score is null) { errors["qrels"] = [$"record {i} needs query-id, corpus-id (or query_id, document_id) and an integer score"]; return items; }
                items.Add(new EvalJudgment(q, d, score.Value));
            }
        }
        else if (tsv is not null)
        {
            var lines = tsv.Split('\n');
            for (var i = 0; i < lines.Length; i++)
            {
                var cols = lines[i].TrimEnd('\r').Split('\t');
                if (cols.Length == 1 && cols[0].Trim().Length == 0) continue;
                if (i == 0 && cols[0] == "query-id") continue; // BEIR's header
                if (cols.Length != 3 || !int.TryParse(cols[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var score))
                {
                    errors["qrels_tsv"] = [$"line {i + 1} must be query-id<TAB>corpus-id<TAB>integer score"];
                    return items;
                }
                items.Add(new EvalJudgment(cols[0], cols[1], score));
            }
        }
        else errors["qrels"] = ["is required: an array of {\"query-id\", \"corpus-id\", \"score\"} (or qrels_tsv)"];
        return items;
    }

    private static string? Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) ? v.ValueKind switch { JsonValueKind.String => v.GetString(), JsonValueKind.Number => v.GetRawText(), _ => null } : null;
}
