using Microsoft.Extensions.Logging;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Jobs;
using NexusRag.Core.Transactions;

namespace NexusRag.Core.Crypto;

/// <summary>
/// Tenant key rotation: a new data key version becomes active at once (new writes seal with it; every replica follows
/// within <see cref="DataKeyService.ActiveVersionTtl"/>), the previous one decrypts only, and with <c>reencrypt</c> a
/// <see cref="ReencryptionJobHandler"/> job moves the tenant's sealed data onto the new version. The key change, the
/// rotation record, its job and the audit event commit together.
/// </summary>
public sealed class KeyRotationService(
    DataKeyService dataKeys, ITenantKeyStore keys, IRotationStore rotations, IJobQueue jobs, IUnitOfWork uow, IAuditLog audit,
    IEnumerable<IReencryptionTarget> targets, TimeProvider clock, ILogger<KeyRotationService> logger)
{
    public async Task<KeyRotation> RotateAsync(Principal principal, string tenantId, string? reason, bool reencrypt, bool force, string? requestId, CancellationToken ct)
    {
        if (!dataKeys.Enabled) throw CryptoErrors.PolicyDenied("Encryption at rest is off (CRYPTO_ENABLED=false): there is no key to rotate");
        if (force && !principal.IsOperator) throw CryptoErrors.PolicyDenied("Only the platform operator may force a rotation over one in progress");
        if (await rotations.OpenForTenantAsync(tenantId, ct).ConfigureAwait(false) is { } open)
        {
            if (!force)
                throw NexusException.Conflict(CryptoErrorCodes.KeyRotationInProgress, $"Rotation '{open.Id}' of tenant '{tenantId}' is still {open.Status}",
                    new Dictionary<string, object?> { ["rotation_id"] = open.Id, ["status"] = open.Status });
            await rotations.UpdateAsync(open.Id, RotationStatus.Superseded, open.Reencrypted, null, "superseded by a forced rotation", ct).ConfigureAwait(false);
        }
        // The tenant's first key, if it has none yet, so there is something to rotate from.
        _ = await dataKeys.ForWriteAsync(tenantId, ct).ConfigureAwait(false);
        var list = await dataKeys.ListAsync(tenantId, ct).ConfigureAwait(false);
        var active = list.First(k => k.Status == DataKeyStatus.Active);
        var next = await WrapNewAsync(tenantId, list.Max(k => k.Version) + 1, ct).ConfigureAwait(false);
        var rotation = await uow.RunAsync(async c =>
        {
            if (!await keys.TryRotateAsync(tenantId, active.Version, next, c).ConfigureAwait(false))
                throw NexusException.Conflict(CryptoErrorCodes.KeyRotationInProgress, $"Tenant '{tenantId}''s key changed while rotating; try again");
            return await RecordAsync(principal, tenantId, active.Version, next.Version, reencrypt, reason, requestId, "crypto.key.rotated", c).ConfigureAwait(false);
        }, ct).ConfigureAwait(false);
        dataKeys.Invalidate(tenantId);
        logger.LogInformation("Tenant {TenantId}: data key rotated to version {Version} (rotation {RotationId}, re-encrypt {Reencrypt})", tenantId, next.Version, rotation.Id, reencrypt);
        return rotation;
    }

    /// <summary>
    /// Encrypts a tenant's plaintext rows and files (written before encryption was turned on, or under fail-open) with
    /// the same re-encryption job, onto its current key; null when there is nothing to do or a rotation is under way.
    /// </summary>
    public async Task<KeyRotation?> EncryptExistingAsync(string tenantId, CancellationToken ct)
    {
        if (!dataKeys.Enabled || await rotations.OpenForTenantAsync(tenantId, ct).ConfigureAwait(false) is not null) return null;
        var cipher = await dataKeys.ForWriteAsync(tenantId, ct).ConfigureAwait(false);
        if (cipher.WriteVersion is not { } version) return null;
        long pending = 0;
        foreach (var t in targets) pending += await t.CountPendingAsync(tenantId, version, ct).ConfigureAwait(false);
        if (pending == 0) return null;
        var system = new Principal(tenantId, Role.Admin, null, "system");
        return await uow.RunAsync(c => RecordAsync(system, tenantId, null, version, true, "encrypt existing data", null, "crypto.encryption.enabled", c), ct).ConfigureAwait(false);
    }

    /// <summary>Rotates (with re-encryption) every tenant whose active key is older than <c>CRYPTO_ROTATION_INTERVAL_DAYS</c>; returns the rotations started.</summary>
    public async Task<IReadOnlyList<KeyRotation>> RotateDueAsync(CancellationToken ct)
    {
        if (!dataKeys.Enabled) return [];
        var cutoff = clock.GetUtcNow().UtcDateTime.AddDays(-dataKeys.Options.RotationIntervalDays);
        var started = new List<KeyRotation>();
        foreach (var due in await keys.ActiveCreatedBeforeAsync(cutoff, ct).ConfigureAwait(false))
        {
            try
            {
                started.Add(await RotateAsync(new Principal(due.TenantId, Role.Admin, null, "system"), due.TenantId, "scheduled rotation (CRYPTO_ROTATION_INTERVAL_DAYS)",
                    reencrypt: true, force: false, null, ct).ConfigureAwait(false));
            }
            catch (NexusException ex) when (ex.Code == CryptoErrorCodes.KeyRotationInProgress)
            {
                // Another replica (or an admin) is rotating this tenant now.
            }
        }
        return started;
    }

    /// <summary>Tenants that hold plaintext of a sensitive kind (to encrypt when encryption is turned on).</summary>
    public async Task<IReadOnlyList<string>> TenantsWithPlaintextAsync(CancellationToken ct)
    {
        var all = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var t in targets.OfType<IPlaintextFinder>()) all.UnionWith(await t.TenantsWithPlaintextAsync(ct).ConfigureAwait(false));
        return [.. all];
    }

    public async Task<IReadOnlyDictionary<string, long>> PendingAsync(string tenantId, int version, CancellationToken ct)
    {
        var pending = new Dictionary<string, long>();
        foreach (var t in targets) pending[t.Name] = await t.CountPendingAsync(tenantId, version, ct).ConfigureAwait(false);
        return pending;
    }

    private async Task<TenantDataKey> WrapNewAsync(string tenantId, int version, CancellationToken ct)
    {
        try
        {
            return await dataKeys.NewKeyAsync(tenantId, version, ct).ConfigureAwait(false);
        }
        catch (KmsUnavailableException ex)
        {
            throw CryptoErrors.KmsUnavailable(ex.Message);
        }
    }

    private async Task<KeyRotation> RecordAsync(Principal principal, string tenantId, int? from, int to, bool reencrypt, string? reason, string? requestId, string action, CancellationToken c)
    {
        var id = Services.Identifiers.NewId("rot");
        string? jobId = reencrypt ? await jobs.EnqueueAsync(new NewJob(tenantId, ReencryptionJobHandler.Kind, 5, ReencryptionJobHandler.Payload(id)), c).ConfigureAwait(false) : null;
        var rotation = new KeyRotation(id, tenantId, from, to, reencrypt, reason, principal.ActorId, reencrypt ? RotationStatus.Queued : RotationStatus.Succeeded, jobId,
            new Dictionary<string, long>(), null, null, clock.GetUtcNow().UtcDateTime, null, reencrypt ? null : clock.GetUtcNow().UtcDateTime);
        await rotations.AddAsync(rotation, c).ConfigureAwait(false);
        await audit.AppendAsync(new AuditEntry(tenantId, action, "success", principal.ActorType, principal.ActorId, "key_rotation", id, requestId,
            new Dictionary<string, object?> { ["from_version"] = from, ["to_version"] = to, ["reencrypt"] = reencrypt, ["reason"] = reason, ["job_id"] = jobId }), c).ConfigureAwait(false);
        return rotation;
    }
}

/// <summary>A re-encryption target that can say which tenants hold plaintext of its kind.</summary>
public interface IPlaintextFinder
{
    Task<IReadOnlyList<string>> TenantsWithPlaintextAsync(CancellationToken ct);
}
