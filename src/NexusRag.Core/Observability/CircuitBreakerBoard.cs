using System.Collections.Concurrent;

namespace NexusRag.Core.Observability;

/// <summary>Circuit-breaker states in words (the resilience library's states, named for the API and the metrics).</summary>
public static class BreakerStates
{
    public const string Closed = "closed";
    public const string Open = "open";
    public const string HalfOpen = "half_open";
    /// <summary>Held open on purpose: another replica's breaker for the same integration opened (shared through Redis).</summary>
    public const string Isolated = "isolated";

    public static int Level(string state) => state switch { Closed => 0, HalfOpen => 1, _ => 2 };
}

/// <summary>
/// The circuit breakers of this process's external integrations (<c>embeddings</c>, <c>llm</c>, <c>rerank</c>), each
/// registered by its HTTP pipeline when first built, with a way to hold it open when another replica's breaker opened.
/// </summary>
public sealed class CircuitBreakerBoard(TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    /// <summary>Holds announced before this process built the integration's pipeline: applied when it registers.</summary>
    private readonly ConcurrentDictionary<string, DateTimeOffset> _pending = new(StringComparer.Ordinal);

    private sealed record Entry(Func<string> State, Func<TimeSpan, Task> HoldOpen);

    /// <summary>Raised when a breaker of this process opens (integration, break duration): the shared sync tells the other replicas.</summary>
    public event Action<string, TimeSpan>? Opened;

    public void Register(string integration, Func<string> state, Func<TimeSpan, Task> holdOpen)
    {
        _entries[integration] = new Entry(state, holdOpen);
        if (_pending.TryRemove(integration, out var until) && until - _clock.GetUtcNow() is { } left && left > TimeSpan.Zero)
            _ = holdOpen(left);
    }

    public IReadOnlyDictionary<string, string> States() =>
        _entries.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value.State(), StringComparer.Ordinal);

    /// <summary>Called by a pipeline whose breaker just opened by itself.</summary>
    public void ReportOpened(string integration, TimeSpan breakDuration) => Opened?.Invoke(integration, breakDuration);

    /// <summary>Holds this process's breaker of <paramref name="integration"/> open for <paramref name="duration"/> (from when its pipeline is built, if it is not yet).</summary>
    public Task HoldOpenAsync(string integration, TimeSpan duration)
    {
        if (!_entries.TryGetValue(integration, out var e))
        {
            _pending[integration] = _clock.GetUtcNow() + duration;
            return Task.CompletedTask;
        }
        return e.State() == BreakerStates.Closed ? e.HoldOpen(duration) : Task.CompletedTask;
    }
}
