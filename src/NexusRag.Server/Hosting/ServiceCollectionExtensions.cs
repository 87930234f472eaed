using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using NexusRag.Core.Bootstrap;
using NexusRag.Core.Ingestion;
using NexusRag.Core.Pagination;
using NexusRag.Core.Ports;
using NexusRag.Core.Services;
using NexusRag.Server.Http;
using NexusRag.Server.Workers;

namespace NexusRag.Server.Hosting;

public static class ServiceCollectionExtensions
{
    /// <summary>Options, application services and the ingestion pipeline shared by every host role.</summary>
    public static IServiceCollection AddNexusRagCore(this IServiceCollection services, IConfiguration config)
    {
        services.AddSingleton<IConfigureOptions<NexusRagOptions>, NexusRagOptionsSetup>();
        services.AddSingleton<IValidateOptions<NexusRagOptions>, NexusRagOptionsValidator>();
        services.AddOptions<NexusRagOptions>().ValidateOnStart();

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

        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ServiceInfo>();
        services.AddSingleton(sp => new CursorCodec(sp.GetRequiredService<IOptions<NexusRagOptions>>().Value.CursorSecret));

        // Ingestion pipeline: extract → chunk → write. Later registrations of an extractor win per media type.
        services.AddSingleton<IContentExtractor, PlainTextExtractor>();
        services.AddSingleton<IContentExtractor, JsonTextExtractor>();
        services.AddSingleton<ContentExtractorRegistry>();
        services.AddSingleton<IChunker, SlidingWindowChunker>();
        services.AddSingleton<IJobSignal, InProcessJobSignal>();
        services.AddSingleton<IngestionProcessor>();

        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<DocumentService>();
        services.AddSingleton<DemoSeeder>();
        return services;
    }

    public static IServiceCollection AddNexusRagHttp(this IServiceCollection services)
    {
        services.Configure<JsonOptions>(o => ApiJson.Configure(o.SerializerOptions));
        services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "NexusRAG API";
            doc.Info.Description = "Multi-tenant retrieval-augmented generation platform.";
            return Task.CompletedTask;
        }));
        return services;
    }

    public static IServiceCollection AddIngestionWorker(this IServiceCollection services)
    {
        services.AddHostedService<IngestionWorker>();
        return services;
    }
}
