using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Governance;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfRolloutStore(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IRolloutStore
{
    public async Task<RolloutState> GetAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = await db.RolloutSettings.AsNoTracking().ToListAsync(ct).ConfigureAwait(false);
        var kills = KillSwitches.Known.ToDictionary(k => k, k => rows.Any(r => r.Kind == "kill" && r.Name == k && r.Value != 0));
        var canary = rows.Where(r => r.Kind == "canary").OrderBy(r => r.Name, StringComparer.Ordinal).ToDictionary(r => r.Name, r => r.Value);
        // Tenant switches are named tenant:{tenant_id}:{switch}; tenant ids may contain ':', switch names do not.
        var tenantKills = rows.Where(r => r.Kind == TenantKind && r.Value != 0 && r.Name.StartsWith(TenantPrefix, StringComparison.Ordinal))
            .Select(r => (Tenant: r.Name[TenantPrefix.Length..r.Name.LastIndexOf(':')], Switch: r.Name[(r.Name.LastIndexOf(':') + 1)..]))
            .GroupBy(x => x.Tenant, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlySet<string>)g.Select(x => x.Switch).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        return new RolloutState(kills, canary, tenantKills);
    }

    private const string TenantKind = "tenant_kill";
    private const string TenantPrefix = "tenant:";

    public Task SetTenantKillSwitchesAsync(string tenantId, IReadOnlyDictionary<string, bool> switches, CancellationToken ct) =>
        UpsertAsync(TenantKind, switches.ToDictionary(kv => $"{TenantPrefix}{tenantId}:{kv.Key}", kv => kv.Value ? 1 : 0), ct);

    public Task SetKillSwitchesAsync(IReadOnlyDictionary<string, bool> switches, CancellationToken ct) =>
        UpsertAsync("kill", switches.ToDictionary(kv => kv.Key, kv => kv.Value ? 1 : 0), ct);

    public Task SetCanaryAsync(IReadOnlyDictionary<string, int> percentages, CancellationToken ct) => UpsertAsync("canary", percentages, ct);

    private async Task UpsertAsync(string kind, IReadOnlyDictionary<string, int> values, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        foreach (var (name, value) in values)
        {
            await db.Database.ExecuteSqlInterpolatedAsync($"""
                INSERT INTO rollout_settings (name, kind, value, updated_at) VALUES ({name}, {kind}, {value}, {now})
                ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, value = excluded.value, updated_at = excluded.updated_at
                """, ct).ConfigureAwait(false);
        }
    }
}
