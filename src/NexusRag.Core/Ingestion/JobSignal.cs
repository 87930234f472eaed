using NexusRag.Core.Ports;

namespace NexusRag.Core.Ingestion;

/// <summary>In-process wake-up for idle workers: enqueue calls Notify, idle workers wait with a timeout.</summary>
public sealed class InProcessJobSignal : IJobSignal
{
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);

    public void Notify()
    {
        // Keep the count small: one pending wake-up per waiter is enough.
        if (_signal.CurrentCount < 64) _signal.Release();
    }

    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct) => await _signal.WaitAsync(timeout, ct).ConfigureAwait(false);
}
