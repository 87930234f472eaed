using NexusRag.Core.Errors;

namespace NexusRag.Core.Governance;

/// <summary>Platform-wide kill switches and canary percentages (seed "Rollout Controls").</summary>
public sealed record RolloutState(IReadOnlyDictionary<string, bool> KillSwitches, IReadOnlyDictionary<string, int> CanaryPercentages);

public interface IRolloutStore
{
    Task<RolloutState> GetAsync(CancellationToken ct);
    Task SetKillSwitchesAsync(IReadOnlyDictionary<string, bool> switches, CancellationToken ct);
    Task SetCanaryAsync(IReadOnlyDictionary<string, int> percentages, CancellationToken ct);
}

public static class KillSwitches
{
    public const string Run = "kill.run";
    public const string Ingest = "kill.ingest";
    public static readonly string[] Known = [Run, Ingest];
}

/// <summary>
/// Reads rollout state through a short cache (<see cref="MaxAge"/>), so a switch flipped through any replica reaches
/// every replica within a couple of seconds without a database read per request.
/// </summary>
public sealed class RolloutGate(IRolloutStore store, TimeProvider clock)
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(2);
    private readonly RefreshingCache<RolloutState> _cache = new(clock, MaxAge);

    public Task<RolloutState> CurrentAsync(CancellationToken ct) => _cache.GetAsync("", store.GetAsync, ct);

    /// <summary>Forget the cache (after this replica changed the state).</summary>
    public void Invalidate() => _cache.Invalidate("");

    public async Task<bool> IsKilledAsync(string killSwitch, CancellationToken ct) =>
        (await CurrentAsync(ct).ConfigureAwait(false)).KillSwitches.GetValueOrDefault(killSwitch);

    /// <summary>503 <c>FEATURE_DISABLED</c> when the switch is on.</summary>
    public async Task EnsureEnabledAsync(string killSwitch, string what, CancellationToken ct)
    {
        if (await IsKilledAsync(killSwitch, ct).ConfigureAwait(false))
            throw new NexusException(ErrorKind.Unavailable, ErrorCodes.FeatureDisabled, $"{what} is switched off by an operator ({killSwitch})",
                new Dictionary<string, object?> { ["kill_switch"] = killSwitch });
    }
}
