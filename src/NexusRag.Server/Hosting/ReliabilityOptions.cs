using Microsoft.Extensions.Options;
using NexusRag.Core;

namespace NexusRag.Server.Hosting;

/// <summary>
/// Overload and shutdown controls (section <c>NexusRag:Reliability</c>; flat names override): the bulkheads
/// <c>RUN_MAX_CONCURRENCY</c> (answer streams open at once on this replica) and <c>INGEST_API_MAX_CONCURRENCY</c>
/// (ingestion requests in flight; the worker side is <c>INGEST_MAX_CONCURRENCY</c> job loops), <c>SHUTDOWN_GRACE_S</c>
/// and <c>WORKER_HEARTBEAT_STALE_S</c>.
/// </summary>
public sealed class ReliabilityOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Reliability";

    public int RunMaxConcurrency { get; set; } = 100;
    public int IngestApiMaxConcurrency { get; set; } = 32;
    /// <summary>Seconds a refused caller is told to wait (<c>Retry-After</c>).</summary>
    public int BusyRetryAfterSeconds { get; set; } = 1;
    /// <summary>On SIGTERM, open answer streams may run this long before they are ended with an error event.</summary>
    public int ShutdownGraceSeconds { get; set; } = 20;
    /// <summary>A worker heartbeat older than this makes <c>/v1/ops/health</c> degraded.</summary>
    public int WorkerHeartbeatStaleSeconds { get; set; } = 30;

    public List<string> ParseErrors { get; } = [];

    /// <summary>Workers beat three times per stale period (at least every second, at most every 10 s).</summary>
    public TimeSpan HeartbeatInterval => TimeSpan.FromSeconds(Math.Clamp(WorkerHeartbeatStaleSeconds / 3.0, 1, 10));
}

internal sealed class ReliabilityOptionsSetup(IConfiguration config) : IConfigureOptions<ReliabilityOptions>
{
    public void Configure(ReliabilityOptions o)
    {
        config.GetSection(ReliabilityOptions.Section).Bind(o);
        FlatSettings.Int(config, "RUN_MAX_CONCURRENCY", v => o.RunMaxConcurrency = v, o.ParseErrors);
        FlatSettings.Int(config, "INGEST_API_MAX_CONCURRENCY", v => o.IngestApiMaxConcurrency = v, o.ParseErrors);
        FlatSettings.Int(config, "SHUTDOWN_GRACE_S", v => o.ShutdownGraceSeconds = v, o.ParseErrors);
        FlatSettings.Int(config, "WORKER_HEARTBEAT_STALE_S", v => o.WorkerHeartbeatStaleSeconds = v, o.ParseErrors);
    }
}

internal sealed class ReliabilityOptionsValidator : IValidateOptions<ReliabilityOptions>
{
    public ValidateOptionsResult Validate(string? name, ReliabilityOptions o)
    {
        var errors = new List<string>(o.ParseErrors);
        if (o.RunMaxConcurrency is < 1 or > 100_000) errors.Add($"RUN_MAX_CONCURRENCY must be between 1 and 100000, got {o.RunMaxConcurrency}");
        if (o.IngestApiMaxConcurrency is < 1 or > 100_000) errors.Add($"INGEST_API_MAX_CONCURRENCY must be between 1 and 100000, got {o.IngestApiMaxConcurrency}");
        if (o.BusyRetryAfterSeconds is < 1 or > 3600) errors.Add($"NexusRag:Reliability:BusyRetryAfterSeconds must be between 1 and 3600, got {o.BusyRetryAfterSeconds}");
        if (o.ShutdownGraceSeconds is < 0 or > 3600) errors.Add($"SHUTDOWN_GRACE_S must be between 0 and 3600, got {o.ShutdownGraceSeconds}");
        if (o.WorkerHeartbeatStaleSeconds is < 2 or > 86_400) errors.Add($"WORKER_HEARTBEAT_STALE_S must be between 2 and 86400, got {o.WorkerHeartbeatStaleSeconds}");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
