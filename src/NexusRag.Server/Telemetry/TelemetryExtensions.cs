using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using NexusRag.Core.Errors;
using NexusRag.Core.Observability;
using NexusRag.Server.Hosting;
using NexusRag.Server.Http;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace NexusRag.Server.Telemetry;

/// <summary>Endpoint metadata: the Prometheus scrape endpoint (public, or behind <c>METRICS_TOKEN</c>).</summary>
public sealed record MetricsScrape;

/// <summary>
/// Telemetry in one place, as eShop's ServiceDefaults: OpenTelemetry metrics (our meter, ASP.NET Core's Kestrel and
/// connection meters, Npgsql's pool, Microsoft.Extensions.AI's gen-ai calls, the .NET runtime) exposed to Prometheus and,
/// with <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, pushed over OTLP; traces (HTTP in and out, EF Core, our spans, embedding and
/// chat calls) sampled by <see cref="ParentOrRatioSampler"/> with every error kept; JSON log lines.
/// </summary>
public static class TelemetryExtensions
{
    /// <summary>The Microsoft.Extensions.AI OpenTelemetry source and meter (<c>UseOpenTelemetry()</c>'s default name).</summary>
    public const string GenAiSource = "Experimental.Microsoft.Extensions.AI";

    public static WebApplicationBuilder AddNexusRagTelemetry(this WebApplicationBuilder builder)
    {
        var config = builder.Configuration;
        var o = TelemetryOptions.Read(config);
        builder.Services.AddSingleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>();
        builder.Services.AddOptions<TelemetryOptions>().Configure(t => TelemetryOptions.Apply(config, t)).ValidateOnStart();
        builder.Services.AddSingleton<SloTracker>();

        var isProd = (config["NEXUSRAG_ENV"] ?? config["NexusRag:Env"] ?? "local").Trim().Equals("prod", StringComparison.OrdinalIgnoreCase);
        var release = typeof(TelemetryExtensions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        if (o.JsonLogs(isProd))
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddConsole(c => c.FormatterName = JsonLogFormatter.Name);
            builder.Logging.AddConsoleFormatter<JsonLogFormatter, JsonLogFormatterOptions>(f =>
            {
                f.Service = o.ServiceName;
                f.Release = release;
            });
        }

        if (o.SdkDisabled) return builder;
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(o.ServiceName, serviceVersion: release, serviceInstanceId: $"{Environment.MachineName}-{Environment.ProcessId}"));
        otel.WithMetrics(m =>
        {
            // (Not Polly's meter: its durations are in milliseconds, which Prometheus naming rejects; breaker state is our own gauge.)
            m.AddMeter(NexusInstrumentation.Name, "Microsoft.AspNetCore.Server.Kestrel", "Npgsql", GenAiSource);
            m.AddRuntimeInstrumentation();
            // Prometheus reserves the _count suffix for histograms and summaries (promtool lints these three runtime names).
            m.AddView("dotnet.assembly.count", "dotnet.assemblies.loaded");
            m.AddView("dotnet.process.cpu.count", "dotnet.process.cpus");
            m.AddView("dotnet.timer.count", "dotnet.timers.active");
            m.AddView("db.client.connection.count", "db.client.connections.usage"); // Npgsql's pool, same rule
            if (o.MetricsEnabled) m.AddPrometheusExporter();
            if (o.OtlpEndpoint is not null) m.AddOtlpExporter();
        });
        otel.WithTracing(t =>
        {
            t.SetSampler(new ParentOrRatioSampler(o.TraceSampleRatio));
            t.AddSource(NexusInstrumentation.Name, GenAiSource);
            t.AddAspNetCoreInstrumentation(a => a.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/v1/metrics"));
            t.AddHttpClientInstrumentation();
            t.AddEntityFrameworkCoreInstrumentation();
            t.AddProcessor(new KeepErrorsProcessor()); // before the exporter's processor: it sees the promoted flag
            if (o.OtlpEndpoint is not null) t.AddOtlpExporter();
        });
        return builder;
    }

    /// <summary>The request measurement and log scope (first in the pipeline, after the request id).</summary>
    public static IApplicationBuilder UseNexusRagRequestTelemetry(this IApplicationBuilder app) =>
        app.UseMiddleware<RequestTelemetryMiddleware>();

    /// <summary>Puts the authenticated tenant on the request's log scope (after authentication).</summary>
    public static IApplicationBuilder UseTenantLogScope(this IApplicationBuilder app) =>
        app.Use((ctx, next) =>
        {
            if (ctx.TryGetPrincipal() is { } p) RequestTelemetryMiddleware.SetTenant(ctx, p.TenantId);
            return next(ctx);
        });

    /// <summary><c>GET /v1/metrics</c>: the Prometheus text exposition (when <c>METRICS_ENABLED</c>), public unless <c>METRICS_TOKEN</c> is set.</summary>
    public static IEndpointRouteBuilder MapMetricsEndpoint(this IEndpointRouteBuilder app)
    {
        var o = app.ServiceProvider.GetRequiredService<IOptions<TelemetryOptions>>().Value;
        if (o.MetricsEnabled)
            app.MapPrometheusScrapingEndpoint("/v1/metrics").AllowPublic().WithMetadata(new MetricsScrape()).WithTags("Ops");
        return app;
    }

    /// <summary>Checks <c>METRICS_TOKEN</c> on the scrape endpoint (after routing).</summary>
    public static IApplicationBuilder UseMetricsToken(this IApplicationBuilder app)
    {
        var token = app.ApplicationServices.GetRequiredService<IOptions<TelemetryOptions>>().Value.MetricsToken;
        if (token is null) return app;
        var expected = System.Text.Encoding.UTF8.GetBytes("Bearer " + token);
        return app.Use((ctx, next) =>
        {
            if (ctx.GetEndpoint()?.Metadata.GetMetadata<MetricsScrape>() is not null
                && !System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(ctx.Request.Headers.Authorization.ToString()), expected))
                throw new NexusException(ErrorKind.Unauthorized, ErrorCodes.Unauthorized, "The metrics endpoint needs its bearer token (METRICS_TOKEN)");
            return next(ctx);
        });
    }
}
