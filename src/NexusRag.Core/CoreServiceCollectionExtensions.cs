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

        services.TryAddSingleton(TimeProvider.System);

        // Ingestion pipeline: extract → chunk → embed → write (the embedder comes from AddNexusRagEmbeddings). Later registrations of an extractor win per media type.
        services.AddSingleton<IContentExtractor, PlainTextExtractor>();
        services.AddSingleton<IContentExtractor, JsonTextExtractor>();
        services.AddSingleton<ContentExtractorRegistry>();
        services.AddSingleton<IChunker, SlidingWindowChunker>();
        services.AddSingleton<IJobSignal, InProcessJobSignal>();
        services.AddSingleton<IngestionProcessor>();
        services.AddSingleton<Search.SearchService>();

        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<DocumentService>();
        services.AddSingleton<DemoSeeder>();
        return services;
    }
}
