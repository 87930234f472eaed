using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Search;

namespace NexusRag.Embeddings;

/// <summary>
/// The common rerank protocol of Cohere, Jina, vLLM and Hugging Face TEI-compatible servers:
/// <c>POST {base}/rerank {model, query, documents, top_n}</c> → <c>{results: [{index, relevance_score}]}</c>.
/// Every failure (transport, status, body) surfaces as <see cref="RerankerException"/>; the search stage falls back.
/// </summary>
public sealed class HttpReranker(IHttpClientFactory clients, IOptions<RerankOptions> options) : IReranker
{
    public const string HttpClientName = "nexusrag-rerank";

    private sealed record Request(
        [property: JsonPropertyName("model"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Model,
        [property: JsonPropertyName("query")] string Query,
        [property: JsonPropertyName("documents")] IReadOnlyList<string> Documents,
        [property: JsonPropertyName("top_n")] int TopN);

    public async Task<IReadOnlyList<RerankScore>> RerankAsync(string query, IReadOnlyList<string> documents, int topN, CancellationToken ct)
    {
        var o = options.Value;
        using var request = new HttpRequestMessage(HttpMethod.Post, o.BaseUrl!.TrimEnd('/') + "/rerank")
        {
            Content = JsonContent.Create(new Request(o.Model, query, documents, topN)),
        };
        if (!string.IsNullOrEmpty(o.ApiKey)) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", o.ApiKey);
        try
        {
            using var response = await clients.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw new RerankerException($"the reranker answered HTTP {(int)response.StatusCode}");
            await using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
            using var doc = await JsonDocument.ParseAsync(body, cancellationToken: ct).ConfigureAwait(false);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("results", out var results) || results.ValueKind != JsonValueKind.Array)
                throw new RerankerException("the reranker's answer has no results array");
            var scores = new List<RerankScore>(results.GetArrayLength());
            foreach (var r in results.EnumerateArray())
            {
                if (r.ValueKind != JsonValueKind.Object || !r.TryGetProperty("index", out var i) || !i.TryGetInt32(out var index)
                    || !r.TryGetProperty("relevance_score", out var s) || !s.TryGetDouble(out var score))
                    throw new RerankerException("a reranker result lacks an integer index or a numeric relevance_score");
                scores.Add(new RerankScore(index, score));
            }
            return scores;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or IOException)
        {
            throw new RerankerException($"the reranker could not be used: {ex.GetType().Name}: {Core.Errors.Text.Clip(ex.Message, 200)}", ex);
        }
    }
}

public static class RerankingServiceCollectionExtensions
{
    /// <summary>Registers the configured reranker (<c>RERANK_PROVIDER</c>: none, the default, or http); options checked at start.</summary>
    public static IServiceCollection AddNexusRagReranking(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<RerankOptions>()
            .Bind(config.GetSection(RerankOptions.Section))
            .Configure(o =>
            {
                if (config["RERANK_PROVIDER"] is { Length: > 0 } p) o.Provider = p.Trim().ToLowerInvariant();
                if (config["RERANK_BASE_URL"] is { Length: > 0 } u) o.BaseUrl = u;
                if (config["RERANK_MODEL"] is { Length: > 0 } m) o.Model = m;
                if (config["RERANK_API_KEY"] is { Length: > 0 } k) o.ApiKey = k;
                FlatSettings.Int(config, "RERANK_TOP_N", v => o.Candidates = v, o.ParseErrors);
                FlatSettings.Int(config, "EXT_CALL_TIMEOUT_MS", v => o.TimeoutMs = v, o.ParseErrors);
                FlatSettings.Int(config, "RERANK_TIMEOUT_MS", v => o.TimeoutMs = v, o.ParseErrors);
            })
            .ValidateSettings(RerankOptions.Section)
            .Validate(o => RerankOptions.Providers.Contains(o.Provider), $"RERANK_PROVIDER must be one of: {string.Join(", ", RerankOptions.Providers)}")
            .Validate(o => o.Provider != "http" || (Uri.TryCreate(o.BaseUrl, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"),
                "RERANK_PROVIDER=http needs RERANK_BASE_URL (an http(s) URL; requests go to {RERANK_BASE_URL}/rerank)")
            .ValidateParseErrors()
            .ValidateOnStart();
        // The stage's RERANK_TIMEOUT_MS bounds each call; no retries (a retry would only spend the search's latency), no resilience pipeline.
        services.AddHttpClient(HttpReranker.HttpClientName, c => c.Timeout = TimeSpan.FromMinutes(2));
        services.AddSingleton<IReranker, HttpReranker>();
        return services;
    }
}
