using NexusRag.Core.Errors;

namespace NexusRag.Core.Governance;

/// <summary>
/// Platform-wide kill switches and canary percentages (seed "Rollout Controls"), and the switches tenants turned on for
/// themselves (<see cref="TenantKillSwitches"/>: tenant → its switches that are on).
/// </summary>
public sealed record RolloutState(IReadOnlyDictionary<string, bool> KillSwitches, IReadOnlyDictionary<string, int> CanaryPercentages,
    IReadOnlyDictionary<string, IReadOnlySet<string>>? TenantKillSwitches = null)
{
    public bool IsKilledFor(string killSwitch, string tenantId) =>
        KillSwitches.GetValueOrDefault(killSwitch) || TenantKillSwitches?.GetValueOrDefault(tenantId)?.Contains(killSwitch) == true;
}

public interface IRolloutStore
{
    Task<RolloutState> GetAsync(CancellationToken ct);
    Task SetKillSwitchesAsync(IReadOnlyDictionary<string, bool> switches, CancellationToken ct);
    /// <summary>A tenant's own switches: they only ever affect that tenant.</summary>
    Task SetTenantKillSwitchesAsync(string tenantId, IReadOnlyDictionary<string, bool> switches, CancellationToken ct);
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

    /// <summary>The switch is on for the whole platform or for this tenant.</summary>
    public async Task<bool> IsKilledForAsync(string killSwitch, string tenantId, CancellationToken ct) =>
        (await CurrentAsync(ct).ConfigureAwait(false)).IsKilledFor(killSwitch, tenantId);

    /// <summary>503 <c>FEATURE_DISABLED</c> when the switch is on for the platform (<c>scope: platform</c>) or the tenant (<c>scope: tenant</c>).</summary>
    public async Task EnsureEnabledAsync(string killSwitch, string what, string tenantId, CancellationToken ct)
    {
        var state = await CurrentAsync(ct).ConfigureAwait(false);
        if (state.KillSwitches.GetValueOrDefault(killSwitch))
            throw new NexusException(ErrorKind.Unavailable, ErrorCodes.FeatureDisabled, $"{what} is switched off by an operator ({killSwitch})",
                new Dictionary<string, object?> { ["kill_switch"] = killSwitch, ["scope"] = "platform" });
        if (state.IsKilledFor(killSwitch, tenantId))
            throw new NexusException(ErrorKind.Unavailable, ErrorCodes.FeatureDisabled, $"{what} is paused for this tenant by its admin ({killSwitch})",
                new Dictionary<string, object?> { ["kill_switch"] = killSwitch, ["scope"] = "tenant" });
    }
}
