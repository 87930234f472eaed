using Microsoft.Extensions.Options;
using NexusRag.Core;

namespace NexusRag.Server.Telemetry;

/// <summary>
/// Metrics, traces and logs (section <c>NexusRag:Telemetry</c>; the flat names override): <c>METRICS_ENABLED</c>,
/// <c>METRICS_TOKEN</c>, <c>OTEL_TRACES_SAMPLER_ARG</c>, <c>OTEL_SERVICE_NAME</c>, <c>LOG_FORMAT</c>, <c>ACCESS_LOG_ENABLED</c>,
/// <c>SLO_AVAILABILITY_TARGET</c>. OTLP export follows the standard <c>OTEL_EXPORTER_OTLP_*</c> variables.
/// </summary>
public sealed class TelemetryOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Telemetry";
    public static readonly string[] LogFormats = ["text", "json"];

    /// <summary><c>OTEL_SDK_DISABLED=true</c>: no OpenTelemetry at all (no metrics endpoint, no spans, no export).</summary>
    public bool SdkDisabled { get; set; }
    /// <summary>Serve the Prometheus exposition at <c>/v1/metrics</c>.</summary>
    public bool MetricsEnabled { get; set; } = true;
    /// <summary>When set, <c>/v1/metrics</c> wants <c>Authorization: Bearer &lt;token&gt;</c>.</summary>
    public string? MetricsToken { get; set; }
    /// <summary>Share of root traces kept (0..1); spans that end in error are kept regardless.</summary>
    public double TraceSampleRatio { get; set; } = 0.1;
    public string ServiceName { get; set; } = "nexusrag";
    /// <summary><c>text</c> or <c>json</c>; unset: json in <c>prod</c>, text elsewhere.</summary>
    public string? LogFormat { get; set; }
    /// <summary>One Information line per request (route template, status, duration).</summary>
    public bool AccessLog { get; set; } = true;
    /// <summary>Availability objective in percent (<c>/v1/ops/slo</c>).</summary>
    public double SloAvailabilityTarget { get; set; } = 99.9;
    /// <summary>The OTLP endpoint when set (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>): traces and metrics are exported there.</summary>
    public string? OtlpEndpoint { get; set; }

    public List<string> ParseErrors { get; } = [];

    public bool JsonLogs(bool isProd) => (LogFormat ?? (isProd ? "json" : "text")) == "json";

    public static TelemetryOptions Read(IConfiguration config)
    {
        var o = new TelemetryOptions();
        Apply(config, o);
        return o;
    }

    /// <summary>Reads the section, then the flat names, into <paramref name="o"/> (parse problems are kept for the validator).</summary>
    public static void Apply(IConfiguration config, TelemetryOptions o)
    {
        config.GetSection(Section).Bind(o);
        FlatSettings.Bool(config, "METRICS_ENABLED", v => o.MetricsEnabled = v, o.ParseErrors);
        FlatSettings.Bool(config, "OTEL_SDK_DISABLED", v => o.SdkDisabled = v, o.ParseErrors);
        if (o.SdkDisabled) o.MetricsEnabled = false;
        if (config["METRICS_TOKEN"] is { Length: > 0 } token) o.MetricsToken = token;
        FlatSettings.Double(config, "OTEL_TRACES_SAMPLER_ARG", v => o.TraceSampleRatio = v, o.ParseErrors);
        if (config["OTEL_SERVICE_NAME"] is { Length: > 0 } name) o.ServiceName = name;
        if (config["LOG_FORMAT"] is { Length: > 0 } format) o.LogFormat = format.Trim().ToLowerInvariant();
        FlatSettings.Bool(config, "ACCESS_LOG_ENABLED", v => o.AccessLog = v, o.ParseErrors);
        FlatSettings.Double(config, "SLO_AVAILABILITY_TARGET", v => o.SloAvailabilityTarget = v, o.ParseErrors);
        if (config["OTEL_EXPORTER_OTLP_ENDPOINT"] is { Length: > 0 } otlp) o.OtlpEndpoint = otlp;
    }
}

internal sealed class TelemetryOptionsValidator : IValidateOptions<TelemetryOptions>
{
    public ValidateOptionsResult Validate(string? name, TelemetryOptions o)
    {
        var errors = new List<string>(o.ParseErrors);
        if (o.TraceSampleRatio is < 0 or > 1 || double.IsNaN(o.TraceSampleRatio))
            errors.Add($"OTEL_TRACES_SAMPLER_ARG must be between 0 and 1, got {o.TraceSampleRatio}");
        if (o.LogFormat is { } f && !TelemetryOptions.LogFormats.Contains(f))
            errors.Add($"LOG_FORMAT must be one of {string.Join(", ", TelemetryOptions.LogFormats)}, got '{f}'");
        if (o.SloAvailabilityTarget is <= 0 or >= 100)
            errors.Add($"SLO_AVAILABILITY_TARGET must be a percentage between 0 and 100 (exclusive), got {o.SloAvailabilityTarget}");
        if (o.OtlpEndpoint is { } e && !(Uri.TryCreate(e, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"))
            errors.Add($"OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL, got '{e}'");
        if (o.MetricsToken is { Length: > 0 and < 16 })
            errors.Add("METRICS_TOKEN must be at least 16 characters");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
