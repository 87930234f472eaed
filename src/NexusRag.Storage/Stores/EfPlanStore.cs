using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Governance;

namespace NexusRag.Storage.Stores;

public sealed class EfPlanStore(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IPlanStore
{
    public async Task<TenantPlan> GetAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var plan = await db.TenantPlans.AsNoTracking().Where(p => p.TenantId == tenantId).Select(p => p.PlanId).FirstOrDefaultAsync(ct).ConfigureAwait(false);
        var overrides = await db.PlanOverrides.AsNoTracking().Where(o => o.TenantId == tenantId).OrderBy(o => o.FeatureKey)
            .Select(o => new PlanOverride(o.FeatureKey, o.Enabled, o.ConfigJson)).ToListAsync(ct).ConfigureAwait(false);
        return new TenantPlan(tenantId, plan, overrides);
    }

    public async Task SetPlanAsync(string tenantId, string planId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO tenant_plans (tenant_id, plan_id, updated_at) VALUES ({tenantId}, {planId}, {now})
            ON CONFLICT (tenant_id) DO UPDATE SET plan_id = excluded.plan_id, updated_at = excluded.updated_at
            """, ct).ConfigureAwait(false);
    }

    public async Task SetOverrideAsync(string tenantId, PlanOverride o, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO plan_overrides (tenant_id, feature_key, enabled, config_json, updated_at) VALUES ({tenantId}, {o.FeatureKey}, {o.Enabled}, {o.ConfigJson}, {now})
            ON CONFLICT (tenant_id, feature_key) DO UPDATE SET enabled = excluded.enabled, config_json = excluded.config_json, updated_at = excluded.updated_at
            """, ct).ConfigureAwait(false);
    }
}
