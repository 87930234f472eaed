using Microsoft.Extensions.Options;
using NexusRag.Core.Transactions;

namespace NexusRag.Server.Workers;

/// <summary>Hosts the outbox dispatcher on worker replicas: every replica may run one; leases keep them apart.</summary>
public sealed class OutboxWorker(OutboxDispatcher dispatcher, IOptions<OutboxOptions> options, ILogger<OutboxWorker> logger) : BackgroundService
{
    private readonly string _id = $"o{Environment.ProcessId}-{Guid.NewGuid():N}"[..20];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.DispatcherEnabled) return;
        var idle = TimeSpan.FromMilliseconds(options.Value.PollIntervalMs);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await dispatcher.DispatchOnceAsync(_id, stoppingToken) == 0) await Task.Delay(idle, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning("Outbox dispatcher {Id}: {Error}; retrying", _id, ex.GetBaseException().Message);
                try { await Task.Delay(idle * 5, stoppingToken); }
                catch (OperationCanceledException) { return; }
            }
        }
    }
}
