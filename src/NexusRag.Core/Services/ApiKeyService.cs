using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Services;

public sealed record CreatedApiKey(ApiKeyInfo Key, string Plaintext);

public enum KeyCheck { Valid, Unknown, Expired, Revoked, Inactive }

/// <summary>Key hygiene (seed "Security &amp; Compliance"): <c>AUTH_API_KEY_INACTIVE_ENFORCED</c>, <c>AUTH_API_KEY_INACTIVE_DAYS</c>.</summary>
public sealed class ApiKeyPolicyOptions : IHasParseErrors
{
    public const string Section = "NexusRag:ApiKeys";

    /// <summary>Refuse keys unused for <see cref="InactiveDays"/> (401 <c>AUTH_INACTIVE_KEY</c>); a new key counts from its creation.</summary>
    [FlatName("AUTH_API_KEY_INACTIVE_ENFORCED")] public bool InactiveEnforced { get; set; }
    [System.ComponentModel.DataAnnotations.Range(1, 3650)] [FlatName("AUTH_API_KEY_INACTIVE_DAYS")] public int InactiveDays { get; set; } = 90;

    public List<string> ParseErrors { get; } = [];
}

/// <summary>The new key of a rotation (its plaintext, shown once) and the key it replaces.</summary>
public sealed record RotatedApiKey(CreatedApiKey Created, ApiKeyInfo Previous, bool PreviousActive);

/// <summary>
/// Creates, verifies and revokes API keys. Plaintext keys exist only in the creation result. Verified keys are cached
/// by their hash for at most <see cref="Governance.RolloutGate.MaxAge"/> (2 s): a revocation or deactivation made through
/// this replica applies at once, one made through another replica (or the CLI) within 2 s; expiry is checked on every
/// request. The read path does no database read for a known key and writes <c>last_used_at</c> at most once a minute.
/// </summary>
public sealed class ApiKeyService(IIdentityStore store, IAuditLog audit, Transactions.IUnitOfWork uow, TimeProvider clock,
    Microsoft.Extensions.Options.IOptions<ApiKeyPolicyOptions> policy)
{
    private static readonly TimeSpan TouchInterval = TimeSpan.FromMinutes(1);
    private readonly Governance.RefreshingCache<ApiKeyCredential?> _verified = new(clock, Governance.RolloutGate.MaxAge);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTime> _touched = new(StringComparer.Ordinal);

    public async Task<CreatedApiKey> CreateAsync(string tenantId, Role role, string name, TimeSpan? expiresIn, string actor, CancellationToken ct)
    {
        if (!Identifiers.IsValid(tenantId)) throw NexusException.Validation("tenant", Identifiers.Rule);
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200) throw NexusException.Validation("name", "must be 1-200 characters");
        if (expiresIn is { } e && e <= TimeSpan.Zero) throw NexusException.Validation("expires_in", "must be positive");

        var generated = ApiKeys.Generate();
        DateTime? expiresAt = expiresIn is { } span ? clock.GetUtcNow().UtcDateTime.Add(span) : null;
        var key = await uow.RunAsync(async c =>
        {
            await store.EnsureTenantAsync(tenantId, c).ConfigureAwait(false);
            var k = await store.CreateApiKeyAsync(tenantId, name.Trim(), role, generated.Prefix, generated.Hash, expiresAt, false, c).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(tenantId, "auth.api_key.created", "success", "system", actor, "api_key", k.Id, null,
                new Dictionary<string, object?> { ["role"] = role.ToWire(), ["name"] = k.Name }), c).ConfigureAwait(false);
            return k;
        }, ct).ConfigureAwait(false);
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
        var key = await uow.RunAsync(async c =>
        {
            var k = await store.CreateApiKeyAsync(Principal.PlatformTenant, name.Trim(), Role.Reader, generated.Prefix, generated.Hash, expiresAt, true, c).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(Principal.PlatformTenant, "auth.operator_key.created", "success", "system", actor, "api_key", k.Id, null,
                new Dictionary<string, object?> { ["name"] = k.Name }), c).ConfigureAwait(false);
            return k;
        }, ct).ConfigureAwait(false);
        return new CreatedApiKey(key, generated.Plaintext);
    }

    public async Task<(KeyCheck Result, ApiKeyInfo? Key)> VerifyAsync(string presented, CancellationToken ct)
    {
        var prefix = ApiKeys.TryGetPrefix(presented);
        if (prefix is null) return (KeyCheck.Unknown, null);
        var hash = ApiKeys.Hash(presented);
        var found = await _verified.GetAsync(hash, c => store.FindApiKeyByPrefixAsync(prefix, c), ct).ConfigureAwait(false);
        if (found is null || !ApiKeys.HashEquals(found.KeyHash, hash)) return (KeyCheck.Unknown, null);
        var key = found.Key;
        if (key.RevokedAt is not null) return (KeyCheck.Revoked, key);
        var now = clock.GetUtcNow().UtcDateTime;
        if (key.ExpiresAt is { } exp && exp <= now) return (KeyCheck.Expired, key);
        if (IsInactive(key, now)) return (KeyCheck.Inactive, key);
        return (KeyCheck.Valid, key);
    }

    /// <summary>Unused (or, never used, created) longer ago than <c>AUTH_API_KEY_INACTIVE_DAYS</c>, when enforced.</summary>
    public bool IsInactive(ApiKeyInfo key, DateTime now)
    {
        var o = policy.Value;
        if (!o.InactiveEnforced) return false;
        var last = key.LastUsedAt ?? key.CreatedAt;
        if (_touched.TryGetValue(key.Id, out var touched) && touched > last) last = touched;
        return now - last > TimeSpan.FromDays(o.InactiveDays);
    }

    /// <summary>Keys of a tenant (or the operator keys) unused for longer than <c>AUTH_API_KEY_INACTIVE_DAYS</c>, whether or not that is enforced.</summary>
    public bool IsPastInactivityLimit(ApiKeyInfo key) =>
        clock.GetUtcNow().UtcDateTime - (key.LastUsedAt ?? key.CreatedAt) > TimeSpan.FromDays(policy.Value.InactiveDays);

    /// <summary>
    /// Replaces a key with a new one of the same tenant, role, name and expiry; the old one is revoked in the same
    /// transaction unless <paramref name="keepOldActive"/> (a grace period for the caller's deployments; revoke it later).
    /// Null when there is no such key (of <paramref name="tenantId"/>, when given).
    /// </summary>
    public async Task<RotatedApiKey?> RotateAsync(string? tenantId, string keyId, bool keepOldActive, string actorType, string actor, string? requestId, CancellationToken ct)
    {
        var old = await store.GetApiKeyAsync(keyId, ct).ConfigureAwait(false);
        if (old is null || (tenantId is not null && old.TenantId != tenantId)) return null;
        if (old.RevokedAt is not null)
            throw NexusException.Conflict("API_KEY_REVOKED", "A revoked key cannot be rotated; create a new key", new Dictionary<string, object?> { ["key_id"] = keyId });
        var generated = ApiKeys.Generate();
        var created = await uow.RunAsync(async c =>
        {
            var k = await store.CreateApiKeyAsync(old.TenantId, old.Name, old.Role, generated.Prefix, generated.Hash, old.ExpiresAt, old.IsOperator, c).ConfigureAwait(false);
            if (!keepOldActive) await store.RevokeApiKeyAsync(old.Id, c).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(old.TenantId, "auth.api_key.rotated", "success", actorType, actor, "api_key", old.Id, requestId,
                new Dictionary<string, object?> { ["new_key_id"] = k.Id, ["old_key_active"] = keepOldActive }), c).ConfigureAwait(false);
            uow.AfterCommit(_verified.Clear);
            return k;
        }, ct).ConfigureAwait(false);
        return new RotatedApiKey(new CreatedApiKey(created, generated.Plaintext), old, keepOldActive);
    }

    /// <summary>
    /// Records a use of the key when its last recorded use is over a minute old (on this replica or in the store);
    /// true when it did (the caller audits <c>auth.access.success</c> then).
    /// </summary>
    public async Task<bool> TouchIfDueAsync(ApiKeyInfo key, CancellationToken ct)
    {
        var now = clock.GetUtcNow().UtcDateTime;
        var last = _touched.TryGetValue(key.Id, out var t) && (key.LastUsedAt is null || t > key.LastUsedAt) ? t : key.LastUsedAt;
        if (last is { } l && now - l <= TouchInterval) return false;
        _touched[key.Id] = now;
        await store.TouchApiKeyAsync(key.Id, now, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>Deactivates or reactivates one of the tenant's keys (null when not the tenant's); effective on this replica at once.</summary>
    public async Task<ApiKeyInfo?> SetActiveAsync(string tenantId, string keyId, bool active, CancellationToken ct)
    {
        var key = await store.SetApiKeyActiveAsync(tenantId, keyId, active, clock.GetUtcNow().UtcDateTime, ct).ConfigureAwait(false);
        // Once the change is committed (callers audit it in the same unit of work): no request re-caches the old state.
        uow.AfterCommit(_verified.Clear);
        if (active) _touched.TryRemove(keyId, out _);
        return key;
    }

    public async Task<ApiKeyInfo?> RevokeAsync(string keyId, string actor, CancellationToken ct)
    {
        var key = await uow.RunAsync(async c =>
        {
            var k = await store.RevokeApiKeyAsync(keyId, c).ConfigureAwait(false);
            if (k is not null)
                await audit.AppendAsync(new AuditEntry(k.TenantId, "auth.api_key.revoked", "success", "system", actor, "api_key", k.Id, null), c).ConfigureAwait(false);
            uow.AfterCommit(_verified.Clear);
            return k;
        }, ct).ConfigureAwait(false);
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
