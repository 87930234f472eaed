
namespace NexusRag.Core.Auth;

public sealed record TenantInfo(string Id, string Name, DateTime CreatedAt);

/// <summary>An API key; <see cref="IsOperator"/> keys belong to the platform operator (tenant <see cref="Principal.PlatformTenant"/>).</summary>
public sealed record ApiKeyInfo(
    string Id, string TenantId, string Name, Role Role, string Prefix,
    DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt, bool IsOperator = false);

/// <summary>What the store returns when a presented key is looked up by its prefix.</summary>
public sealed record ApiKeyCredential(ApiKeyInfo Key, string KeyHash);

/// <summary>Tenants and their API keys.</summary>
public interface IIdentityStore
{
    Task<bool> EnsureTenantAsync(string tenantId, CancellationToken ct);
    Task<bool> TenantExistsAsync(string tenantId, CancellationToken ct);
    /// <summary>Stores a key; an operator key belongs to <see cref="Principal.PlatformTenant"/> and has no tenant role.</summary>
    Task<ApiKeyInfo> CreateApiKeyAsync(string tenantId, string name, Role role, string prefix, string keyHash, DateTime? expiresAt, bool isOperator, CancellationToken ct);
    Task<ApiKeyCredential?> FindApiKeyByPrefixAsync(string prefix, CancellationToken ct);
    Task<IReadOnlyList<ApiKeyInfo>> ListApiKeysAsync(string tenantId, CancellationToken ct);
    /// <summary>Revokes a key; returns it, or null when no such key exists.</summary>
    Task<ApiKeyInfo?> RevokeApiKeyAsync(string keyId, CancellationToken ct);
    Task<ApiKeyInfo?> GetApiKeyAsync(string keyId, CancellationToken ct);
    Task TouchApiKeyAsync(string keyId, DateTime usedAt, CancellationToken ct);
    /// <summary>Deactivates (revokes) or reactivates one of the tenant's keys; reactivation resets last_used_at. Null when not the tenant's.</summary>
    Task<ApiKeyInfo?> SetApiKeyActiveAsync(string tenantId, string keyId, bool active, DateTime now, CancellationToken ct);
}
