using System.Diagnostics.Metrics;
using NexusRag.Core.Observability;
using NexusRag.Core.Documents;
using NexusRag.Core.Ports;
using NexusRag.Search;
using NexusRag.Server.Hosting;
using NexusRag.Server.Http;

namespace NexusRag.Server.Ops;

/// <summary>
/// Reads the store-backed gauges (jobs by state, queue depth, change-log head) every few seconds so that a scrape never
/// touches the database; publishes them with the in-process ones (index sizes by bucket, replication lag, breaker states,
/// bulkhead use) as observable instruments of the <c>NexusRag</c> meter.
/// </summary>
public sealed class OpsSampler : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);
    private static readonly (string Name, int Max)[] SizeBuckets = [("lt_1k", 1_000), ("1k_10k", 10_000), ("10k_100k", 100_000), ("100k_1m", 1_000_000), ("ge_1m", int.MaxValue)];

    private readonly IOpsStore _ops;
    private readonly IChunkChangeFeed _feed;
    private readonly HybridSearchIndex? _index;
    private readonly ILogger<OpsSampler> _logger;
    private volatile IReadOnlyDictionary<string, long> _jobs = new Dictionary<string, long>();
    private long _queueDepth = -1;
    private long _headSeq = -1;

    public OpsSampler(IOpsStore ops, IChunkChangeFeed feed, NexusInstrumentation telemetry, CircuitBreakerBoard breakers, Bulkheads bulkheads,
        RoleInfo role, IServiceProvider services, ILogger<OpsSampler> logger)
    {
        _ops = ops;
        _feed = feed;
        _logger = logger;
        _index = role.Role.ServesApi() ? services.GetService<HybridSearchIndex>() : null;
        var meter = telemetry.Meter;
        meter.CreateObservableGauge("nexusrag.jobs", () => _jobs.Select(kv => new Measurement<long>(kv.Value, new KeyValuePair<string, object?>("state", kv.Key))),
            description: "Background jobs by state (sampled every 2 s)");
        meter.CreateObservableGauge("nexusrag.ingestion.queue.depth", () => Interlocked.Read(ref _queueDepth) is var d and >= 0 ? [new Measurement<long>(d)] : Array.Empty<Measurement<long>>(),
            description: "Jobs waiting to run (sampled every 2 s)");
        meter.CreateObservableGauge("nexusrag.circuit_breaker.state", () => breakers.States().Select(kv =>
                new Measurement<int>(BreakerStates.Level(kv.Value), new KeyValuePair<string, object?>("integration", kv.Key))),
            description: "Circuit breaker per integration: 0 closed, 1 half-open, 2 open or held open");
        meter.CreateObservableGauge("nexusrag.bulkhead.in_use", () => new[] { Bulkhead.Run, Bulkhead.Ingest }.Select(b =>
            new Measurement<int>(bulkheads.InUse(b), new KeyValuePair<string, object?>("bulkhead", b))), description: "Bulkhead slots in use");
        meter.CreateObservableGauge("nexusrag.bulkhead.limit", () => new[] { Bulkhead.Run, Bulkhead.Ingest }.Select(b =>
            new Measurement<int>(bulkheads.Limit(b), new KeyValuePair<string, object?>("bulkhead", b))), description: "Bulkhead slots");
        if (_index is { } index)
        {
            meter.CreateObservableGauge("nexusrag.search.replication.lag", () => Interlocked.Read(ref _headSeq) is var head and >= 0
                    ? [new Measurement<long>(Math.Max(0, head - index.AppliedSeq))] : Array.Empty<Measurement<long>>(),
                description: "Change-log entries committed but not yet applied to this replica's index");
            meter.CreateObservableGauge("nexusrag.search.index.chunks", () => index.Stats().Values.Sum(s => (long)s.Chunks),
                description: "Chunks in this replica's search index");
            meter.CreateObservableGauge("nexusrag.search.index.corpora", () => IndexBuckets(index),
                description: "Corpus index versions in this replica's index, by size bucket (chunks)");
        }
    }

    private static IEnumerable<Measurement<int>> IndexBuckets(HybridSearchIndex index)
    {
        var counts = new int[SizeBuckets.Length];
        foreach (var s in index.Stats().Values)
            counts[Array.FindIndex(SizeBuckets, b => s.Chunks < b.Max)]++;
        return SizeBuckets.Select((b, i) => new Measurement<int>(counts[i], new KeyValuePair<string, object?>("size_bucket", b.Name)));
    }

    /// <summary>The last sampled queue depth (all tenants), or null when the store could not be read.</summary>
    public long? QueueDepth => Interlocked.Read(ref _queueDepth) is var d and >= 0 ? d : null;

    public IReadOnlyDictionary<string, long> Jobs => _jobs;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                _jobs = await _ops.JobsByStatusAsync(stoppingToken).ConfigureAwait(false);
                Interlocked.Exchange(ref _queueDepth, _jobs.GetValueOrDefault(Core.Jobs.JobStatus.Queued));
                if (_index is not null) Interlocked.Exchange(ref _headSeq, await _feed.MaxSeqAsync(stoppingToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception ex)
            {
                Interlocked.Exchange(ref _queueDepth, -1);
                _logger.LogDebug("Ops sampler: store unavailable ({Error})", ex.GetBaseException().Message);
            }
            try { await Task.Delay(Interval, stoppingToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }
}
