using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using NexusRag.Core.Bootstrap;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Ports;
using NexusRag.Core.Services;

namespace NexusRag.Core;

public static class CoreServiceCollectionExtensions
{
    /// <summary>Application services and the ingestion pipeline (extract → chunk → write), shared by the server and the CLI.</summary>
    public static IServiceCollection AddNexusRagApplication(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<IngestionOptions>()
            .Bind(config.GetSection(IngestionOptions.Section))
            .Configure(o =>
            {
                if (int.TryParse(config["INGEST_MAX_CONCURRENCY"], out var n)) o.WorkerConcurrency = n;
            })
            .ValidateDataAnnotations()
            .Validate(o => o.DefaultChunkOverlapChars < o.DefaultChunkSizeChars, "DefaultChunkOverlapChars must be less than DefaultChunkSizeChars")
            .Validate(o => o.DefaultChunkSizeChars <= o.MaxChunkSizeChars, "DefaultChunkSizeChars must not exceed MaxChunkSizeChars")
            .ValidateOnStart();

        services.AddOptions<Chat.RunOptions>()
            .Bind(config.GetSection(Chat.RunOptions.Section))
            .Configure(o =>
            {
                if (config["RUN_SSE_HEARTBEAT_S"] is { Length: > 0 } hb)
                {
                    if (double.TryParse(hb, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s)) o.HeartbeatSeconds = s;
                    else o.ParseErrors.Add($"RUN_SSE_HEARTBEAT_S must be a number of seconds, got '{hb}'");
                }
                if (config["RUN_HISTORY_TURNS"] is { Length: > 0 } turns)
                {
                    if (int.TryParse(turns, out var n)) o.HistoryTurns = n;
                    else o.ParseErrors.Add($"RUN_HISTORY_TURNS must be an integer, got '{turns}'");
                }
                if (config["DEBUG_EVENTS"] is { Length: > 0 } debug)
                {
                    if (bool.TryParse(debug, out var b)) o.DebugEvents = b;
                    else if (debug is "1" or "0") o.DebugEvents = debug == "1";
                    else o.ParseErrors.Add($"DEBUG_EVENTS must be true or false, got '{debug}'");
                }
            })
            .ValidateDataAnnotations()
            .Validate(o => o.ParseErrors.Count == 0, "invalid /v1/run settings (RUN_SSE_HEARTBEAT_S, RUN_HISTORY_TURNS, DEBUG_EVENTS)")
            .ValidateOnStart();

        services.AddOptions<Governance.RateLimitOptions>()
            .Bind(config.GetSection(Governance.RateLimitOptions.Section))
            .Configure(o =>
            {
                if (config["RATE_LIMIT_ENABLED"] is { Length: > 0 } enabled)
                {
                    if (bool.TryParse(enabled, out var b)) o.Enabled = b;
                    else o.ParseErrors.Add($"RATE_LIMIT_ENABLED must be true or false, got '{enabled}'");
                }
                if (config["RL_FAIL_MODE"] is { Length: > 0 } mode) o.FailMode = mode.Trim().ToLowerInvariant();
            })
            .Validate(o => o.ParseErrors.Count == 0, "RATE_LIMIT_ENABLED must be true or false")
            .Validate(o => o.FailMode is "open" or "closed", "RL_FAIL_MODE must be open or closed")
            .Validate(o => new[] { o.Run, o.Mutation, o.Read, o.Ops }.All(c => c.Key.Rps > 0 && c.Key.Burst >= 1 && c.Tenant.Rps > 0 && c.Tenant.Burst >= 1),
                "rate limits need rps > 0 and burst >= 1")
            .ValidateOnStart();

        services.TryAddSingleton(TimeProvider.System);

        // Ingestion pipeline: extract → chunk → embed → write (the embedder comes from AddNexusRagEmbeddings). Later registrations of an extractor win per media type.
        services.AddSingleton<IContentExtractor, PlainTextExtractor>();
        services.AddSingleton<IContentExtractor, JsonTextExtractor>();
        services.AddSingleton<ContentExtractorRegistry>();
        services.AddSingleton<IChunker, SlidingWindowChunker>();
        services.AddSingleton<IJobSignal, InProcessJobSignal>();
        services.AddSingleton<IngestionProcessor>();
        services.AddSingleton<Search.SearchService>();
        services.AddSingleton<Chat.RunService>();
        services.AddSingleton<Governance.RolloutGate>();
        services.AddSingleton<Governance.QuotaLimitsProvider>();
        services.AddSingleton<Governance.Entitlements>();
        services.AddOptions<Governance.PlanOptions>()
            .Configure(o => { if (config["DEFAULT_PLAN"] is { Length: > 0 } plan) o.DefaultPlan = plan.Trim().ToLowerInvariant(); })
            .Validate(o => Governance.Plans.All.Contains(o.DefaultPlan), "DEFAULT_PLAN must be free, pro or enterprise")
            .ValidateOnStart();

        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<DocumentService>();
        services.AddSingleton<DemoSeeder>();
        return services;
    }
}
