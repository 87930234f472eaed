using System.Collections.Concurrent;

namespace NexusRag.Core.Governance;

/// <summary>
/// Values read from the store at most once per <c>maxAge</c> per key: settings changed through any replica reach
/// every replica within that time, without a database read on every request. <see cref="Invalidate"/> makes a change
/// made through this replica visible at once.
/// </summary>
public sealed class RefreshingCache<TValue>(TimeProvider clock, TimeSpan maxAge)
{
    private readonly ConcurrentDictionary<string, (TValue Value, DateTimeOffset At)> _entries = new(StringComparer.Ordinal);
    private long _generation;

    public async Task<TValue> GetAsync(string key, Func<CancellationToken, Task<TValue>> load, CancellationToken ct)
    {
        if (_entries.TryGetValue(key, out var e) && clock.GetUtcNow() - e.At < maxAge) return e.Value;
        var generation = Interlocked.Read(ref _generation);
        var value = await load(ct).ConfigureAwait(false);
        // A load that began before an invalidation may have read the old state: it answers its own caller, but is not kept.
        if (Interlocked.Read(ref _generation) == generation) _entries[key] = (value, clock.GetUtcNow());
        return value;
    }

    public void Invalidate(string key)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove(key, out _);
    }

    public void Clear()
    {
        Interlocked.Increment(ref _generation);
        _entries.Clear();
    }
}

/// <summary>A tenant's quota limits through a 2 s cache (the quota check runs on every authenticated request).</summary>
public sealed class QuotaLimitsProvider(IQuotaStore store, TimeProvider clock)
{
    private readonly RefreshingCache<QuotaLimits?> _cache = new(clock, RolloutGate.MaxAge);

    public Task<QuotaLimits?> GetAsync(string tenantId, CancellationToken ct) =>
        _cache.GetAsync(tenantId, c => store.GetLimitsAsync(tenantId, c), ct);

    public async Task SetAsync(string tenantId, QuotaLimits limits, CancellationToken ct)
    {
        await store.SetLimitsAsync(tenantId, limits, ct).ConfigureAwait(false);
        _cache.Invalidate(tenantId);
    }

    /// <summary>Drops this replica's cached limits of the tenant (after a change committed elsewhere in a unit of work).</summary>
    public void Invalidate(string tenantId) => _cache.Invalidate(tenantId);
}
