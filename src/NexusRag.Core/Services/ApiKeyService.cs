using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Services;

public sealed record CreatedApiKey(ApiKeyInfo Key, string Plaintext);

public enum KeyCheck { Valid, Unknown, Expired, Revoked }

/// <summary>Creates, verifies and revokes API keys. Plaintext keys exist only in the creation result.</summary>
public sealed class ApiKeyService(IIdentityStore store, IAuditLog audit, TimeProvider clock)
{
    public async Task<CreatedApiKey> CreateAsync(string tenantId, Role role, string name, TimeSpan? expiresIn, string actor, CancellationToken ct)
    {
        if (!Identifiers.IsValid(tenantId)) throw NexusException.Validation("tenant", Identifiers.Rule);
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200) throw NexusException.Validation("name", "must be 1-200 characters");
        if (expiresIn is { } e && e <= TimeSpan.Zero) throw NexusException.Validation("expires_in", "must be positive");

        await store.EnsureTenantAsync(tenantId, ct).ConfigureAwait(false);
        var generated = ApiKeys.Generate();
        DateTime? expiresAt = expiresIn is { } span ? clock.GetUtcNow().UtcDateTime.Add(span) : null;
        var key = await store.CreateApiKeyAsync(tenantId, name.Trim(), role, generated.Prefix, generated.Hash, expiresAt, false, ct).ConfigureAwait(false);
        await audit.AppendAsync(new AuditEntry(tenantId, "auth.api_key.created", "success", "system", actor, "api_key", key.Id, null,
            new Dictionary<string, object?> { ["role"] = role.ToWire(), ["name"] = key.Name }), ct).ConfigureAwait(false);
        return new CreatedApiKey(key, generated.Plaintext);
    }

    /// <summary>
    /// A platform-operator key: belongs to no tenant, holds no tenant role, manages plans, quota limits and global switches.
    /// Only the command line (and the local first-start bootstrap) calls this; no HTTP endpoint does.
    /// </summary>
    public async Task<CreatedApiKey> CreateOperatorAsync(string name, TimeSpan? expiresIn, string actor, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200) throw NexusException.Validation("name", "must be 1-200 characters");
        if (expiresIn is { } e && e <= TimeSpan.Zero) throw NexusException.Validation("expires_in", "must be positive");
        var generated = ApiKeys.Generate();
        DateTime? expiresAt = expiresIn is { } span ? clock.GetUtcNow().UtcDateTime.Add(span) : null;
        var key = await store.CreateApiKeyAsync(Principal.PlatformTenant, name.Trim(), Role.Reader, generated.Prefix, generated.Hash, expiresAt, true, ct).ConfigureAwait(false);
        await audit.AppendAsync(new AuditEntry(Principal.PlatformTenant, "auth.operator_key.created", "success", "system", actor, "api_key", key.Id, null,
            new Dictionary<string, object?> { ["name"] = key.Name }), ct).ConfigureAwait(false);
        return new CreatedApiKey(key, generated.Plaintext);
    }

    public async Task<(KeyCheck Result, ApiKeyInfo? Key)> VerifyAsync(string presented, CancellationToken ct)
    {
        var prefix = ApiKeys.TryGetPrefix(presented);
        if (prefix is null) return (KeyCheck.Unknown, null);
        var found = await store.FindApiKeyByPrefixAsync(prefix, ct).ConfigureAwait(false);
        if (found is null || !ApiKeys.HashEquals(found.KeyHash, ApiKeys.Hash(presented))) return (KeyCheck.Unknown, null);
        var key = found.Key;
        if (key.RevokedAt is not null) return (KeyCheck.Revoked, key);
        if (key.ExpiresAt is { } exp && exp <= clock.GetUtcNow().UtcDateTime) return (KeyCheck.Expired, key);
        return (KeyCheck.Valid, key);
    }

    public async Task<ApiKeyInfo?> RevokeAsync(string keyId, string actor, CancellationToken ct)
    {
        var key = await store.RevokeApiKeyAsync(keyId, ct).ConfigureAwait(false);
        if (key is not null)
        {
            await audit.AppendAsync(new AuditEntry(key.TenantId, "auth.api_key.revoked", "success", "system", actor, "api_key", key.Id, null), ct).ConfigureAwait(false);
        }
        return key;
    }

    /// <summary>Parses durations like <c>30d</c>, <c>12h</c>, <c>45m</c>, <c>90s</c>.</summary>
    public static TimeSpan? ParseDuration(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        text = text.Trim();
        if (text.Length < 2 || !long.TryParse(text.AsSpan(0, text.Length - 1), out var n) || n <= 0 || n > 36500L * 86400)
            throw NexusException.Validation("expires_in", "use a positive number followed by d, h, m or s, e.g. 30d");
        return char.ToLowerInvariant(text[^1]) switch
        {
            'd' when n <= 36500 => TimeSpan.FromDays(n),
            'h' when n <= 36500L * 24 => TimeSpan.FromHours(n),
            'm' when n <= 36500L * 1440 => TimeSpan.FromMinutes(n),
            's' => TimeSpan.FromSeconds(n),
            _ => throw NexusException.Validation("expires_in", "use a positive number followed by d, h, m or s, e.g. 30d"),
        };
    }
}
