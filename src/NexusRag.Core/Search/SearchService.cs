using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Search;

/// <summary>A search; <see cref="TopK"/> null means the corpus's <c>top_k_default</c>.</summary>
/// <summary>
/// A search. <see cref="Readable"/> (from <see cref="Authorization.DocumentAuthorizer.ReadableAsync"/>) restricts it to
/// the documents the caller may read, inside the index (both legs, before top-k); null means no restriction.
/// </summary>
public sealed record SearchRequest(string CorpusId, string Query, int? TopK, SearchMode Mode, SearchFilters? Filters, Func<string, bool>? Readable = null);

/// <summary>The ranked chunks and the index version that ranked them; <see cref="Rerank"/> is null when no reranker is configured.</summary>
public sealed record SearchResponse(int TopK, IReadOnlyList<SearchResult> Results, RerankOutcome? Rerank = null, int IndexVersion = 1);

/// <summary>An index version to search instead of the corpus's active one (evaluations), with the model its vectors came from.</summary>
public sealed record IndexTarget(int Version, EmbeddingIdentity? Embedding);

/// <summary>A ranked chunk; <see cref="RerankScore"/> is the reranker's relevance when it scored this chunk.</summary>
public sealed record SearchResult(ChunkInfo Chunk, IndexHit Hit, double? RerankScore = null);

/// <summary>
/// The query path: tenant-scoped corpus lookup → query embedding (the corpus's own model, or fail closed) →
/// index catch-up (read-your-writes) → hybrid ranking → chunk text from the store.
/// </summary>
public sealed class SearchService(
    ICorpusStore corpora,
    IDocumentStore documents,
    ISearchIndex index,
    IEmbedderRegistry embedders,
    IOptions<SearchOptions> options,
    RerankStage rerank,
    Observability.NexusInstrumentation telemetry)
{
    public async Task<SearchResponse> SearchAsync(string tenantId, SearchRequest request, CancellationToken ct)
    {
        var corpus = await corpora.GetAsync(tenantId, request.CorpusId, ct).ConfigureAwait(false)
                     ?? throw NexusException.NotFound("corpus", request.CorpusId);
        return await SearchAsync(corpus, request, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Searches a corpus the caller has already loaded (and so already scoped to its tenant): its active index version
    /// (the one the loaded row points at, with that row's model, so a promotion never mixes models), or <paramref name="target"/>.
    /// </summary>
    public async Task<SearchResponse> SearchAsync(CorpusInfo corpus, SearchRequest request, CancellationToken ct, IndexTarget? target = null)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        using var span = telemetry.Start("search");
        span?.SetTag("nexusrag.search.mode", ModeName(request.Mode));
        try
        {
            return await SearchCoreAsync(corpus, request, target, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Observability.NexusInstrumentation.Fail(span, ex);
            throw;
        }
        finally
        {
            telemetry.SearchDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds,
                new KeyValuePair<string, object?>("mode", ModeName(request.Mode)));
        }
    }

    private static string ModeName(SearchMode mode) => mode switch
    {
        SearchMode.Lexical => "lexical",
        SearchMode.Vector => "vector",
        _ => "hybrid",
    };

    private async Task<SearchResponse> SearchCoreAsync(CorpusInfo corpus, SearchRequest request, IndexTarget? target, CancellationToken ct)
    {
        var tenantId = corpus.TenantId;
        var topK = request.TopK ?? Corpora.ProviderConfig.TopKDefault(corpus.ProviderConfigJson);
        float[]? queryVector = null;
        var version = target?.Version ?? corpus.ActiveIndexVersion;
        var recorded = target is null ? corpus.Embedding : target.Embedding;
        var identity = recorded ?? embedders.Default;
        if (request.Mode != SearchMode.Lexical)
        {
            var (_, embedder) = embedders.ForCorpus(corpus.Id, recorded); // the version's model, or fail closed
            queryVector = await EmbedQueryAsync(embedder, request.Query, identity, ct).ConfigureAwait(false);
        }

        await index.CatchUpAsync(ct).ConfigureAwait(false);
        var o = options.Value;
        var fusion = o.FusionFor(identity.Provider);
        var hits = index.Search(new IndexQuery(tenantId, corpus.Id, request.Query, queryVector, rerank.Depth(topK), request.Mode,
            request.Filters, fusion.LexicalWeight, fusion.VectorWeight, Fusion: fusion.Method, RrfK: fusion.RrfK, IndexVersion: version,
            Readable: request.Readable));
        if (hits.Count == 0) return new SearchResponse(topK, [], rerank.Enabled ? RerankOutcome.Applied : null, version); // nothing to reorder

        var chunks = (await documents.GetChunksByIdsAsync(tenantId, hits.Select(h => h.ChunkId).ToList(), ct).ConfigureAwait(false))
            .ToDictionary(c => c.Id);
        // A chunk replaced between ranking and this read is dropped rather than shown stale.
        var results = hits.Where(h => chunks.ContainsKey(h.ChunkId)).Select(h => new SearchResult(chunks[h.ChunkId], h)).ToList();
        if (!rerank.Enabled) return new SearchResponse(topK, results, null, version);
        (results, var applied) = await rerank.ApplyAsync(request.Query, results, topK, ct).ConfigureAwait(false);
        return new SearchResponse(topK, results, applied, version);
    }

    private static async Task<float[]> EmbedQueryAsync(IEmbeddingGenerator<string, Embedding<float>> embedder, string query, EmbeddingIdentity identity, CancellationToken ct)
    {
        try
        {
            return (await EmbeddingBatches.EmbedAsync(embedder, [query], 1, identity.Dimensions, ct, EmbeddingInput.QueryOptionsFor(embedder)).ConfigureAwait(false))[0];
        }
        catch (EmbeddingProviderException ex)
        {
            throw new NexusException(ErrorKind.UpstreamFailure, ErrorCodes.EmbeddingProviderError, "The embedding provider could not embed the query: " + ex.Message);
        }
    }
}
