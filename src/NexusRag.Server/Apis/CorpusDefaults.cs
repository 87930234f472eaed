using System.Text.Json;
using NexusRag.Core.Errors;
using NexusRag.Core.Ports;

namespace NexusRag.Server.Apis;

internal static class CorpusDefaults
{
    /// <summary>The corpus's <c>retrieval.top_k_default</c> (5 unless configured); 404 for a corpus outside the tenant.</summary>
    public static async Task<int> TopKAsync(ICorpusStore corpora, string tenant, string corpusId, CancellationToken ct)
    {
        var corpus = await corpora.GetAsync(tenant, corpusId, ct) ?? throw ApiException.NotFound("corpus", corpusId);
        using var doc = JsonDocument.Parse(corpus.ProviderConfigJson);
        return doc.RootElement.TryGetProperty("retrieval", out var r) && r.TryGetProperty("top_k_default", out var k)
               && k.TryGetInt32(out var n) && n >= 1 ? n : 5;
    }
}
