namespace NexusRag.Core.Governance;

/// <summary>Single-node token buckets (no REDIS_URL).</summary>
public sealed class InProcessRateLimiter(TimeProvider clock) : IRateLimiter
{
    private readonly Dictionary<string, (double Tokens, long LastMs)> _buckets = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public Task<RateLimitDecision> CheckAsync(RateLimitRequest r, CancellationToken ct)
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var keyId = $"{r.RouteClass}:key:{r.KeyId}";
        var tenantId = $"{r.RouteClass}:tenant:{r.TenantId}";
        lock (_gate)
        {
            var key = Current(keyId, r.Limits.Key, now);
            var tenant = Current(tenantId, r.Limits.Tenant, now);
            RateLimitDecision decision;
            if (key < r.Cost)
                decision = new(false, "api_key", TokenBucket.WaitMs(key, r.Cost, r.Limits.Key), r.Limits.Key.Burst, (int)key, TokenBucket.ResetSeconds(key, r.Limits.Key));
            else if (tenant < r.Cost)
                decision = new(false, "tenant", TokenBucket.WaitMs(tenant, r.Cost, r.Limits.Tenant), r.Limits.Key.Burst, (int)key, TokenBucket.ResetSeconds(key, r.Limits.Key));
            else
            {
                key -= r.Cost;
                tenant -= r.Cost;
                decision = new(true, null, 0, r.Limits.Key.Burst, (int)key, TokenBucket.ResetSeconds(key, r.Limits.Key));
            }
            _buckets[keyId] = (key, now);
            _buckets[tenantId] = (tenant, now);
            return Task.FromResult(decision);
        }
    }

    private double Current(string id, BucketLimit limit, long now) =>
        _buckets.TryGetValue(id, out var b) ? TokenBucket.Refill(b.Tokens, b.LastMs, now, limit) : limit.Burst;
}
