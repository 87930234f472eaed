using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Pagination;
using NexusRag.Search;
using NexusRag.Server.Http;
using NexusRag.Server.Workers;
using NexusRag.Storage;

namespace NexusRag.Server.Hosting;

public static class ServiceCollectionExtensions
{
    /// <summary>Options, application services and the ingestion pipeline shared by every host role.</summary>
    public static IServiceCollection AddNexusRagCore(this IServiceCollection services, IConfiguration config, ServerRole role = ServerRole.All)
    {
        services.AddSingleton(new RoleInfo(role));
        services.AddSingleton<IConfigureOptions<NexusRagOptions>, NexusRagOptionsSetup>();
        services.AddSingleton<IValidateOptions<NexusRagOptions>, NexusRagOptionsValidator>();
        services.AddOptions<NexusRagOptions>().ValidateOnStart();

        services.AddNexusRagApplication(config);
        services.AddSingleton<ServiceInfo>();
        services.AddSingleton<Ops.HealthState>();
        services.AddNexusRagReliability();
        services.AddSingleton(sp => new CursorCodec(sp.GetRequiredService<IOptions<NexusRagOptions>>().Value.CursorSecret));
        return services;
    }

    /// <summary>Bulkheads, graceful shutdown, the ops health checks and the sampler of store-backed gauges.</summary>
    public static IServiceCollection AddNexusRagReliability(this IServiceCollection services)
    {
        services.AddSingleton<IConfigureOptions<ReliabilityOptions>, ReliabilityOptionsSetup>();
        services.AddSingleton<IValidateOptions<ReliabilityOptions>, ReliabilityOptionsValidator>();
        services.AddOptions<ReliabilityOptions>().ValidateOnStart();
        services.AddSingleton<Bulkheads>();
        services.AddSingleton<ShutdownCoordinator>();
        // The host waits for open streams through the grace period, then a little longer for their closing events.
        // (Read unvalidated: the host builds its options before the start-up validation can report a bad value in one line.)
        services.AddOptions<HostOptions>().Configure<IConfiguration>((h, config) =>
        {
            var raw = new ReliabilityOptions();
            new ReliabilityOptionsSetup(config).Configure(raw);
            h.ShutdownTimeout = TimeSpan.FromSeconds(Math.Clamp(raw.ShutdownGraceSeconds, 0, 3600) + 5);
        });
        services.AddHealthChecks()
            .AddCheck<Ops.DatabaseHealthCheck>("database", tags: ["ops"])
            .AddCheck<Ops.RedisHealthCheck>("redis", tags: ["ops"])
            .AddCheck<Ops.WorkerHeartbeatHealthCheck>("worker", tags: ["ops"])
            .AddCheck<Ops.IndexHealthCheck>("index", tags: ["ops"])
            .AddCheck<Ops.CircuitBreakerHealthCheck>("circuit_breakers", tags: ["ops"]);
        services.AddSingleton<Ops.OpsSampler>();
        services.AddHostedService(sp => sp.GetRequiredService<Ops.OpsSampler>());
        return services;
    }

    public static IServiceCollection AddNexusRagHttp(this IServiceCollection services)
    {
        services.Configure<JsonOptions>(o => ApiJson.Configure(o.SerializerOptions));
        services.AddSingleton<Core.Backups.IMaintenanceTask, Ops.RestoreDrillTask>();
        services.AddSingleton<RequestCharges>();
        services.AddOpenApi("v1", o => o.AddDocumentTransformer((doc, _, _) =>
        {
            doc.Info.Title = "NexusRAG API";
            doc.Info.Description = "Multi-tenant retrieval-augmented generation platform.";
            return Task.CompletedTask;
        }));
        return services;
    }

    /// <summary>The hybrid index, following the store's change log, with its snapshot under the data directory.</summary>
    public static IServiceCollection AddSearchIndex(this IServiceCollection services, IConfiguration config, bool followChanges = true) =>
        services.AddHybridSearchIndex(config, sp => sp.GetRequiredService<IOptions<StorageOptions>>().Value.IndexSnapshotPath(), followChanges);

    /// <summary>The worker role: the job runner (one handler per job kind) and the outbox dispatcher.</summary>
    public static IServiceCollection AddWorkers(this IServiceCollection services)
    {
        services.AddHostedService<JobWorker>();
        services.AddHostedService<OutboxWorker>();
        services.AddHostedService<IndexVersionJanitor>();
        services.AddHostedService<MaintenanceSchedulerWorker>();
        services.AddHostedService<CryptoKeyWorker>();
        return services;
    }
}
