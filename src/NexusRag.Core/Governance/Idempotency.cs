namespace NexusRag.Core.Governance;

/// <summary>A response kept for replay.</summary>
public sealed record StoredResponse(int Status, string? ContentType, byte[] Body);

public enum IdempotencyOutcome { Started, Replay, Conflict, InProgress }

public sealed record IdempotencyClaim(IdempotencyOutcome Outcome, StoredResponse? Response = null);

/// <summary>
/// Idempotency records (seed "Idempotency"): the first request with a key claims it and its response is kept for
/// 24 h; the same key with the same payload replays it; another payload conflicts; a request arriving while the first
/// is still running waits for it. In-process without REDIS_URL, shared through Redis with it.
/// </summary>
public interface IIdempotencyStore
{
    Task<IdempotencyClaim> TryBeginAsync(string key, string requestHash, TimeSpan lockTtl, CancellationToken ct);
    Task CompleteAsync(string key, string requestHash, StoredResponse response, TimeSpan retention, CancellationToken ct);
    /// <summary>Forgets a claim whose request failed (5xx or an exception), so the client can retry it.</summary>
    Task AbandonAsync(string key, string requestHash, CancellationToken ct);
    /// <summary>Drops expired records (maintenance <c>prune_idempotency</c>); returns how many. Stores that expire records themselves return 0.</summary>
    Task<int> PruneExpiredAsync(CancellationToken ct);
}

public sealed class InProcessIdempotencyStore(TimeProvider clock) : IIdempotencyStore
{
    private sealed record Entry(string Hash, StoredResponse? Response, DateTimeOffset Until);
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private int _sinceSweep;

    public Task<IdempotencyClaim> TryBeginAsync(string key, string requestHash, TimeSpan lockTtl, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            if (++_sinceSweep >= 10_000) // drop expired records now and then: amortized O(1) per request
            {
                _sinceSweep = 0;
                foreach (var k in _entries.Where(e => e.Value.Until <= now).Select(e => e.Key).ToList()) _entries.Remove(k);
            }
            if (!_entries.TryGetValue(key, out var e) || e.Until <= now)
            {
                _entries[key] = new Entry(requestHash, null, now + lockTtl);
                return Task.FromResult(new IdempotencyClaim(IdempotencyOutcome.Started));
            }
            if (e.Hash != requestHash) return Task.FromResult(new IdempotencyClaim(IdempotencyOutcome.Conflict));
            return Task.FromResult(e.Response is null ? new IdempotencyClaim(IdempotencyOutcome.InProgress) : new IdempotencyClaim(IdempotencyOutcome.Replay, e.Response));
        }
    }

    public Task CompleteAsync(string key, string requestHash, StoredResponse response, TimeSpan retention, CancellationToken ct)
    {
        lock (_gate) _entries[key] = new Entry(requestHash, response, clock.GetUtcNow() + retention);
        return Task.CompletedTask;
    }

    public Task AbandonAsync(string key, string requestHash, CancellationToken ct)
    {
        lock (_gate) if (_entries.TryGetValue(key, out var e) && e.Hash == requestHash && e.Response is null) _entries.Remove(key);
        return Task.CompletedTask;
    }

    public Task<int> PruneExpiredAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            var expired = _entries.Where(e => e.Value.Until <= now).Select(e => e.Key).ToList();
            foreach (var k in expired) _entries.Remove(k);
            return Task.FromResult(expired.Count);
        }
    }
}

/// <summary><c>IDEMPOTENCY_ENABLED</c> (default true): honour <c>Idempotency-Key</c> on the endpoints that declare it.</summary>
public sealed class IdempotencyOptions : IHasParseErrors
{
    public bool Enabled { get; set; } = true;
    public List<string> ParseErrors { get; } = [];
}
