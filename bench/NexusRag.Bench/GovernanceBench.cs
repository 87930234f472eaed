using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using NexusRag.Core.Governance;
using NexusRag.Storage.Redis;

/// <summary>
/// Cost of one governance decision, measured directly (HTTP-level differences drown in noise on 2 cores):
/// rate-limit check and idempotency claim, in-process and through Redis (one script round trip each).
/// </summary>
static class GovernanceBench
{
    public static async Task RunAsync(string[] args)
    {
        string? Val(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        var redisUrl = Val("--redis-url");
        var n = int.Parse(Val("--n") ?? "20000");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores; {n} sequential decisions each");
        var limits = new RouteClassLimits { Key = new BucketLimit { Rps = 1e6, Burst = 1_000_000 }, Tenant = new BucketLimit { Rps = 1e6, Burst = 1_000_000 } };
        await Measure("rate limit, in-process", n, i => new InProcessRateLimiter(TimeProvider.System) is var l ? Once(l) : Task.CompletedTask);
        var inproc = new InProcessRateLimiter(TimeProvider.System);
        await Measure("rate limit, in-process (warm)", n, i => inproc.CheckAsync(new RateLimitRequest("t", $"k{i % 50}", "read", limits), default));
        var idem = new InProcessIdempotencyStore(TimeProvider.System);
        await Measure("idempotency claim + complete, in-process", n, async i =>
        {
            await idem.TryBeginAsync($"t:{i}", "h", TimeSpan.FromMinutes(1), default);
            await idem.CompleteAsync($"t:{i}", "h", new StoredResponse(201, "application/json", new byte[300]), TimeSpan.FromHours(1), default);
        });
        if (redisUrl is null) return;
        var conn = new RedisConnection(RedisUrl.Parse(redisUrl), NullLogger<RedisConnection>.Instance);
        var redis = new RedisRateLimiter(conn);
        await Measure("rate limit, Redis script", n / 4, i => redis.CheckAsync(new RateLimitRequest("t", $"k{i % 50}", "read", limits), default));
        var ridem = new RedisIdempotencyStore(conn);
        var run = Guid.NewGuid().ToString("N")[..8];
        await Measure("idempotency claim + complete, Redis", n / 4, async i =>
        {
            await ridem.TryBeginAsync($"bench:{run}:{i}", "h", TimeSpan.FromMinutes(1), default);
            await ridem.CompleteAsync($"bench:{run}:{i}", "h", new StoredResponse(201, "application/json", new byte[300]), TimeSpan.FromMinutes(1), default);
        });

        static Task Once(IRateLimiter l) => l.CheckAsync(new RateLimitRequest("t", "k", "read",
            new RouteClassLimits { Key = new BucketLimit { Rps = 1, Burst = 5 }, Tenant = new BucketLimit { Rps = 1, Burst = 5 } }), default);
    }

    private static async Task Measure(string label, int n, Func<int, Task> op)
    {
        for (var i = 0; i < Math.Min(1000, n); i++) await op(-i - 1); // warm-up
        var lat = new double[n];
        var wall = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            var t = Stopwatch.GetTimestamp();
            await op(i);
            lat[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
        }
        Array.Sort(lat);
        Console.WriteLine($"  {label}: p50 {lat[n / 2]:F1} µs, p95 {lat[(int)(n * 0.95)]:F1} µs, {n / wall.Elapsed.TotalSeconds:F0}/s");
    }
}
