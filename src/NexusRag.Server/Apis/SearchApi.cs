using System.Text.Json;
using Microsoft.Extensions.Options;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Search;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class SearchRequestBody
{
    public string? CorpusId { get; set; }
    public string? Query { get; set; }
    public int? TopK { get; set; }
    public string? Mode { get; set; }
    public JsonElement? Filters { get; set; }
    public bool? Explain { get; set; }
}

/// <summary><c>rerank</c>: null without a reranker; <c>applied</c>, or <c>fallback</c> when the reranker failed and the fused order stands;
/// <c>index_version</c>: the corpus index version that served the search.</summary>
public sealed record SearchResponseDto(string CorpusId, string Query, string Mode, int TopK, IReadOnlyList<SearchHitDto> Results, string? Rerank, int IndexVersion);

/// <summary>A ranked chunk; page, slide, heading path, sheet and rows say where it is in its document (null where they do not apply).</summary>
public sealed record SearchHitDto(
    string ChunkId, string DocumentId, int ChunkIndex, double Score, string Source, string Text,
    int StartOffset, int EndOffset, int? PageStart, int? PageEnd, int? Slide, string? HeadingPath, string? Sheet, int? RowStart, int? RowEnd,
    JsonElement Metadata, SearchExplainDto? Explain, double? RerankScore);

/// <summary>Per-leg positions (1-based) and raw scores: BM25 for lexical, cosine for vector.</summary>
public sealed record SearchExplainDto(int? LexicalRank, double? LexicalScore, int? VectorRank, double? VectorScore);

public static class SearchApi
{
    public static RouteGroupBuilder MapSearchApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/search").WithTags("Search").WithAuditCategory("search");
        g.MapPost("/", Search).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read)
            .Accepts<SearchRequestBody>("application/json").Produces<Envelope<SearchResponseDto>>()
            .WithSummary("Rank a corpus's chunks for a query: hybrid (BM25 + vectors, RRF), lexical or vector.");
        return g;
    }

    private static async Task<IResult> Search(HttpContext ctx, SearchService search, IOptions<SearchOptions> options, Core.Authorization.DocumentAuthorizer authorizer)
    {
        var body = await JsonBody.ReadAsync<SearchRequestBody>(ctx.Request);
        return ApiResults.Ok(ctx, await ExecuteAsync(ctx.GetPrincipal(), body, search, options.Value, authorizer, ctx.RequestAborted));
    }

    /// <summary>Validates and runs a search for a principal (the HTTP endpoint and the MCP <c>search</c> tool).</summary>
    public static async Task<SearchResponseDto> ExecuteAsync(Principal principal, SearchRequestBody body, SearchService search, SearchOptions o,
        Core.Authorization.DocumentAuthorizer authorizer, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(body.CorpusId)) errors["corpus_id"] = ["is required"];
        var query = body.Query?.Trim() ?? "";
        if (query.Length == 0) errors["query"] = ["must be a non-empty string"];
        else if (query.Length > o.MaxQueryChars) errors["query"] = [$"must be at most {o.MaxQueryChars} characters (got {query.Length})"];
        if (body.TopK is { } k && (k < 1 || k > o.MaxTopK)) errors["top_k"] = [$"must be between 1 and {o.MaxTopK}"];
        SearchMode? mode = body.Mode?.Trim().ToLowerInvariant() switch
        {
            null or "hybrid" => SearchMode.Hybrid,
            "lexical" => SearchMode.Lexical,
            "vector" => SearchMode.Vector,
            _ => null,
        };
        if (mode is null) errors["mode"] = ["must be one of hybrid, lexical, vector"];
        var filters = ParseFilters(body.Filters, errors);
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var readable = await authorizer.ReadableAsync(principal, body.CorpusId, ct); // filtered inside the index, before top-k
        var (topK, results, rerank, indexVersion) = await search.SearchAsync(principal.TenantId,
            new SearchRequest(body.CorpusId!, query, body.TopK, mode!.Value, filters, readable), ct);
        var explain = body.Explain == true;
        return new SearchResponseDto(body.CorpusId!, query, mode.Value.ToString().ToLowerInvariant(), topK, results.Select(r =>
        {
            using var meta = JsonDocument.Parse(r.Chunk.MetadataJson);
            var at = NexusRag.Core.Ingestion.ChunkLocation.FromMetadata(meta.RootElement);
            return new SearchHitDto(r.Chunk.Id, r.Chunk.DocumentId, r.Chunk.ChunkIndex, r.Hit.Score, $"document://{r.Chunk.DocumentId}",
                r.Chunk.Text, r.Chunk.StartOffset, r.Chunk.EndOffset, at?.PageStart, at?.PageEnd, at?.Slide, at?.HeadingPath, at?.Sheet, at?.RowStart, at?.RowEnd,
                meta.RootElement.Clone(),
                explain ? new SearchExplainDto(r.Hit.LexicalRank, r.Hit.LexicalScore, r.Hit.VectorRank, r.Hit.VectorScore) : null, r.RerankScore);
        }).ToList(), rerank?.ToString().ToLowerInvariant(), indexVersion);
    }

    /// <summary><c>{"document_ids": [..], "metadata": {"key": scalar | [scalars]}}</c>; anything else is a 422.</summary>
    private static SearchFilters? ParseFilters(JsonElement? raw, Dictionary<string, string[]> errors)
    {
        if (raw is not { } f || f.ValueKind == JsonValueKind.Null) return null;
        if (f.ValueKind != JsonValueKind.Object) { errors["filters"] = ["must be an object with document_ids and/or metadata"]; return null; }
        List<string>? ids = null;
        Dictionary<string, IReadOnlyList<string>>? meta = null;
        foreach (var p in f.EnumerateObject())
        {
            switch (p.Name)
            {
                case "document_ids":
                    if (p.Value.ValueKind != JsonValueKind.Array || p.Value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
                        errors["filters.document_ids"] = ["must be an array of strings"];
                    else if (p.Value.GetArrayLength() is 0 or > 1000) errors["filters.document_ids"] = ["must hold 1-1000 ids"];
                    else ids = p.Value.EnumerateArray().Select(e => e.GetString()!).ToList();
                    break;
                case "metadata":
                    if (p.Value.ValueKind != JsonValueKind.Object) { errors["filters.metadata"] = ["must be an object of key: value or key: [values]"]; break; }
                    meta = [];
                    foreach (var kv in p.Value.EnumerateObject())
                    {
                        var values = kv.Value.ValueKind == JsonValueKind.Array
                            ? kv.Value.EnumerateArray().Select(NexusRag.Search.CorpusIndexFields.Scalar).ToList()
                            : [NexusRag.Search.CorpusIndexFields.Scalar(kv.Value)];
                        if (values.Count == 0 || values.Any(v => v is null))
                            errors[$"filters.metadata.{Text.Clip(kv.Name, 64)}"] = ["must be a string, number or boolean, or a non-empty array of them"];
                        else meta[kv.Name] = values.Select(v => v!).ToList();
                    }
                    break;
                default:
                    errors[$"filters.{Text.Clip(p.Name, 64)}"] = ["is not a known filter (document_ids, metadata)"];
                    break;
            }
        }
        return new SearchFilters(ids, meta);
    }
}
