using System.Diagnostics;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace NexusRag.Server.Telemetry;

/// <summary>
/// Seed 003 §6: a caller's W3C sampling decision is honoured; root traces are kept at <c>OTEL_TRACES_SAMPLER_ARG</c>
/// (by trace id, so every span of a trace agrees). The root span of the rest is still recorded (not exported) so that
/// <see cref="KeepErrorsProcessor"/> can keep every request or job that ends in error; its children are not created.
/// </summary>
public sealed class ParentOrRatioSampler(double ratio) : Sampler
{
    private readonly TraceIdRatioBasedSampler _ratio = new(double.IsNaN(ratio) ? 0 : Math.Clamp(ratio, 0, 1)); // out of range is refused at start-up

    public override SamplingResult ShouldSample(in SamplingParameters p)
    {
        if (p.ParentContext.TraceId != default)
        {
            if ((p.ParentContext.TraceFlags & ActivityTraceFlags.Recorded) != 0) return new SamplingResult(SamplingDecision.RecordAndSample);
            // A caller's unsampled request: its server span is recorded (kept if it fails). Below an unsampled span of
            // ours, nothing is created at all: that is what keeps unsampled traffic cheap.
            return new SamplingResult(p.ParentContext.IsRemote ? SamplingDecision.RecordOnly : SamplingDecision.Drop);
        }
        return _ratio.ShouldSample(p).Decision == SamplingDecision.RecordAndSample
            ? new SamplingResult(SamplingDecision.RecordAndSample)
            : new SamplingResult(SamplingDecision.RecordOnly);
    }
}

/// <summary>Every span that ends in error (status Error, or a 5xx answer) is exported whatever the sampling said.</summary>
public sealed class KeepErrorsProcessor : BaseProcessor<Activity>
{
    public override void OnEnd(Activity activity)
    {
        if (activity.Recorded) return;
        var failed = activity.Status == ActivityStatusCode.Error
                     || activity.GetTagItem("http.response.status_code") is int status && status >= 500;
        if (failed) activity.ActivityTraceFlags |= ActivityTraceFlags.Recorded;
    }
}
