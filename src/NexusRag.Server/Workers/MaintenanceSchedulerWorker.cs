using Microsoft.Extensions.Options;
using NexusRag.Core.Backups;

namespace NexusRag.Server.Workers;

/// <summary>
/// On worker replicas: every <c>SchedulerIntervalSeconds</c>, enqueues the maintenance tasks whose cron occurrence is
/// due (<c>MAINTENANCE_SCHEDULE</c>, <c>BACKUP_SCHEDULE_CRON</c>, <c>RESTORE_DRILL_SCHEDULE_CRON</c>); the store's
/// compare-and-set makes one replica enqueue each occurrence.
/// </summary>
public sealed class MaintenanceSchedulerWorker(MaintenanceScheduler scheduler, IOptions<MaintenanceOptions> options, ILogger<MaintenanceSchedulerWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(options.Value.SchedulerIntervalSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try { await scheduler.TickAsync(stoppingToken); }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception ex) { logger.LogWarning("Maintenance scheduler: {Error}; retrying in {Interval}", ex.GetBaseException().Message, interval); }
            try { await Task.Delay(interval, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
