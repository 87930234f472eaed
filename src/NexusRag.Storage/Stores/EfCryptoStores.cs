using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Crypto;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>Wrapped tenant data keys and key check values. Reads and first-key inserts run on their own connection; a rotation joins the caller's unit of work.</summary>
public sealed class EfTenantKeyStore(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : ITenantKeyStore
{
    private Task<NexusDbContext> OwnedAsync(CancellationToken ct) => ((IRawDbContextFactory)factory).CreateOwnedAsync(ct);

    private static TenantDataKey Map(TenantDataKeyRow r) =>
        new(r.TenantId, r.Version, r.Status, r.Provider, r.KeyAlias, r.Wrapped, r.CreatedAt, r.RotatedAt, r.RetiredAt);

    public async Task<IReadOnlyList<TenantDataKey>> ListAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await OwnedAsync(ct).ConfigureAwait(false);
        var rows = await db.TenantDataKeys.AsNoTracking().Where(k => k.TenantId == tenantId).OrderBy(k => k.Version).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(Map).ToList();
    }

    public async Task<bool> TryAddFirstAsync(TenantDataKey key, CancellationToken ct)
    {
        await using var db = await OwnedAsync(ct).ConfigureAwait(false);
        if (await db.TenantDataKeys.AnyAsync(k => k.TenantId == key.TenantId, ct).ConfigureAwait(false)) return false;
        db.TenantDataKeys.Add(ToRow(key));
        try
        {
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            return true;
        }
        catch (DbUpdateException)
        {
            return false; // another replica inserted version 1 first
        }
    }

    public async Task<bool> TryRotateAsync(string tenantId, int fromVersion, TenantDataKey next, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var demoted = await db.TenantDataKeys.Where(k => k.TenantId == tenantId && k.Version == fromVersion && k.Status == DataKeyStatus.Active)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.Status, DataKeyStatus.DecryptOnly).SetProperty(k => k.RotatedAt, now), ct).ConfigureAwait(false);
        if (demoted != 1) return false;
        db.TenantDataKeys.Add(ToRow(next));
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
        return true;
    }

    public async Task SetStatusAsync(string tenantId, int version, string status, CancellationToken ct)
    {
        await using var db = await OwnedAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        await db.TenantDataKeys.Where(k => k.TenantId == tenantId && k.Version == version)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.Status, status)
                .SetProperty(k => k.RetiredAt, k => status == DataKeyStatus.Retired ? now : k.RetiredAt), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<TenantDataKey>> ActiveCreatedBeforeAsync(DateTime cutoff, CancellationToken ct)
    {
        await using var db = await OwnedAsync(ct).ConfigureAwait(false);
        var rows = await db.TenantDataKeys.AsNoTracking().Where(k => k.Status == DataKeyStatus.Active && k.CreatedAt < cutoff).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(Map).ToList();
    }

    public async Task<string?> GetKeyCheckAsync(string provider, string keyAlias, CancellationToken ct)
    {
        await using var db = await OwnedAsync(ct).ConfigureAwait(false);
        return await db.CryptoKeyChecks.AsNoTracking().Where(k => k.Provider == provider && k.KeyAlias == keyAlias).Select(k => k.Value)
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
    }

    public async Task SaveKeyCheckAsync(string provider, string keyAlias, string value, CancellationToken ct)
    {
        await using var db = await OwnedAsync(ct).ConfigureAwait(false);
        db.CryptoKeyChecks.Add(new CryptoKeyCheckRow { Provider = provider, KeyAlias = keyAlias, Value = value, CreatedAt = clock.GetUtcNow().UtcDateTime });
        try { await db.SaveChangesAsync(ct).ConfigureAwait(false); }
        catch (DbUpdateException) { } // another replica stored it first; the caller reads it again
    }

    private static TenantDataKeyRow ToRow(TenantDataKey k) => new()
    {
        TenantId = k.TenantId, Version = k.Version, Status = k.Status, Provider = k.Provider, KeyAlias = k.KeyAlias, Wrapped = k.Wrapped,
        CreatedAt = k.CreatedAt, RotatedAt = k.RotatedAt, RetiredAt = k.RetiredAt,
    };
}

public sealed class EfRotationStore(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IRotationStore
{
    private static readonly JsonSerializerOptions Json = new();

    private static KeyRotation Map(CryptoRotationRow r) => new(r.Id, r.TenantId, r.FromVersion, r.ToVersion, r.Reencrypt, r.Reason, r.RequestedBy, r.Status, r.JobId,
        JsonSerializer.Deserialize<Dictionary<string, long>>(r.ProgressJson, Json) ?? [], r.ErrorCode, r.Error, r.CreatedAt, r.StartedAt, r.FinishedAt);

    public async Task AddAsync(KeyRotation k, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        db.CryptoRotations.Add(new CryptoRotationRow
        {
            Id = k.Id, TenantId = k.TenantId, FromVersion = k.FromVersion, ToVersion = k.ToVersion, Reencrypt = k.Reencrypt, Reason = k.Reason,
            RequestedBy = k.RequestedBy, Status = k.Status, JobId = k.JobId, ProgressJson = JsonSerializer.Serialize(k.Reencrypted, Json),
            CreatedAt = k.CreatedAt, FinishedAt = k.FinishedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<KeyRotation?> GetAsync(string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.CryptoRotations.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task<KeyRotation?> OpenForTenantAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.CryptoRotations.AsNoTracking()
            .Where(r => r.TenantId == tenantId && (r.Status == RotationStatus.Queued || r.Status == RotationStatus.Running))
            .OrderByDescending(r => r.CreatedAt).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return row is null ? null : Map(row);
    }

    public async Task UpdateAsync(string id, string status, IReadOnlyDictionary<string, long> reencrypted, string? errorCode, string? error, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var progress = JsonSerializer.Serialize(reencrypted, Json);
        var finished = !RotationStatus.IsOpen(status);
        await db.CryptoRotations.Where(r => r.Id == id).ExecuteUpdateAsync(s => s
            .SetProperty(r => r.Status, status)
            .SetProperty(r => r.ProgressJson, progress)
            .SetProperty(r => r.ErrorCode, errorCode)
            .SetProperty(r => r.Error, error)
            .SetProperty(r => r.StartedAt, r => r.StartedAt ?? (status == RotationStatus.Running ? now : null))
            .SetProperty(r => r.FinishedAt, r => finished ? now : r.FinishedAt), ct).ConfigureAwait(false);
    }
}

/// <summary>Chunk text and metadata onto the tenant's current key (the change log is not touched: the content is the same).</summary>
public sealed class ChunkReencryption(IDbContextFactory<NexusDbContext> factory, DataKeyService dataKeys) : IReencryptionTarget, IPlaintextFinder
{
    public string Name => "chunks";

    public async Task<long> CountPendingAsync(string tenantId, int version, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Chunks.LongCountAsync(c => c.TenantId == tenantId && (c.KeyVersion == null || c.KeyVersion != version), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> TenantsWithPlaintextAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Chunks.Where(c => c.KeyVersion == null).Select(c => c.TenantId).Distinct().ToListAsync(ct).ConfigureAwait(false);
    }

    public async Task<int> ReencryptBatchAsync(string tenantId, TenantCipher cipher, int batchSize, CancellationToken ct)
    {
        var version = cipher.WriteVersion ?? throw new InvalidOperationException("re-encryption needs a sealing cipher");
        await using var db = await ((IRawDbContextFactory)factory).CreateOwnedAsync(ct).ConfigureAwait(false);
        var rows = await db.Chunks.AsNoTracking().Where(c => c.TenantId == tenantId && (c.KeyVersion == null || c.KeyVersion != version))
            .OrderBy(c => c.Id).Take(batchSize).Select(c => new { c.Id, c.Text, c.MetadataJson, c.KeyVersion }).ToListAsync(ct).ConfigureAwait(false);
        if (rows.Count == 0) return 0;
        var reader = await dataKeys.ForReadAsync(tenantId, rows.Select(r => r.KeyVersion), ct).ConfigureAwait(false);
        await using var tx = await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var r in rows)
        {
            var text = cipher.Seal(CryptoFields.Chunks, CryptoFields.Text, r.Id, reader.Open(CryptoFields.Chunks, CryptoFields.Text, r.Id, r.Text, r.KeyVersion));
            var meta = cipher.Seal(CryptoFields.Chunks, CryptoFields.Metadata, r.Id, reader.Open(CryptoFields.Chunks, CryptoFields.Metadata, r.Id, r.MetadataJson, r.KeyVersion));
            var old = r.KeyVersion;
            // Conditional on the version read: a chunk rewritten meanwhile is left for the next batch.
            await db.Chunks.Where(c => c.Id == r.Id && c.KeyVersion == old)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.Text, text).SetProperty(c => c.MetadataJson, meta).SetProperty(c => c.KeyVersion, version), ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return rows.Count;
    }
}

/// <summary>Session message content and metadata onto the tenant's current key.</summary>
public sealed class MessageReencryption(IDbContextFactory<NexusDbContext> factory, DataKeyService dataKeys) : IReencryptionTarget, IPlaintextFinder
{
    public string Name => "messages";

    public async Task<long> CountPendingAsync(string tenantId, int version, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Messages.LongCountAsync(m => m.TenantId == tenantId && (m.KeyVersion == null || m.KeyVersion != version), ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<string>> TenantsWithPlaintextAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.Messages.Where(m => m.KeyVersion == null).Select(m => m.TenantId).Distinct().ToListAsync(ct).ConfigureAwait(false);
    }

    public async Task<int> ReencryptBatchAsync(string tenantId, TenantCipher cipher, int batchSize, CancellationToken ct)
    {
        var version = cipher.WriteVersion ?? throw new InvalidOperationException("re-encryption needs a sealing cipher");
        await using var db = await ((IRawDbContextFactory)factory).CreateOwnedAsync(ct).ConfigureAwait(false);
        var rows = await db.Messages.AsNoTracking().Where(m => m.TenantId == tenantId && (m.KeyVersion == null || m.KeyVersion != version))
            .OrderBy(m => m.Id).Take(batchSize).Select(m => new { m.Id, m.Content, m.MetadataJson, m.KeyVersion }).ToListAsync(ct).ConfigureAwait(false);
        if (rows.Count == 0) return 0;
        var reader = await dataKeys.ForReadAsync(tenantId, rows.Select(r => r.KeyVersion), ct).ConfigureAwait(false);
        await using var tx = await db.Database.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var r in rows)
        {
            var content = cipher.Seal(CryptoFields.Messages, CryptoFields.Content, r.Id, reader.Open(CryptoFields.Messages, CryptoFields.Content, r.Id, r.Content, r.KeyVersion));
            var meta = cipher.SealNullable(CryptoFields.Messages, CryptoFields.Metadata, r.Id, reader.OpenNullable(CryptoFields.Messages, CryptoFields.Metadata, r.Id, r.MetadataJson, r.KeyVersion));
            var old = r.KeyVersion;
            await db.Messages.Where(m => m.Id == r.Id && m.KeyVersion == old)
                .ExecuteUpdateAsync(s => s.SetProperty(m => m.Content, content).SetProperty(m => m.MetadataJson, meta).SetProperty(m => m.KeyVersion, version), ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return rows.Count;
    }
}

public sealed class EfKeyringStore(IDbContextFactory<NexusDbContext> factory) : IKeyringStore
{
    private static KeyringKey Map(KeyringKeyRow r) => new(r.Id, r.Purpose, r.Status, r.Fingerprint, r.CreatedBy, r.CreatedAt, r.RotatedAt, r.RetiredAt);

    public async Task<IReadOnlyList<KeyringKey>> ListAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.KeyringKeys.AsNoTracking().OrderBy(k => k.Purpose).ThenByDescending(k => k.CreatedAt).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(Map).ToList();
    }

    public async Task<(KeyringKey Key, byte[] Wrapped)?> GetAsync(string id, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.KeyringKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == id, ct).ConfigureAwait(false);
        return row is null ? null : (Map(row), row.Wrapped);
    }

    public async Task<(KeyringKey Key, byte[] Wrapped)?> ActiveAsync(string purpose, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var row = await db.KeyringKeys.AsNoTracking().Where(k => k.Purpose == purpose && k.Status == KeyringStatus.Active)
            .OrderByDescending(k => k.CreatedAt).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        return row is null ? null : (Map(row), row.Wrapped);
    }

    public async Task AddActiveAsync(KeyringKey key, byte[] wrapped, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await db.KeyringKeys.Where(k => k.Purpose == key.Purpose && k.Status == KeyringStatus.Active)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.Status, KeyringStatus.Inactive).SetProperty(k => k.RotatedAt, key.CreatedAt), ct).ConfigureAwait(false);
        db.KeyringKeys.Add(new KeyringKeyRow
        {
            Id = key.Id, Purpose = key.Purpose, Status = key.Status, Wrapped = wrapped, Fingerprint = key.Fingerprint, CreatedBy = key.CreatedBy, CreatedAt = key.CreatedAt,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<bool> RetireAsync(string id, DateTime at, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.KeyringKeys.Where(k => k.Id == id && k.Status == KeyringStatus.Inactive)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.Status, KeyringStatus.Retired).SetProperty(k => k.RetiredAt, at), ct).ConfigureAwait(false) == 1;
    }
}
