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
public sealed class CircuitBreakerBoard
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private sealed record Entry(Func<string> State, Func<TimeSpan, Task> HoldOpen);

    /// <summary>Raised when a breaker of this process opens (integration, break duration): the shared sync tells the other replicas.</summary>
    public event Action<string, TimeSpan>? Opened;

    public void Register(string integration, Func<string> state, Func<TimeSpan, Task> holdOpen) =>
        _entries[integration] = new Entry(state, holdOpen);

    public IReadOnlyDictionary<string, string> States() =>
        _entries.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value.State(), StringComparer.Ordinal);

    /// <summary>Called by a pipeline whose breaker just opened by itself.</summary>
    public void ReportOpened(string integration, TimeSpan breakDuration) => Opened?.Invoke(integration, breakDuration);

    /// <summary>Holds this process's breaker of <paramref name="integration"/> open for <paramref name="duration"/> (no-op when it has none).</summary>
    public Task HoldOpenAsync(string integration, TimeSpan duration) =>
        _entries.TryGetValue(integration, out var e) && e.State() == BreakerStates.Closed ? e.HoldOpen(duration) : Task.CompletedTask;
}
