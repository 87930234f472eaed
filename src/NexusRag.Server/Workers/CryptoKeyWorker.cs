using NexusRag.Core.Crypto;

namespace NexusRag.Server.Workers;

/// <summary>
/// On worker replicas with encryption at rest on: at start and every ten minutes, encrypts what is still plaintext (a
/// store from before encryption was turned on, or writes made under <c>CRYPTO_FAIL_MODE=open</c> during a KMS outage)
/// through the re-encryption job, and rotates tenants whose key is older than <c>CRYPTO_ROTATION_INTERVAL_DAYS</c>.
/// </summary>
public sealed class CryptoKeyWorker(KeyRotationService rotation, DataKeyService dataKeys, ILogger<CryptoKeyWorker> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!dataKeys.Enabled) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                foreach (var tenant in await rotation.TenantsWithPlaintextAsync(stoppingToken))
                {
                    if (await rotation.EncryptExistingAsync(tenant, stoppingToken) is { } r)
                        logger.LogInformation("Tenant {TenantId} holds plaintext: encrypting it onto key version {Version} (job {JobId})", tenant, r.ToVersion, r.Id);
                }
                foreach (var r in await rotation.RotateDueAsync(stoppingToken))
                    logger.LogInformation("Tenant {TenantId}'s data key was due: rotated to version {Version} (job {JobId})", r.TenantId, r.ToVersion, r.Id);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception ex) { logger.LogWarning("Encryption upkeep: {Error}; retrying in {Interval}", ex.GetBaseException().Message, Interval); }
            try { await Task.Delay(Interval, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
