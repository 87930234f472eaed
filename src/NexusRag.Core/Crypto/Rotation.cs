using System.Text.Json;
using Microsoft.Extensions.Logging;
using NexusRag.Core.Audit;
using NexusRag.Core.Jobs;

namespace NexusRag.Core.Crypto;

public static class RotationStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    /// <summary>A later rotation of the tenant took over before this one's re-encryption finished.</summary>
    public const string Superseded = "superseded";
    public static bool IsOpen(string status) => status is Queued or Running;
}

/// <summary>A tenant key rotation: the new version and, when <see cref="Reencrypt"/>, the re-encryption of every sealed row and file onto it.</summary>
public sealed record KeyRotation(
    string Id, string TenantId, int? FromVersion, int ToVersion, bool Reencrypt, string? Reason, string RequestedBy, string Status, string? JobId,
    IReadOnlyDictionary<string, long> Reencrypted, string? ErrorCode, string? Error, DateTime CreatedAt, DateTime? StartedAt, DateTime? FinishedAt);

public interface IRotationStore
{
    /// <summary>Records the rotation (inside the caller's unit of work, with the key change, its job and audit event).</summary>
    Task AddAsync(KeyRotation rotation, CancellationToken ct);
    Task<KeyRotation?> GetAsync(string id, CancellationToken ct);
    /// <summary>The tenant's queued or running rotation, if any.</summary>
    Task<KeyRotation?> OpenForTenantAsync(string tenantId, CancellationToken ct);
    Task UpdateAsync(string id, string status, IReadOnlyDictionary<string, long> reencrypted, string? errorCode, string? error, CancellationToken ct);
}

/// <summary>
/// One kind of sealed data a re-encryption moves onto a tenant's current key: chunks, session messages, originals.
/// Batches are idempotent (a row already on <c>version</c> is not touched), so a job killed mid-way resumes where it was.
/// </summary>
public interface IReencryptionTarget
{
    string Name { get; }
    /// <summary>How many of the tenant's items are not sealed with <paramref name="version"/> (plaintext included).</summary>
    Task<long> CountPendingAsync(string tenantId, int version, CancellationToken ct);
    /// <summary>Re-seals up to <paramref name="batchSize"/> pending items with <paramref name="cipher"/> (whose write version is the target); returns how many it moved, 0 when none are left.</summary>
    Task<int> ReencryptBatchAsync(string tenantId, TenantCipher cipher, int batchSize, CancellationToken ct);
}

/// <summary>
/// Job kind <c>crypto_reencrypt</c> (payload <c>{"rotation_id"}</c>): moves every sealed item of the tenant onto the
/// rotation's key version, batch by batch, online (each batch is a short transaction; readers open either version).
/// When a pass finds nothing left it waits for every replica to have seen the new active version and checks again;
/// then the older versions are retired. Progress is recorded after every batch; a killed job is claimed again when its
/// lease expires and carries on.
/// </summary>
public sealed class ReencryptionJobHandler(
    IEnumerable<IReencryptionTarget> targets, IRotationStore rotations, ITenantKeyStore keys, DataKeyService dataKeys, IAuditLog audit,
    TimeProvider clock, ILogger<ReencryptionJobHandler> logger) : IJobHandler
{
    public const string Kind = "crypto_reencrypt";

    public IReadOnlyCollection<string> Kinds { get; } = [Kind];
    public string? HeldBy => null;

    public static string Payload(string rotationId) => JsonSerializer.Serialize(new Dictionary<string, string> { ["rotation_id"] = rotationId });

    public async Task<JobResult> HandleAsync(Job job, string workerId, CancellationToken ct)
    {
        using var payload = JsonDocument.Parse(job.PayloadJson ?? "{}");
        var id = payload.RootElement.TryGetProperty("rotation_id", out var p) ? p.GetString() : null;
        var rotation = (id is null ? null : await rotations.GetAsync(id, ct).ConfigureAwait(false))
            ?? throw new PermanentJobFailure($"rotation '{id}' not found");
        if (!RotationStatus.IsOpen(rotation.Status)) return JobResult.Done;
        var done = new Dictionary<string, long>(rotation.Reencrypted);
        await rotations.UpdateAsync(rotation.Id, RotationStatus.Running, done, null, null, ct).ConfigureAwait(false);
        try
        {
            for (var pass = 0; ; pass++)
            {
                var cipher = await dataKeys.ForWriteAsync(rotation.TenantId, ct).ConfigureAwait(false);
                if (cipher.WriteVersion != rotation.ToVersion)
                {
                    await rotations.UpdateAsync(rotation.Id, RotationStatus.Superseded, done, null, $"key version {cipher.WriteVersion} became active before this re-encryption finished", ct).ConfigureAwait(false);
                    return JobResult.Done;
                }
                var moved = 0L;
                foreach (var target in targets)
                {
                    int n;
                    while ((n = await target.ReencryptBatchAsync(rotation.TenantId, cipher, dataKeys.Options.ReencryptBatchSize, ct).ConfigureAwait(false)) > 0)
                    {
                        moved += n;
                        done[target.Name] = done.GetValueOrDefault(target.Name) + n;
                        await rotations.UpdateAsync(rotation.Id, RotationStatus.Running, done, null, null, ct).ConfigureAwait(false);
                    }
                }
                if (moved == 0 && pass > 0) break;
                // A replica that has not yet seen the new version may still seal with the old one: wait it out, then check again.
                await Task.Delay(DataKeyService.ActiveVersionTtl * 2, clock, ct).ConfigureAwait(false);
            }
            foreach (var old in (await keys.ListAsync(rotation.TenantId, ct).ConfigureAwait(false)).Where(k => k.Version < rotation.ToVersion && k.Status == DataKeyStatus.DecryptOnly))
                await keys.SetStatusAsync(rotation.TenantId, old.Version, DataKeyStatus.Retired, ct).ConfigureAwait(false);
            dataKeys.Invalidate(rotation.TenantId);
            await rotations.UpdateAsync(rotation.Id, RotationStatus.Succeeded, done, null, null, CancellationToken.None).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(rotation.TenantId, "crypto.reencryption.completed", "success", "system", "crypto", "key_rotation", rotation.Id, null,
                new Dictionary<string, object?> { ["to_version"] = rotation.ToVersion, ["reencrypted"] = done }), CancellationToken.None).ConfigureAwait(false);
            return JobResult.Done;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            if (job.Attempts < job.MaxAttempts && ex is Errors.NexusException { Code: CryptoErrorCodes.KmsUnavailable })
                throw; // the KMS is out: the runner retries with backoff
            logger.LogWarning(ex, "Re-encryption of tenant {TenantId} (rotation {RotationId}) failed", rotation.TenantId, rotation.Id);
            var error = Errors.Text.Clip(ex.Message, 500);
            await rotations.UpdateAsync(rotation.Id, RotationStatus.Failed, done, CryptoErrorCodes.KeyRotationFailed, error, CancellationToken.None).ConfigureAwait(false);
            await audit.AppendAsync(new AuditEntry(rotation.TenantId, "crypto.reencryption.failed", "failure", "system", "crypto", "key_rotation", rotation.Id, null,
                new Dictionary<string, object?> { ["to_version"] = rotation.ToVersion, ["error"] = error }), CancellationToken.None).ConfigureAwait(false);
            throw new PermanentJobFailure(error, ex);
        }
    }
}
