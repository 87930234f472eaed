using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace NexusRag.Core.Transactions;

/// <summary>Outbox delivery (section <c>NexusRag:Outbox</c>).</summary>
public sealed class OutboxOptions
{
    public const string Section = "NexusRag:Outbox";
    /// <summary>Run the dispatcher on this process's worker role (off: another replica delivers).</summary>
    public bool DispatcherEnabled { get; set; } = true;
    /// <summary>Pause between polls when nothing is due.</summary>
    [Range(10, 600_000)] public int PollIntervalMs { get; set; } = 1_000;
    /// <summary>How long a claimed row stays with its dispatcher before another may take it.</summary>
    [Range(100, 3_600_000)] public int LeaseMs { get; set; } = 30_000;
    [Range(1, 1_000)] public int BatchSize { get; set; } = 50;
    /// <summary>Attempts before a row is parked as dead.</summary>
    [Range(1, 100)] public int MaxAttempts { get; set; } = 10;
    [Range(1, 3_600_000)] public int RetryBackoffBaseMs { get; set; } = 1_000;
}

/// <summary>
/// Delivers due outbox rows to the subscribers of their topic, at least once: claim a batch under a lease, deliver each,
/// mark it delivered (conditional on the lease). A failed delivery is retried with exponential backoff and parked as
/// dead after <see cref="OutboxOptions.MaxAttempts"/>. A row no subscriber handles is marked delivered.
/// </summary>
public sealed class OutboxDispatcher(IOutbox outbox, IEnumerable<IOutboxSubscriber> subscribers, IOptions<OutboxOptions> options,
    TimeProvider clock, ILogger<OutboxDispatcher> logger)
{
    private readonly IOutboxSubscriber[] _subscribers = subscribers.ToArray();

    /// <summary>One pass: returns how many rows this dispatcher claimed.</summary>
    public async Task<int> DispatchOnceAsync(string dispatcherId, CancellationToken ct)
    {
        var o = options.Value;
        var batch = await outbox.ClaimAsync(dispatcherId, o.BatchSize, TimeSpan.FromMilliseconds(o.LeaseMs), ct).ConfigureAwait(false);
        foreach (var message in batch)
        {
            try
            {
                foreach (var s in _subscribers)
                    if (s.Handles(message.Topic)) await s.DeliverAsync(message, ct).ConfigureAwait(false);
                if (!await outbox.MarkDeliveredAsync(message.Id, dispatcherId, ct).ConfigureAwait(false))
                    logger.LogWarning("Outbox message {Id} ({Topic}) was delivered after its lease expired; it may be delivered again", message.Id, message.Topic);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                DateTime? retryAt = message.Attempts >= o.MaxAttempts
                    ? null
                    : clock.GetUtcNow().UtcDateTime.AddMilliseconds(o.RetryBackoffBaseMs * Math.Pow(2, Math.Min(message.Attempts - 1, 16)));
                logger.LogWarning("Outbox message {Id} ({Topic}) failed on attempt {Attempt}: {Error}{Parked}", message.Id, message.Topic, message.Attempts,
                    ex.Message, retryAt is null ? "; parked as dead" : "");
                await outbox.MarkFailedAsync(message.Id, dispatcherId, ex.Message, retryAt, ct).ConfigureAwait(false);
            }
        }
        return batch.Count;
    }
}

/// <summary>Writes every outbox message to the log (the operator's notification channel until webhooks exist).</summary>
public sealed class LogOutboxSubscriber(ILogger<LogOutboxSubscriber> logger) : IOutboxSubscriber
{
    public bool Handles(string topic) => true;

    public Task DeliverAsync(OutboxRecord message, CancellationToken ct)
    {
        logger.LogInformation("Outbox {Topic} for tenant {TenantId}: {Payload}", message.Topic, message.TenantId, message.PayloadJson);
        return Task.CompletedTask;
    }
}
