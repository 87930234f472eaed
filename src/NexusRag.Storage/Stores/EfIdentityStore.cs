using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Auth;
using NexusRag.Core.Services;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfIdentityStore(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IIdentityStore
{
    public async Task<bool> EnsureTenantAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        if (await db.Tenants.AnyAsync(t => t.Id == tenantId, ct).ConfigureAwait(false)) return false;
        // ON CONFLICT DO NOTHING rather than catching a unique violation: inside a unit of work on PostgreSQL a failed
        // statement would abort the whole transaction.
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.Database.ExecuteSqlInterpolatedAsync(
            $"INSERT INTO tenants (id, name, created_at) VALUES ({tenantId}, {tenantId}, {now}) ON CONFLICT (id) DO NOTHING", ct).ConfigureAwait(false) == 1;
    }

    public async Task<bool> TenantExistsAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Tenants.AnyAsync(t => t.Id == tenantId, ct).ConfigureAwait(false);
    }

    public async Task<ApiKeyInfo> CreateApiKeyAsync(string tenantId, string name, Role role, string prefix, string keyHash, DateTime? expiresAt, bool isOperator, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = new ApiKeyRow
        {
            Id = Identifiers.NewId("key"), TenantId = tenantId, Name = name, Role = isOperator ? Mapping.OperatorRole : role.ToWire(), KeyPrefix = prefix,
            KeyHash = keyHash, CreatedAt = clock.GetUtcNow().UtcDateTime, ExpiresAt = expiresAt,
        };
        db.ApiKeys.Add(row);
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return row.ToInfo();
    }

    public async Task<ApiKeyCredential?> FindApiKeyByPrefixAsync(string prefix, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.KeyPrefix == prefix, ct).ConfigureAwait(false);
        return row is null ? null : new ApiKeyCredential(row.ToInfo(), row.KeyHash);
    }

    public async Task<IReadOnlyList<ApiKeyInfo>> ListApiKeysAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.ApiKeys.AsNoTracking().Where(k => k.TenantId == tenantId)
            .OrderBy(k => k.CreatedAt).ThenBy(k => k.Id).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(r => r.ToInfo()).ToList();
    }

    public async Task<ApiKeyInfo?> RevokeApiKeyAsync(string keyId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId, ct).ConfigureAwait(false);
        if (row is null) return null;
        row.RevokedAt ??= clock.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return row.ToInfo();
    }

    public async Task<ApiKeyInfo?> GetApiKeyAsync(string keyId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return (await db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == keyId, ct).ConfigureAwait(false))?.ToInfo();
    }

    public async Task<ApiKeyInfo?> SetApiKeyActiveAsync(string tenantId, string keyId, bool active, DateTime now, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId && k.TenantId == tenantId, ct).ConfigureAwait(false);
        if (row is null) return null;
        if (active)
        {
            row.RevokedAt = null;
            row.LastUsedAt = now; // the inactivity anchor restarts
        }
        else row.RevokedAt ??= now;
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return row.ToInfo();
    }

    public async Task TouchApiKeyAsync(string keyId, DateTime usedAt, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await db.ApiKeys.Where(k => k.Id == keyId)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, usedAt), ct).ConfigureAwait(false);
    }
}
