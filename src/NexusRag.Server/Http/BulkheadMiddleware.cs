using Microsoft.Extensions.Options;
using NexusRag.Core.Observability;
using NexusRag.Server.Hosting;

namespace NexusRag.Server.Http;

/// <summary>Endpoint metadata: the request holds a slot of this bulkhead (<c>run</c> or <c>ingest</c>) while it runs.</summary>
public sealed record Bulkhead(string Name)
{
    public const string Run = "run";
    public const string Ingest = "ingest";
}

/// <summary>The slots of each bulkhead on this replica.</summary>
public sealed class Bulkheads(IOptions<ReliabilityOptions> options)
{
    private readonly int[] _inUse = new int[2];

    public int Limit(string name) => name == Bulkhead.Run ? options.Value.RunMaxConcurrency : options.Value.IngestApiMaxConcurrency;

    public int InUse(string name) => Volatile.Read(ref _inUse[Slot(name)]);

    private static int Slot(string name) => name == Bulkhead.Run ? 0 : 1;

    public bool TryEnter(string name)
    {
        ref var used = ref _inUse[Slot(name)];
        var limit = Limit(name);
        while (true)
        {
            var current = Volatile.Read(ref used);
            if (current >= limit) return false;
            if (Interlocked.CompareExchange(ref used, current + 1, current) == current) return true;
        }
    }

    public void Exit(string name) => Interlocked.Decrement(ref _inUse[Slot(name)]);
}

/// <summary>
/// Seed "Reliability Controls": beyond <c>RUN_MAX_CONCURRENCY</c> open answer streams or <c>INGEST_API_MAX_CONCURRENCY</c>
/// ingestion requests, a request is refused at once with 503 <c>SERVICE_BUSY</c> and <c>Retry-After</c> (no queueing
/// into timeouts). Runs after authentication, before rate limits and quotas (a refused call costs the caller nothing).
/// </summary>
public sealed class BulkheadMiddleware(RequestDelegate next, Bulkheads bulkheads, NexusInstrumentation telemetry, IOptions<ReliabilityOptions> options)
{
    public async Task InvokeAsync(HttpContext ctx)
    {
        if (ctx.GetEndpoint()?.Metadata.GetMetadata<Bulkhead>() is not { Name: var name })
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        if (!bulkheads.TryEnter(name))
        {
            telemetry.Rejected.Add(1, new KeyValuePair<string, object?>("bulkhead", name));
            ctx.Response.Headers.RetryAfter = options.Value.BusyRetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await ApiResults.WriteErrorAsync(ctx, StatusCodes.Status503ServiceUnavailable, Core.Errors.ErrorCodes.ServiceBusy,
                $"This replica is at its {name} concurrency limit ({bulkheads.Limit(name)}); retry shortly",
                new Dictionary<string, object?> { ["bulkhead"] = name, ["limit"] = bulkheads.Limit(name) }).ConfigureAwait(false);
            return;
        }
        try
        {
            await next(ctx).ConfigureAwait(false);
        }
        finally
        {
            bulkheads.Exit(name);
        }
    }
}
