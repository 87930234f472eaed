using System.ClientModel;
using System.ClientModel.Primitives;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using NexusRag.Embeddings;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Chat;
using OpenAI;
using Polly;

namespace NexusRag.Generation;

public static class GenerationServiceCollectionExtensions
{
    public const string HttpClientName = "nexusrag-llm";

    /// <summary>
    /// Registers the configured <see cref="IChatClient"/>: extractive (default, offline), openai (any OpenAI-compatible
    /// chat completions endpoint, streaming) or fake. Options are validated at startup.
    /// </summary>
    public static IServiceCollection AddNexusRagGeneration(this IServiceCollection services, IConfiguration config)
    {
        services.AddOptions<LlmOptions>()
            .Bind(config.GetSection(LlmOptions.Section))
            .Configure(o => ApplyFlatNames(o, config))
            .ValidateSettings(LlmOptions.Section)
            .Validate(o => LlmOptions.Providers.Contains(o.Provider), $"LLM_PROVIDER must be one of: {string.Join(", ", LlmOptions.Providers)}")
            .Validate(o => o.Provider != "openai" || (Uri.TryCreate(o.BaseUrl, UriKind.Absolute, out var u) && u.Scheme is "http" or "https"),
                "LLM_PROVIDER=openai needs OPENAI_BASE_URL (an http(s) URL such as https://api.openai.com/v1)")
            .Validate(o => o.Provider != "openai" || !string.IsNullOrWhiteSpace(o.Model), "LLM_PROVIDER=openai needs LLM_MODEL")
            .ValidateParseErrors()
            .ValidateOnStart();

        services.TryAddSingleton<Core.Observability.CircuitBreakerBoard>(); // the breakers report here (ops health, metrics)
        services.AddHttpClient(HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .AddResilienceHandler("llm", (builder, context) =>
            {
                var o = context.ServiceProvider.GetRequiredService<IOptions<LlmOptions>>().Value;
                var attempt = TimeSpan.FromMilliseconds(o.TimeoutMs);
                if (o.MaxRetries > 0)
                {
                    // Only until the response headers arrive: a stream that has started is never replayed.
                    builder.AddRetry(new HttpRetryStrategyOptions
                    {
                        MaxRetryAttempts = o.MaxRetries, BackoffType = DelayBackoffType.Exponential, UseJitter = true, Delay = TimeSpan.FromMilliseconds(250),
                    });
                }
                builder.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    SamplingDuration = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(30).Ticks, attempt.Ticks * 2 + 1)),
                    MinimumThroughput = 10, FailureRatio = 0.5, BreakDuration = TimeSpan.FromSeconds(15),
                }.Bind(context.ServiceProvider.GetRequiredService<Core.Observability.CircuitBreakerBoard>(), "llm"));
                builder.AddTimeout(attempt); // time to the response headers, per attempt
            });

        services.AddSingleton<IChatClient>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<LlmOptions>>().Value;
            IChatClient client = o.Provider switch
            {
                "openai" => new IdleTimeoutChatClient(CreateOpenAi(o, sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName)),
                    TimeSpan.FromMilliseconds(o.TimeoutMs)),
                "fake" => new FakeChatClient(),
                _ => new ExtractiveChatClient(o.ExtractiveMaxSentences),
            };
            // Spans and gen-ai metrics around every chat call; prompts and answers are not recorded (EnableSensitiveData stays off).
            return client.AsBuilder().UseOpenTelemetry().Build(sp);
        });
        return services;
    }

    /// <summary>Chat completions through the official OpenAI SDK and Microsoft.Extensions.AI; retries are the HttpClient pipeline's.</summary>
    public static IChatClient CreateOpenAi(LlmOptions o, HttpClient http)
    {
        var client = new OpenAIClient(new ApiKeyCredential(string.IsNullOrEmpty(o.ApiKey) ? "unused" : o.ApiKey), new OpenAIClientOptions
        {
            Endpoint = new Uri(o.BaseUrl!),
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(0),
            NetworkTimeout = Timeout.InfiniteTimeSpan,
        });
        return client.GetChatClient(o.Model!).AsIChatClient();
    }

    private static void ApplyFlatNames(LlmOptions o, IConfiguration config)
    {
        if (config["LLM_PROVIDER"] is { Length: > 0 } p) o.Provider = p.Trim().ToLowerInvariant();
        if (config["LLM_MODEL"] is { Length: > 0 } m) o.Model = m;
        if (config["OPENAI_BASE_URL"] is { Length: > 0 } u) o.BaseUrl = u;
        if (config["OPENAI_API_KEY"] is { Length: > 0 } k) o.ApiKey = k;
        // EXT_CALL_TIMEOUT_MS / EXT_RETRY_MAX_ATTEMPTS (seed "Reliability Controls") are every integration's defaults; the specific names win.
        Int("EXT_CALL_TIMEOUT_MS", v => o.TimeoutMs = v);
        Int("EXT_RETRY_MAX_ATTEMPTS", v => o.MaxRetries = v);
        Int("LLM_TIMEOUT_MS", v => o.TimeoutMs = v);
        Int("LLM_MAX_RETRIES", v => o.MaxRetries = v);
        Int("LLM_MAX_OUTPUT_TOKENS", v => o.MaxOutputTokens = v);

        void Int(string name, Action<int> set) => Core.FlatSettings.Int(config, name, set, o.ParseErrors);
    }
}

/// <summary>Fails a streamed answer whose next piece takes longer than <c>idle</c> (a stalled server never hangs a run).</summary>
public sealed class IdleTimeoutChatClient(IChatClient inner, TimeSpan idle) : DelegatingChatClient(inner)
{
    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var e = base.GetStreamingResponseAsync(messages, options, cts.Token).GetAsyncEnumerator(cts.Token);
        while (true)
        {
            cts.CancelAfter(idle);
            bool more;
            try { more = await e.MoveNextAsync().ConfigureAwait(false); }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new LlmProviderException($"the answer generator sent nothing for {idle.TotalMilliseconds:F0} ms (timeout)");
            }
            if (!more) yield break;
            cts.CancelAfter(Timeout.InfiniteTimeSpan);
            yield return e.Current;
        }
    }
}
