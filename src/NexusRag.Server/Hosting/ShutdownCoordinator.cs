using Microsoft.Extensions.Options;

namespace NexusRag.Server.Hosting;

/// <summary>
/// Graceful shutdown: on SIGTERM the host stops accepting connections and <see cref="GraceExpired"/> fires
/// <c>SHUTDOWN_GRACE_S</c> later; answer streams still open then end with an <c>error</c> event and <c>done</c>. The host's
/// own shutdown timeout is set a few seconds beyond the grace, so those last events reach the client.
/// </summary>
public sealed class ShutdownCoordinator : IDisposable
{
    private readonly CancellationTokenSource _expired = new();
    private readonly CancellationTokenRegistration _registration;

    public ShutdownCoordinator(IHostApplicationLifetime lifetime, IOptions<ReliabilityOptions> options, TimeProvider clock)
    {
        var grace = TimeSpan.FromSeconds(options.Value.ShutdownGraceSeconds);
        _registration = lifetime.ApplicationStopping.Register(() =>
        {
            IsStopping = true;
            if (grace == TimeSpan.Zero) _expired.Cancel();
            else _ = Task.Delay(grace, clock).ContinueWith(_ => _expired.Cancel(), TaskScheduler.Default);
        });
    }

    public bool IsStopping { get; private set; }

    /// <summary>Cancelled when the shutdown grace period has run out.</summary>
    public CancellationToken GraceExpired => _expired.Token;

    public void Dispose()
    {
        _registration.Dispose();
        _expired.Dispose();
    }
}
