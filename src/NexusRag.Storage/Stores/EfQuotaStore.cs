using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Governance;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfQuotaStore(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IQuotaStore
{
    public async Task<QuotaLimits?> GetLimitsAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var r = await db.TenantQuotas.AsNoTracking().FirstOrDefaultAsync(q => q.TenantId == tenantId, ct).ConfigureAwait(false);
        return r is null ? null : new QuotaLimits(r.DailyRequestsLimit, r.MonthlyRequestsLimit, r.SoftCapRatio, r.HardCapEnabled);
    }

    public async Task SetLimitsAsync(string tenantId, QuotaLimits l, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        await db.Database.ExecuteSqlInterpolatedAsync($"""
            INSERT INTO tenant_quotas (tenant_id, daily_requests_limit, monthly_requests_limit, soft_cap_ratio, hard_cap_enabled, updated_at)
            VALUES ({tenantId}, {l.DailyRequestsLimit}, {l.MonthlyRequestsLimit}, {l.SoftCapRatio}, {l.HardCapEnabled}, {now})
            ON CONFLICT (tenant_id) DO UPDATE SET daily_requests_limit = excluded.daily_requests_limit,
              monthly_requests_limit = excluded.monthly_requests_limit, soft_cap_ratio = excluded.soft_cap_ratio,
              hard_cap_enabled = excluded.hard_cap_enabled, updated_at = excluded.updated_at
            """, ct).ConfigureAwait(false);
    }

    public async Task<long> UsedAsync(string tenantId, string periodKey, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.UsageCounters.AsNoTracking().Where(u => u.TenantId == tenantId && u.PeriodKey == periodKey).Select(u => u.Used)
            .FirstOrDefaultAsync(ct).ConfigureAwait(false);
    }

    public async Task<QuotaDecision> CountAsync(string tenantId, QuotaLimits limits, int units, DateTime now, CancellationToken ct)
    {
        var dayKey = "day:" + QuotaPeriods.Day(now);
        var monthKey = "month:" + QuotaPeriods.Month(now);
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        foreach (var key in new[] { dayKey, monthKey })
            await db.Database.ExecuteSqlInterpolatedAsync(
                $"INSERT INTO usage_counters (tenant_id, period_key, used, soft_cap_notified, overage_notified) VALUES ({tenantId}, {key}, 0, FALSE, FALSE) ON CONFLICT (tenant_id, period_key) DO NOTHING",
                ct).ConfigureAwait(false);

        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        // Increment first (takes the row locks / the write lock), then judge: a blocked request is rolled back uncounted.
        var day = await BumpAsync(db, tenantId, dayKey, units, ct).ConfigureAwait(false);
        var month = await BumpAsync(db, tenantId, monthKey, units, ct).ConfigureAwait(false);
        string? blocked = null;
        if (limits.HardCapEnabled)
        {
            if (limits.MonthlyRequestsLimit is { } ml && month.Used > ml) blocked = "month";
            else if (limits.DailyRequestsLimit is { } dl && day.Used > dl) blocked = "day";
        }
        var dayUsage = new PeriodUsage("day", QuotaPeriods.Day(now), limits.DailyRequestsLimit, blocked is null ? day.Used : day.Used - units);
        var monthUsage = new PeriodUsage("month", QuotaPeriods.Month(now), limits.MonthlyRequestsLimit, blocked is null ? month.Used : month.Used - units);
        if (blocked is not null)
        {
            await tx.RollbackAsync(ct).ConfigureAwait(false);
            return new QuotaDecision(false, dayUsage, monthUsage, blocked, true, [], []);
        }

        var softNow = new List<string>();
        var overNow = new List<string>();
        foreach (var (usage, key, row) in new[] { (dayUsage, dayKey, day), (monthUsage, monthKey, month) })
        {
            if (usage.Limit is not { } limit) continue;
            if (!row.SoftNotified && usage.Used >= limits.SoftCapRatio * limit)
            {
                softNow.Add(usage.Period);
                await db.UsageCounters.Where(u => u.TenantId == tenantId && u.PeriodKey == key)
                    .ExecuteUpdateAsync(s => s.SetProperty(u => u.SoftCapNotified, true), ct).ConfigureAwait(false);
            }
            if (!row.OverNotified && usage.Used > limit)
            {
                overNow.Add(usage.Period);
                await db.UsageCounters.Where(u => u.TenantId == tenantId && u.PeriodKey == key)
                    .ExecuteUpdateAsync(s => s.SetProperty(u => u.OverageNotified, true), ct).ConfigureAwait(false);
            }
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        var softReached = (dayUsage.Limit is { } d && dayUsage.Used >= limits.SoftCapRatio * d) || (monthUsage.Limit is { } m && monthUsage.Used >= limits.SoftCapRatio * m);
        return new QuotaDecision(true, dayUsage, monthUsage, null, softReached, softNow, overNow);
    }

    private sealed class Bumped
    {
        public long Used { get; set; }
        public bool SoftNotified { get; set; }
        public bool OverNotified { get; set; }
    }

    private static async Task<Bumped> BumpAsync(NexusDbContext db, string tenantId, string key, int units, CancellationToken ct) =>
        (await db.Database.SqlQuery<Bumped>($"""
            UPDATE usage_counters SET used = used + {units} WHERE tenant_id = {tenantId} AND period_key = {key}
            RETURNING used AS "Used", soft_cap_notified AS "SoftNotified", overage_notified AS "OverNotified"
            """).ToListAsync(ct).ConfigureAwait(false)).Single();
}
