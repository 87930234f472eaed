using Microsoft.Extensions.Options;
using NexusRag.Core.Observability;

namespace NexusRag.Server.Telemetry;

/// <summary>
/// The request measurements of the last hour on this replica, per minute and route class: count, 5xx count and a
/// latency histogram on the same buckets as <c>http_server_request_duration_seconds</c>. <c>/v1/ops/slo</c> and
/// <c>/v1/ops/metrics</c> read it; the Prometheus histogram is fed by the same measurement.
/// </summary>
public sealed class SloTracker(TimeProvider clock, IOptions<TelemetryOptions> options)
{
    public const int WindowMinutes = 60;
    private static readonly IReadOnlyList<double> Bounds = NexusInstrumentation.LatencyBuckets;
    private readonly Lock _lock = new();
    /// <summary>Scope <c>*</c> is the whole replica; a tenant id scopes a tenant's own requests (for its admins).</summary>
    private readonly Dictionary<(string Scope, string Class), Minute[]> _byClass = new();
    private readonly HashSet<string> _tenants = new(StringComparer.Ordinal);
    private const int MaxTenants = 10_000;
    public const string All = "*";

    private sealed class Minute
    {
        public long Stamp = -1;
        public long Count;
        public long Errors;
        public readonly long[] Buckets = new long[Bounds.Count + 1];
    }

    public void Record(string routeClass, double seconds, int status, string? tenantId = null)
    {
        var stamp = clock.GetUtcNow().ToUnixTimeSeconds() / 60;
        var bucket = 0;
        while (bucket < Bounds.Count && seconds > Bounds[bucket]) bucket++;
        lock (_lock)
        {
            Add(All);
            if (tenantId is not null && (_tenants.Contains(tenantId) || (_tenants.Count < MaxTenants && _tenants.Add(tenantId)))) Add(tenantId);
        }

        void Add(string scope)
        {
            if (!_byClass.TryGetValue((scope, routeClass), out var ring)) _byClass[(scope, routeClass)] = ring = new Minute[WindowMinutes];
            var m = ring[stamp % WindowMinutes] ??= new Minute();
            if (m.Stamp != stamp) { m.Stamp = stamp; m.Count = 0; m.Errors = 0; Array.Clear(m.Buckets); }
            m.Count++;
            if (status >= 500) m.Errors++;
            m.Buckets[bucket]++;
        }
    }

    public sealed record ClassWindow(long Requests, long Errors, double? P50Ms, double? P95Ms, double? P99Ms);

    /// <summary>Totals of the last <paramref name="minutes"/> minutes per route class.</summary>
    public IReadOnlyDictionary<string, ClassWindow> Window(int minutes, string scope = All)
    {
        var now = clock.GetUtcNow().ToUnixTimeSeconds() / 60;
        var result = new Dictionary<string, ClassWindow>(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var ((owner, cls), ring) in _byClass)
            {
                if (owner != scope) continue;
                long count = 0, errors = 0;
                var buckets = new long[Bounds.Count + 1];
                foreach (var m in ring)
                {
                    if (m is null || m.Stamp <= now - minutes || m.Stamp > now) continue;
                    count += m.Count;
                    errors += m.Errors;
                    for (var i = 0; i < buckets.Length; i++) buckets[i] += m.Buckets[i];
                }
                if (count > 0) result[cls] = new ClassWindow(count, errors, Quantile(buckets, count, 0.50), Quantile(buckets, count, 0.95), Quantile(buckets, count, 0.99));
            }
        }
        return result;
    }

    /// <summary>The quantile by linear interpolation inside its histogram bucket (as Prometheus' histogram_quantile), in ms.</summary>
    private static double? Quantile(long[] buckets, long count, double q)
    {
        var rank = q * count;
        long seen = 0;
        for (var i = 0; i < buckets.Length; i++)
        {
            if (seen + buckets[i] >= rank && buckets[i] > 0)
            {
                var lower = i == 0 ? 0 : Bounds[i - 1];
                if (i == Bounds.Count) return Math.Round(lower * 1000, 1); // beyond the last bound: report the bound
                var upper = Bounds[i];
                return Math.Round((lower + (upper - lower) * ((rank - seen) / buckets[i])) * 1000, 1);
            }
            seen += buckets[i];
        }
        return null;
    }

    public sealed record SloReport(string Window, double? Availability, IReadOnlyDictionary<string, double?> P95, double ErrorBudgetRemainingPct,
        double BurnRate5m, string Status, long Requests, long Errors, double Target);

    /// <summary>
    /// Availability over the window (5xx count against all requests; 4xx are the caller's), the error budget left
    /// (1 − observed error rate / allowed error rate) and the 5-minute burn rate (error rate / allowed rate). Status:
    /// <c>breached</c> when the budget is spent, <c>at_risk</c> when the last 5 minutes burn faster than 2× (a budget
    /// spent in half the window), <c>healthy</c> otherwise.
    /// </summary>
    public SloReport Report(string scope = All)
    {
        var target = options.Value.SloAvailabilityTarget;
        var allowed = 1 - target / 100;
        var hour = Window(WindowMinutes, scope);
        var five = Window(5, scope);
        long requests = hour.Values.Sum(c => c.Requests), errors = hour.Values.Sum(c => c.Errors);
        long requests5 = five.Values.Sum(c => c.Requests), errors5 = five.Values.Sum(c => c.Errors);
        double? availability = requests == 0 ? null : Math.Round(100.0 * (requests - errors) / requests, 3);
        var errorRate = requests == 0 ? 0 : (double)errors / requests;
        var remaining = Math.Round(Math.Clamp(1 - errorRate / allowed, 0, 1) * 100, 1);
        var burn = requests5 == 0 ? 0 : Math.Round((double)errors5 / requests5 / allowed, 2);
        var status = remaining <= 0 ? "breached" : burn > 2 ? "at_risk" : "healthy";
        var p95 = hour.ToDictionary(kv => kv.Key, kv => kv.Value.P95Ms);
        var api = Merge(hour.Where(kv => kv.Key != Core.Governance.RouteClasses.Run).Select(kv => kv.Value));
        p95["api"] = api;
        return new SloReport("1h", availability, p95, remaining, burn, status, requests, errors, target);
    }

    /// <summary>p95 over several route classes: the count-weighted worst of them is an upper bound; we report the max.</summary>
    private static double? Merge(IEnumerable<ClassWindow> windows) => windows.Select(w => w.P95Ms).Where(p => p is not null).DefaultIfEmpty().Max();
}
