namespace NexusRag.Core.Transactions;

/// <summary>
/// One database transaction around a business change, its audit event and the outbox messages that announce it: the
/// store calls made inside <see cref="RunAsync{T}"/> (on this async flow) join it, and all of them commit together or
/// none does. A nested call joins the outer unit of work.
/// </summary>
public interface IUnitOfWork
{
    Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken ct);

    /// <summary>
    /// Runs <paramref name="action"/> once the current unit of work has committed (dropped if it rolls back), or at once
    /// when none is open: for effects outside the database, such as forgetting cached state.
    /// </summary>
    void AfterCommit(Action action);
}

/// <summary>A message to deliver at least once after the transaction that wrote it commits.</summary>
public sealed record OutboxMessage(string TenantId, string Topic, string PayloadJson);

/// <summary>A stored outbox message as a dispatcher claims it.</summary>
public sealed record OutboxRecord(long Id, string TenantId, string Topic, string PayloadJson, int Attempts, DateTime CreatedAt);

/// <summary>
/// The transactional outbox: <see cref="EnqueueAsync"/> writes in the caller's unit of work; dispatchers on any replica
/// claim due rows with a lease (a row is never held by two live dispatchers), deliver them, and mark them delivered,
/// conditional on still holding the lease. A dispatcher that dies mid-delivery leaves its rows to be claimed again when
/// the lease expires, so delivery is at least once.
/// </summary>
public interface IOutbox
{
    Task EnqueueAsync(OutboxMessage message, CancellationToken ct);
    Task<IReadOnlyList<OutboxRecord>> ClaimAsync(string dispatcherId, int max, TimeSpan lease, CancellationToken ct);
    Task<bool> MarkDeliveredAsync(long id, string dispatcherId, CancellationToken ct);
    /// <summary>Releases the row for another attempt at <paramref name="retryAt"/>, or parks it as dead when null.</summary>
    Task<bool> MarkFailedAsync(long id, string dispatcherId, string error, DateTime? retryAt, CancellationToken ct);
}

/// <summary>Receives outbox messages of the topics it names (notifications, webhooks and alerts ride on this).</summary>
public interface IOutboxSubscriber
{
    bool Handles(string topic);
    Task DeliverAsync(OutboxRecord message, CancellationToken ct);
}
