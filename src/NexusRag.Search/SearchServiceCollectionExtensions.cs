using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core;
using NexusRag.Core.Search;

namespace NexusRag.Search;

public static class SearchServiceCollectionExtensions
{
    /// <summary>
    /// The in-process hybrid index (BM25 + vectors) behind <see cref="ISearchIndex"/>, following the store's change log.
    /// <paramref name="snapshotPath"/> picks where its snapshot lives (null: none).
    /// </summary>
    public static IServiceCollection AddHybridSearchIndex(this IServiceCollection services, IConfiguration config,
        Func<IServiceProvider, string?> snapshotPath, bool followInBackground = true)
    {
        services.AddOptions<SearchOptions>()
            .Bind(config.GetSection(SearchOptions.Section))
            .ValidateSettings(Core.Search.SearchOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<ITextAnalyzer, EnglishTextAnalyzer>();
        services.AddSingleton(sp => new SearchIndexLocation(snapshotPath(sp)));
        services.AddSingleton<HybridSearchIndex>();
        services.AddSingleton<ISearchIndex>(sp => sp.GetRequiredService<HybridSearchIndex>());
        if (followInBackground) services.AddHostedService<SearchIndexSyncService>();
        return services;
    }
}
