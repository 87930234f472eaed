using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Ports;
using NexusRag.Core.Search;

namespace NexusRag.Search;

/// <summary>
/// Keeps this replica's index following the change log between searches (woken by <see cref="IChangeNotifier"/>, polling as the fallback), writes a snapshot every
/// <see cref="SearchOptions.SnapshotEveryChanges"/> applied changes (or a tenth of the index, if more) and once more at shutdown.
/// </summary>
public sealed class SearchIndexSyncService(HybridSearchIndex index, IOptions<SearchOptions> options, IChangeNotifier notifier, ILogger<SearchIndexSyncService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(options.Value.SyncIntervalMs);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await index.CatchUpAsync(stoppingToken).ConfigureAwait(false);
                if (index.SnapshotDue) await index.SaveSnapshotAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { break; }
            catch (Exception ex)
            {
                logger.LogWarning("Search index catch-up failed ({Error}); retrying in {Interval}", ex.GetBaseException().Message, interval);
            }
            try { await notifier.WaitAsync(interval, stoppingToken).ConfigureAwait(false); } // NOTIFY wakes it early
            catch (OperationCanceledException) { break; }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try { await index.SaveSnapshotAsync(cancellationToken).ConfigureAwait(false); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or OperationCanceledException or Core.Errors.NexusException
                                       or System.Security.Cryptography.CryptographicException)
        {
            logger.LogWarning(ex, "Search index snapshot not written at shutdown");
        }
    }
}
