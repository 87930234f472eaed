using Microsoft.Extensions.Http.Resilience;
using NexusRag.Core.Observability;
using Polly.CircuitBreaker;

namespace NexusRag.Embeddings;

/// <summary>Ties an HTTP pipeline's circuit breaker to the <see cref="CircuitBreakerBoard"/>: its state is readable, its openings are reported, and it can be held open.</summary>
public static class CircuitBreakerBinding
{
    public static HttpCircuitBreakerStrategyOptions Bind(this HttpCircuitBreakerStrategyOptions options, CircuitBreakerBoard board, string integration)
    {
        var state = new CircuitBreakerStateProvider();
        var control = new CircuitBreakerManualControl();
        options.StateProvider = state;
        options.ManualControl = control;
        var inner = options.OnOpened;
        options.OnOpened = async args =>
        {
            if (!args.IsManual) board.ReportOpened(integration, args.BreakDuration);
            if (inner is not null) await inner(args).ConfigureAwait(false);
        };
        board.Register(integration, () => state.CircuitState switch
        {
            CircuitState.Closed => BreakerStates.Closed,
            CircuitState.HalfOpen => BreakerStates.HalfOpen,
            CircuitState.Isolated => BreakerStates.Isolated,
            _ => BreakerStates.Open,
        }, async duration =>
        {
            await control.IsolateAsync().ConfigureAwait(false);
            _ = Task.Delay(duration).ContinueWith(_ => control.CloseAsync(), TaskScheduler.Default);
        });
        return options;
    }
}
