using NexusRag.Core.Crypto;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>Opens sealed rows read from the store in place (grouped by tenant, one key lookup per tenant).</summary>
internal static class SealedRows
{
    /// <summary>A chunk without its vector, for projections (the key version comes along so the text can be opened).</summary>
    public static readonly System.Linq.Expressions.Expression<Func<ChunkRow, ChunkRow>> WithoutVector = c => new ChunkRow
    {
        Id = c.Id, TenantId = c.TenantId, CorpusId = c.CorpusId, DocumentId = c.DocumentId, IndexVersion = c.IndexVersion, ChunkIndex = c.ChunkIndex,
        Text = c.Text, StartOffset = c.StartOffset, EndOffset = c.EndOffset, MetadataJson = c.MetadataJson, Seq = c.Seq, KeyVersion = c.KeyVersion, CreatedAt = c.CreatedAt,
    };

    public static async Task<List<ChunkRow>> OpenAsync(this DataKeyService keys, List<ChunkRow> rows, CancellationToken ct)
    {
        foreach (var tenant in rows.Where(r => r.KeyVersion is not null).GroupBy(r => r.TenantId))
        {
            var cipher = await keys.ForReadAsync(tenant.Key, tenant.Select(r => r.KeyVersion), ct).ConfigureAwait(false);
            foreach (var r in tenant)
            {
                r.Text = cipher.Open(CryptoFields.Chunks, CryptoFields.Text, r.Id, r.Text, r.KeyVersion);
                r.MetadataJson = cipher.Open(CryptoFields.Chunks, CryptoFields.Metadata, r.Id, r.MetadataJson, r.KeyVersion);
                r.KeyVersion = null;
            }
        }
        return rows;
    }

    public static async Task<List<MessageRow>> OpenAsync(this DataKeyService keys, List<MessageRow> rows, CancellationToken ct)
    {
        foreach (var tenant in rows.Where(r => r.KeyVersion is not null).GroupBy(r => r.TenantId))
        {
            var cipher = await keys.ForReadAsync(tenant.Key, tenant.Select(r => r.KeyVersion), ct).ConfigureAwait(false);
            foreach (var r in tenant)
            {
                r.Content = cipher.Open(CryptoFields.Messages, CryptoFields.Content, r.Id, r.Content, r.KeyVersion);
                r.MetadataJson = cipher.OpenNullable(CryptoFields.Messages, CryptoFields.Metadata, r.Id, r.MetadataJson, r.KeyVersion);
                r.KeyVersion = null;
            }
        }
        return rows;
    }
}

/// <summary>The data keys of a restored backup (read from its database), for opening what it holds; it adds nothing.</summary>
internal sealed class RestoredKeyStore(IReadOnlyList<TenantDataKeyRow> rows) : ITenantKeyStore
{
    public Task<IReadOnlyList<TenantDataKey>> ListAsync(string tenantId, CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<TenantDataKey>>(rows.Where(r => r.TenantId == tenantId).OrderBy(r => r.Version)
            .Select(r => new TenantDataKey(r.TenantId, r.Version, r.Status, r.Provider, r.KeyAlias, r.Wrapped, r.CreatedAt, r.RotatedAt, r.RetiredAt)).ToList());
    public Task<bool> TryAddFirstAsync(TenantDataKey key, CancellationToken ct) => throw new InvalidOperationException("a restored backup's keys are read-only");
    public Task<bool> TryRotateAsync(string tenantId, int fromVersion, TenantDataKey next, CancellationToken ct) => throw new InvalidOperationException("a restored backup's keys are read-only");
    public Task SetStatusAsync(string tenantId, int version, string status, CancellationToken ct) => throw new InvalidOperationException("a restored backup's keys are read-only");
    public Task<IReadOnlyList<TenantDataKey>> ActiveCreatedBeforeAsync(DateTime cutoff, CancellationToken ct) => Task.FromResult<IReadOnlyList<TenantDataKey>>([]);
    public Task<string?> GetKeyCheckAsync(string provider, string keyAlias, CancellationToken ct) => Task.FromResult<string?>(null);
    public Task SaveKeyCheckAsync(string provider, string keyAlias, string value, CancellationToken ct) => throw new InvalidOperationException("a restored backup's keys are read-only");
}
