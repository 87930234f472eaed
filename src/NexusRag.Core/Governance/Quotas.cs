namespace NexusRag.Core.Governance;

/// <summary>A tenant's request caps (seed "Usage Quotas"); null limit = no cap for that period.</summary>
public sealed record QuotaLimits(int? DailyRequestsLimit, int? MonthlyRequestsLimit, double SoftCapRatio, bool HardCapEnabled)
{
    public static readonly QuotaLimits None = new(null, null, 0.8, true);
    public bool Any => DailyRequestsLimit is not null || MonthlyRequestsLimit is not null;
}

public sealed record PeriodUsage(string Period, string Start, int? Limit, long Used)
{
    public long? Remaining => Limit is { } l ? Math.Max(0, l - Used) : null;
}

/// <summary>The outcome of counting one request: blocked (which period) or allowed, and whether a soft cap / overage was crossed first now.</summary>
public sealed record QuotaDecision(bool Allowed, PeriodUsage Day, PeriodUsage Month, string? BlockedPeriod, bool SoftCapReached,
    IReadOnlyList<string> SoftCapCrossedNow, IReadOnlyList<string> OverageObservedNow);

public interface IQuotaStore
{
    Task<QuotaLimits?> GetLimitsAsync(string tenantId, CancellationToken ct);
    Task SetLimitsAsync(string tenantId, QuotaLimits limits, CancellationToken ct);
    /// <summary>
    /// Atomically counts <paramref name="units"/> in the day and month periods. With the hard cap on, a request that
    /// would pass a limit is not counted and comes back blocked. Soft-cap and overage crossings are reported once per period.
    /// </summary>
    Task<QuotaDecision> CountAsync(string tenantId, QuotaLimits limits, int units, DateTime now, CancellationToken ct);
    Task<long> UsedAsync(string tenantId, string periodKey, CancellationToken ct);
}

public static class QuotaPeriods
{
    public static string Day(DateTime now) => now.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
    public static string Month(DateTime now) => now.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
}
