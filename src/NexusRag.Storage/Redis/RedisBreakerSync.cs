using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NexusRag.Core.Observability;
using StackExchange.Redis;

namespace NexusRag.Storage.Redis;

/// <summary>
/// Seed "Circuit breakers per integration (shared via Redis)": when a breaker of this replica opens, the others hear it
/// on the Redis channel <c>nexusrag:{db}:breakers</c> and hold theirs open for the same break, so a failing provider is spared by every replica at once.
/// </summary>
public sealed class RedisBreakerSync(RedisConnection redis, CircuitBreakerBoard board, ILogger<RedisBreakerSync> logger) : BackgroundService
{
    private readonly RedisChannel _channel = RedisChannel.Literal($"nexusrag:{redis.Database}:breakers");
    private readonly string _origin = Guid.NewGuid().ToString("N");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        board.Opened += Publish;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var db = await redis.DatabaseAsync().ConfigureAwait(false);
                    await db.Multiplexer.GetSubscriber().SubscribeAsync(_channel, (_, message) => OnMessage(message)).ConfigureAwait(false);
                    await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or Core.Ports.SharedStateUnavailableException)
                {
                    logger.LogWarning("Circuit-breaker sync: Redis unavailable ({Error}); retrying", ex.Message);
                    await Task.Delay(TimeSpan.FromSeconds(5), stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            board.Opened -= Publish;
        }
    }

    private void Publish(string integration, TimeSpan duration) => _ = PublishAsync(integration, duration);

    private async Task PublishAsync(string integration, TimeSpan duration)
    {
        try
        {
            var db = await redis.DatabaseAsync().ConfigureAwait(false);
            await db.PublishAsync(_channel, $"{_origin}|{integration}|{(long)duration.TotalMilliseconds}").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or Core.Ports.SharedStateUnavailableException)
        {
            logger.LogWarning("Circuit-breaker sync: could not announce {Integration} open ({Error})", integration, ex.Message);
        }
    }

    private void OnMessage(RedisValue message)
    {
        var parts = message.ToString().Split('|');
        if (parts.Length != 3 || parts[0] == _origin || !long.TryParse(parts[2], out var ms) || ms is <= 0 or > 3_600_000) return;
        logger.LogWarning("Circuit breaker {Integration} opened on another replica; holding it open here for {Ms} ms", parts[1], ms);
        _ = board.HoldOpenAsync(parts[1], TimeSpan.FromMilliseconds(ms));
    }
}
