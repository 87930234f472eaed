
namespace NexusRag.Core.Corpora;

public sealed record CorpusInfo(
    string Id, string TenantId, string Name, string ProviderConfigJson, DateTime CreatedAt, DateTime UpdatedAt,
    Embeddings.EmbeddingIdentity? Embedding = null, int ActiveIndexVersion = 1);

/// <summary>Corpora, always addressed within one tenant.</summary>
public interface ICorpusStore
{
    Task<IReadOnlyList<CorpusInfo>> ListAsync(string tenantId, CancellationToken ct);
    Task<CorpusInfo?> GetAsync(string tenantId, string corpusId, CancellationToken ct);
    /// <summary>Creates the corpus; returns null if one with this id already exists in the tenant.</summary>
    Task<CorpusInfo?> CreateAsync(string tenantId, string corpusId, string name, string providerConfigJson, CancellationToken ct);
    Task<CorpusInfo?> UpdateAsync(string tenantId, string corpusId, string? name, string? providerConfigJson, CancellationToken ct);
    Task<CorpusDeleteResult> DeleteAsync(string tenantId, string corpusId, CancellationToken ct);
}

public enum CorpusDeleteResult { Deleted, NotFound, InFlight }
