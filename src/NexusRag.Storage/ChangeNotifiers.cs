using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Ports;
using Npgsql;

namespace NexusRag.Storage;

/// <summary>No cross-process channel (SQLite: one process writes): waiting is polling.</summary>
public sealed class PollingChangeNotifier : IChangeNotifier
{
    public Task WaitAsync(TimeSpan timeout, CancellationToken ct) => Task.Delay(timeout, ct);
}

/// <summary>
/// PostgreSQL LISTEN on <see cref="Channel"/> over one dedicated connection; every commit that changes chunks sends
/// NOTIFY inside its transaction (delivered at commit). A lost connection is re-opened with backoff; meanwhile waiters
/// time out and poll, so a missed notification only delays, never loses, a change.
/// </summary>
public sealed class PgChangeNotifier(IOptions<StorageOptions> options, ILogger<PgChangeNotifier> logger) : IChangeNotifier, IAsyncDisposable
{
    public const string Channel = "nexusrag_chunks";
    private readonly CancellationTokenSource _stop = new();
    private readonly object _gate = new();
    private TaskCompletionSource _signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _listener;

    public async Task WaitAsync(TimeSpan timeout, CancellationToken ct)
    {
        Task signal;
        lock (_gate)
        {
            _listener ??= Task.Run(ListenLoopAsync);
            signal = _signal.Task;
        }
        await Task.WhenAny(signal, Task.Delay(timeout, ct)).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
    }

    private void Fire()
    {
        TaskCompletionSource fired;
        lock (_gate)
        {
            fired = _signal;
            _signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        fired.TrySetResult();
    }

    private async Task ListenLoopAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(options.Value.PostgresConnectionString())
                {
                    KeepAlive = 30, Pooling = false,
                }.ConnectionString);
                await conn.OpenAsync(_stop.Token).ConfigureAwait(false);
                conn.Notification += (_, _) => Fire();
                await using (var cmd = new NpgsqlCommand($"LISTEN {Channel}", conn)) await cmd.ExecuteNonQueryAsync(_stop.Token).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(250);
                Fire(); // anything committed while we were not listening: let followers look
                while (!_stop.IsCancellationRequested) await conn.WaitAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested) { return; }
            catch (Exception ex)
            {
                logger.LogWarning("Change-log LISTEN connection lost ({Error}); reconnecting in {Delay} ms", ex.GetBaseException().Message, backoff.TotalMilliseconds);
                try { await Task.Delay(backoff, _stop.Token).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 10_000));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_listener is not null) { try { await _listener.ConfigureAwait(false); } catch (Exception) { } }
        _stop.Dispose();
    }
}
