using System.Globalization;
using NexusRag.Core.Governance;
using StackExchange.Redis;

namespace NexusRag.Storage.Redis;

/// <summary>
/// Token buckets shared by every replica: one Lua script per decision refills both buckets from Redis's own clock,
/// checks both, and takes from both only when both have capacity — atomically, so replicas never overspend.
/// </summary>
public sealed class RedisRateLimiter(RedisConnection redis) : IRateLimiter
{
    private const string Script = """
        local now_parts = redis.call('TIME')
        local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
        local cost = tonumber(ARGV[1])
        local function load(k, rps, burst)
          local v = redis.call('HMGET', k, 't', 'ts')
          local tokens, ts = tonumber(v[1]), tonumber(v[2])
          if tokens == nil then return burst end
          local t = tokens + math.max(0, now - ts) * rps / 1000
          if t > burst then t = burst end
          return t
        end
        local krps, kburst, trps, tburst = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
        local k = load(KEYS[1], krps, kburst)
        local t = load(KEYS[2], trps, tburst)
        local allowed, scope = 0, 0
        if k < cost then scope = 1 elseif t < cost then scope = 2 else allowed = 1; k = k - cost; t = t - cost end
        redis.call('HSET', KEYS[1], 't', tostring(k), 'ts', now)
        redis.call('PEXPIRE', KEYS[1], math.ceil(kburst / krps * 1000) + 1000)
        redis.call('HSET', KEYS[2], 't', tostring(t), 'ts', now)
        redis.call('PEXPIRE', KEYS[2], math.ceil(tburst / trps * 1000) + 1000)
        return {allowed, scope, tostring(k), tostring(t)}
        """;

    public async Task<RateLimitDecision> CheckAsync(RateLimitRequest r, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var l = r.Limits;
        var result = (RedisResult[])(await redis.RunAsync(db => db.ScriptEvaluateAsync(Script,
            [$"nexusrag:rl:{r.RouteClass}:key:{r.KeyId}", $"nexusrag:rl:{r.RouteClass}:tenant:{r.TenantId}"],
            [r.Cost, l.Key.Rps, l.Key.Burst, l.Tenant.Rps, l.Tenant.Burst])).ConfigureAwait(false))!;
        var allowed = (long)result[0] == 1;
        var scope = (long)result[1];
        var key = double.Parse((string)result[2]!, CultureInfo.InvariantCulture);
        var tenant = double.Parse((string)result[3]!, CultureInfo.InvariantCulture);
        var reset = TokenBucket.ResetSeconds(key, l.Key);
        return allowed
            ? new RateLimitDecision(true, null, 0, l.Key.Burst, (int)key, reset)
            : scope == 1
                ? new RateLimitDecision(false, "api_key", TokenBucket.WaitMs(key, r.Cost, l.Key), l.Key.Burst, (int)key, reset)
                : new RateLimitDecision(false, "tenant", TokenBucket.WaitMs(tenant, r.Cost, l.Tenant), l.Key.Burst, (int)key, reset);
    }
}
