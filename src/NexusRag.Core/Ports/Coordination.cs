
namespace NexusRag.Core.Ports;

public interface IDatabaseHealth
{
    Task<bool> IsHealthyAsync(CancellationToken ct);
}

/// <summary>Wakes idle ingestion workers when a job is enqueued (polling remains the fallback).</summary>
public interface IJobSignal
{
    void Notify();
    Task WaitAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>
/// Wakes followers of the chunk change log when another process commits chunk changes (PostgreSQL LISTEN/NOTIFY);
/// without such a channel it simply waits out the timeout, and polling takes over.
/// </summary>
public interface IChangeNotifier
{
    /// <summary>Returns when a change was announced or <paramref name="timeout"/> passed, whichever comes first.</summary>
    Task WaitAsync(TimeSpan timeout, CancellationToken ct);
}

/// <summary>A held distributed lock. Disposing releases it (only if still held by this owner).</summary>
public interface ILockHandle : IAsyncDisposable
{
    string Key { get; }
    /// <summary>Extends the lease; false when the lock expired and someone else may hold it now.</summary>
    Task<bool> RenewAsync(TimeSpan lease, CancellationToken ct);
}

/// <summary>
/// Mutual exclusion across replicas (Redis) or within one process (no REDIS_URL). A lease bounds how long a crashed
/// holder blocks others. When the shared store is unreachable, acquiring fails closed with
/// <see cref="SharedStateUnavailableException"/> (HTTP 503), never by granting the lock twice.
/// </summary>
public interface IDistributedLock
{
    /// <summary>The lock, or null when someone else holds it.</summary>
    Task<ILockHandle?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken ct);
}

/// <summary>State shared by replicas (Redis) is unreachable.</summary>
public sealed class SharedStateUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Reachability of the shared state store: "ok", "down", or "not_configured" (single node, in-process state).</summary>
public interface ISharedStateHealth
{
    Task<string> CheckAsync(CancellationToken ct);
}
