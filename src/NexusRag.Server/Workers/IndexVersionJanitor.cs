using Microsoft.Extensions.Options;
using NexusRag.Core.Indexing;

namespace NexusRag.Server.Workers;

/// <summary>
/// On worker replicas: every <c>JanitorIntervalSeconds</c>, drops failed index versions and retired ones past
/// <c>INDEX_RETIRED_RETENTION_HOURS</c>. Dropping is conditional in the store, so replicas racing on one version drop it once.
/// </summary>
public sealed class IndexVersionJanitor(IndexVersionService versions, IOptions<IndexVersionOptions> options, ILogger<IndexVersionJanitor> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.JanitorIntervalSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var dropped = await versions.DropExpiredAsync(stoppingToken);
                if (dropped > 0) logger.LogInformation("Index janitor: dropped {Count} index version(s)", dropped);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception ex)
            {
                logger.LogWarning("Index janitor: {Error}; retrying in {Interval}", ex.GetBaseException().Message, interval);
            }
            try { await Task.Delay(interval, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
