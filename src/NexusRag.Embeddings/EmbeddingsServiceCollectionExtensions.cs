using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Embeddings;
using OpenAI;
using Polly;

namespace NexusRag.Embeddings;

public static class EmbeddingsServiceCollectionExtensions
{
    public const string HttpClientName = "nexusrag-embeddings";

    /// <summary>Spans and gen-ai metrics (<c>Microsoft.Extensions.AI</c>'s OpenTelemetry decorator) around every embedding call; no texts are recorded.</summary>
    public static IEmbeddingGenerator<string, Embedding<float>> Instrumented(IEmbeddingGenerator<string, Embedding<float>> generator) =>
        generator.AsBuilder().UseOpenTelemetry().Build();

    /// <summary>
    /// Registers the configured <see cref="IEmbeddingGenerator{TInput,TEmbedding}"/>: local (default: a built-in model), hash, openai, onnx, or
    /// the sha256 baseline. Options are validated at startup, so a bad provider configuration refuses to start.
    /// </summary>
    public static IServiceCollection AddNexusRagEmbeddings(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<EmbeddingOptions>()
            .Bind(config.GetSection(EmbeddingOptions.Section))
            .Configure(o => ApplyFlatNames(o, config))
            .ValidateSettings(EmbeddingOptions.Section)
            .Validate(o => EmbeddingOptions.Providers.Contains(o.Provider),
                $"EMBEDDINGS_PROVIDER must be one of: {string.Join(", ", EmbeddingOptions.Providers)}")
            .Validate(o => o.Provider != "openai" || (Uri.TryCreate(o.BaseUrl, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"),
                "EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_BASE_URL (an http(s) URL such as https://api.openai.com/v1)")
            .Validate(o => o.Provider != "openai" || !string.IsNullOrWhiteSpace(o.Model), "EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_MODEL")
            .Validate(o => o.Provider != "openai" || o.Dimensions is > 0, "EMBEDDINGS_PROVIDER=openai needs EMBEDDINGS_DIMENSIONS (the model's vector size)")
            .Validate(o => o.Provider != "onnx" || (o.ModelPath is { Length: > 0 } p && File.Exists(Path.Combine(p, "model.onnx"))),
                "EMBEDDINGS_PROVIDER=onnx needs EMBEDDINGS_MODEL_PATH, a folder with model.onnx and vocab.txt or tokenizer.json")
            .Validate(o => o.Provider != "local" || BuiltInModels.Find(o.Model) is not null,
                $"EMBEDDINGS_MODEL for EMBEDDINGS_PROVIDER=local must be one of: {string.Join(", ", BuiltInModels.Names)}")
            .ValidateParseErrors()
            .ValidateOnStart();

        services.TryAddSingleton<Core.Observability.CircuitBreakerBoard>(); // the breakers report here (ops health, metrics)
        services.AddHttpClient(HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("embeddings", (builder, context) =>
            {
                var o = context.ServiceProvider.GetRequiredService<IOptions<EmbeddingOptions>>().Value;
                var attempt = TimeSpan.FromMilliseconds(o.TimeoutMs);
                builder.AddTimeout(attempt * (o.MaxRetries + 1) + TimeSpan.FromSeconds(o.MaxRetries * 2)); // whole call
                if (o.MaxRetries > 0)
                {
                    // Transient answers only: 5xx, 408, 429, connection failures and attempt timeouts.
                    builder.AddRetry(new HttpRetryStrategyOptions
                    {
                        MaxRetryAttempts = o.MaxRetries,
                        BackoffType = DelayBackoffType.Exponential,
                        UseJitter = true,
                        Delay = TimeSpan.FromMilliseconds(200),
                    });
                }
                builder.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    SamplingDuration = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(30).Ticks, attempt.Ticks * 2 + 1)),
                    MinimumThroughput = 10,
                    FailureRatio = 0.5,
                    BreakDuration = TimeSpan.FromSeconds(15),
                }.Bind(context.ServiceProvider.GetRequiredService<Core.Observability.CircuitBreakerBoard>(), "embeddings"));
                builder.AddTimeout(attempt); // each attempt
            });

        services.AddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<EmbeddingOptions>>().Value;
            IEmbeddingGenerator<string, Embedding<float>> generator = o.Provider switch
            {
                "openai" => CreateOpenAi(o, sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName)),
                "local" => BuiltInModels.Create(o.Model, o.MaxSequenceLength, o.InferenceBatchSize, o.InferenceThreads),
                "onnx" => new OnnxEmbedder(o.ModelPath!, o.Model, o.MaxSequenceLength ?? 256, o.InferenceBatchSize, o.InferenceThreads),
                "sha256" => new Sha256Embedder(o.Dimensions ?? 384),
                _ => new HashEmbedder(o.Dimensions ?? 384),
            };
            return Instrumented(generator);
        });
        services.AddSingleton<IEmbedderRegistry, EmbedderRegistry>();
        return services;
    }

    /// <summary>
    /// Any OpenAI-compatible <c>/v1/embeddings</c> through the official SDK and Microsoft.Extensions.AI. The SDK's own
    /// retries are off: timeouts, retries and the circuit breaker come from the resilience pipeline on the HttpClient.
    /// </summary>
    public static IEmbeddingGenerator<string, Embedding<float>> CreateOpenAi(EmbeddingOptions o, HttpClient http)
    {
        var client = new OpenAIClient(new ApiKeyCredential(string.IsNullOrEmpty(o.ApiKey) ? "unused" : o.ApiKey), new OpenAIClientOptions
        {
            Endpoint = new Uri(o.BaseUrl!),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        });
        return client.GetEmbeddingClient(o.Model!).AsIEmbeddingGenerator(o.Dimensions);
    }

    private static void ApplyFlatNames(EmbeddingOptions o, IConfiguration config)
    {
        if (config["EMBEDDINGS_PROVIDER"] is { Length: > 0 } p) o.Provider = p.Trim().ToLowerInvariant();
        if (config["EMBEDDINGS_MODEL"] is { Length: > 0 } m) o.Model = m;
        if (config["EMBEDDINGS_BASE_URL"] is { Length: > 0 } u) o.BaseUrl = u;
        if (config["EMBEDDINGS_API_KEY"] is { Length: > 0 } k) o.ApiKey = k;
        else if (o.ApiKey is null && config["OPENAI_API_KEY"] is { Length: > 0 } ok) o.ApiKey = ok;
        if (config["EMBEDDINGS_MODEL_PATH"] is { Length: > 0 } path) o.ModelPath = path;
        Int("EMBEDDINGS_DIMENSIONS", v => o.Dimensions = v);
        Int("EMBEDDINGS_BATCH_SIZE", v => o.BatchSize = v);
        // EXT_CALL_TIMEOUT_MS / EXT_RETRY_MAX_ATTEMPTS (seed "Reliability Controls") are every integration's defaults; the specific names win.
        Int("EXT_CALL_TIMEOUT_MS", v => o.TimeoutMs = v);
        Int("EXT_RETRY_MAX_ATTEMPTS", v => o.MaxRetries = v);
        Int("EMBEDDINGS_TIMEOUT_MS", v => o.TimeoutMs = v);
        Int("EMBEDDINGS_MAX_RETRIES", v => o.MaxRetries = v);
        Int("EMBEDDINGS_MAX_SEQUENCE_LENGTH", v => o.MaxSequenceLength = v);
        Int("EMBEDDINGS_INFERENCE_THREADS", v => o.InferenceThreads = v);
        Int("EMBEDDINGS_INFERENCE_BATCH", v => o.InferenceBatchSize = v);

        void Int(string name, Action<int> set) => Core.FlatSettings.Int(config, name, set, o.ParseErrors);
    }
}
