using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Governance;

/// <summary>Sustained rate and burst capacity of one token bucket.</summary>
public sealed class BucketLimit
{
    [Range(0.000001, 1_000_000)] public double Rps { get; set; }
    [Range(1, 1_000_000)] public int Burst { get; set; }
}

/// <summary>The key and tenant buckets of one route class.</summary>
public sealed class RouteClassLimits
{
    public BucketLimit Key { get; set; } = new();
    public BucketLimit Tenant { get; set; } = new();
}

/// <summary>
/// Rate limiting (section <c>NexusRag:RateLimit</c>; <c>RATE_LIMIT_ENABLED</c>, <c>RL_FAIL_MODE</c>). Defaults are the
/// seed's table: run 1/5 per key, 3/15 per tenant; mutation 2/10, 5/25; read 5/20, 15/60; ops 2/10, 4/20 (rps/burst).
/// </summary>
public sealed class RateLimitOptions : IHasParseErrors
{
    public const string Section = "NexusRag:RateLimit";
    public bool Enabled { get; set; } = true;
    /// <summary><c>open</c> (default): allow when the shared store fails, with <c>X-RateLimit-Status: degraded</c>; <c>closed</c>: 503.</summary>
    public string FailMode { get; set; } = "open";
    public RouteClassLimits Run { get; set; } = Limits(1, 5, 3, 15);
    public RouteClassLimits Mutation { get; set; } = Limits(2, 10, 5, 25);
    public RouteClassLimits Read { get; set; } = Limits(5, 20, 15, 60);
    public RouteClassLimits Ops { get; set; } = Limits(2, 10, 4, 20);
    public List<string> ParseErrors { get; } = [];

    public RouteClassLimits For(string routeClass) => routeClass switch
    {
        RouteClasses.Run => Run, RouteClasses.Mutation => Mutation, RouteClasses.Ops => Ops, _ => Read,
    };

    private static RouteClassLimits Limits(double keyRps, int keyBurst, double tenantRps, int tenantBurst) => new()
    {
        Key = new BucketLimit { Rps = keyRps, Burst = keyBurst }, Tenant = new BucketLimit { Rps = tenantRps, Burst = tenantBurst },
    };
}

/// <summary>The seed's route classes; each endpoint declares its own (POST /run; writes; ops and audit; reads, search included).</summary>
public static class RouteClasses
{
    public const string Run = "run";
    public const string Mutation = "mutation";
    public const string Read = "read";
    public const string Ops = "ops";

}

public sealed record RateLimitRequest(string TenantId, string KeyId, string RouteClass, RouteClassLimits Limits, int Cost = 1);

/// <summary>
/// The decision for one request. <see cref="Scope"/> names the bucket that refused (<c>api_key</c> or <c>tenant</c>);
/// <see cref="Remaining"/> / <see cref="ResetSeconds"/> describe the key bucket (for X-RateLimit-* headers).
/// </summary>
public sealed record RateLimitDecision(bool Allowed, string? Scope, long RetryAfterMs, int Limit, int Remaining, long ResetSeconds);

/// <summary>Token buckets per API key and per tenant; a request passes only when both have capacity, and then takes from both.</summary>
public interface IRateLimiter
{
    Task<RateLimitDecision> CheckAsync(RateLimitRequest request, CancellationToken ct);
}

/// <summary>The token-bucket arithmetic shared by the in-process limiter (and mirrored by the Redis script).</summary>
public static class TokenBucket
{
    /// <summary>Tokens after refilling from <paramref name="lastMs"/> to <paramref name="nowMs"/>, capped at the burst.</summary>
    public static double Refill(double tokens, long lastMs, long nowMs, BucketLimit limit) =>
        Math.Min(limit.Burst, tokens + Math.Max(0, nowMs - lastMs) * limit.Rps / 1000.0);

    /// <summary>Milliseconds until <paramref name="cost"/> tokens are available.</summary>
    public static long WaitMs(double tokens, int cost, BucketLimit limit) =>
        tokens >= cost ? 0 : (long)Math.Ceiling((cost - tokens) * 1000.0 / limit.Rps);

    /// <summary>Seconds until the bucket is full again.</summary>
    public static long ResetSeconds(double tokens, BucketLimit limit) => (long)Math.Ceiling((limit.Burst - tokens) / limit.Rps);
}
