using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace NexusRag.Core.Observability;

/// <summary>
/// The platform's own spans (<see cref="Source"/>, name <c>NexusRag</c>) and instruments (meter <c>NexusRag</c>), one
/// instance per host from <see cref="IMeterFactory"/>. Label values are bounded sets (route templates, modes, steps,
/// states, integration names): never tenant, document or key ids.
/// </summary>
public sealed class NexusInstrumentation : IDisposable
{
    public const string Name = "NexusRag";

    public ActivitySource Source { get; } = new(Name);

    public Histogram<double> HttpDuration { get; }
    public Counter<long> HttpRequests { get; }
    public Counter<long> HttpErrors { get; }
    public Histogram<double> IngestionStepDuration { get; }
    public Counter<long> ChunksWritten { get; }
    public Counter<long> JobsFinished { get; }
    public Histogram<double> SearchDuration { get; }
    public Histogram<double> RunTimeToFirstToken { get; }
    public UpDownCounter<long> RunActiveStreams { get; }
    public Counter<long> RunTokens { get; }
    public Counter<long> Rejected { get; }

    public NexusInstrumentation(IMeterFactory meters)
    {
        var meter = meters.Create(Name);
        HttpDuration = meter.CreateHistogram("http.server.request.duration", "s",
            "Duration of HTTP requests by route template, route class and status class",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        HttpRequests = meter.CreateCounter<long>("nexusrag.http.requests", description: "HTTP requests by route class and status class");
        HttpErrors = meter.CreateCounter<long>("nexusrag.http.errors", description: "HTTP requests answered with a 5xx status, by route class");
        IngestionStepDuration = meter.CreateHistogram("nexusrag.ingestion.step.duration", "s",
            "Duration of one ingestion step (extract, chunk, embed, write) for one document",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        ChunksWritten = meter.CreateCounter<long>("nexusrag.ingestion.chunks", description: "Chunks written by ingestion and index builds");
        JobsFinished = meter.CreateCounter<long>("nexusrag.jobs.finished", description: "Background jobs finished, by kind and outcome");
        SearchDuration = meter.CreateHistogram("nexusrag.search.duration", "s", "Search latency by mode",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        RunTimeToFirstToken = meter.CreateHistogram("nexusrag.run.time_to_first_token", "s", "Time from a run request to its first answer token",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        RunActiveStreams = meter.CreateUpDownCounter<long>("nexusrag.run.active_streams", description: "Answer streams open now");
        RunTokens = meter.CreateCounter<long>("nexusrag.run.tokens", description: "Answer token deltas streamed");
        Rejected = meter.CreateCounter<long>("nexusrag.bulkhead.rejected", description: "Requests refused with SERVICE_BUSY, by bulkhead");
        Meter = meter;
    }

    /// <summary>The meter, for observable instruments registered by other components.</summary>
    public Meter Meter { get; }

    /// <summary>Seconds: 1 ms … 60 s, dense where interactive latency lives.</summary>
    public static readonly IReadOnlyList<double> LatencyBuckets =
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60];

    /// <summary>Starts an internal span when someone listens (a sampled or recorded trace); null otherwise.</summary>
    public Activity? Start(string name, ActivityKind kind = ActivityKind.Internal) => Source.StartActivity(name, kind);

    /// <summary>Marks a span failed (status and the exception type; never the message, which may quote user text).</summary>
    public static void Fail(Activity? activity, Exception ex)
    {
        if (activity is null) return;
        activity.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
        activity.SetTag("error.type", ex.GetType().FullName);
    }

    /// <summary>Times one ingestion step (a span <c>ingest.&lt;step&gt;</c> and the step histogram); dispose to stop.</summary>
    public StepTimer Step(string step) => new(this, step, Start("ingest." + step));

    public void Dispose() => Source.Dispose();
}

/// <summary>One ingestion step in flight: its span and its start time.</summary>
public sealed class StepTimer(NexusInstrumentation owner, string step, Activity? activity) : IDisposable
{
    private readonly long _started = Stopwatch.GetTimestamp();

    public void Fail(Exception ex) => NexusInstrumentation.Fail(activity, ex);

    public void Dispose()
    {
        owner.IngestionStepDuration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, new KeyValuePair<string, object?>("step", step));
        activity?.Dispose();
    }
}
