using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using NexusRag.Core.Ports;
using NexusRag.Storage.Redis;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>The distributed lock on the real Redis that scripts/test.sh starts, and its in-process twin.</summary>
public sealed class SharedStateTests : IAsyncDisposable
{
    private readonly List<RedisConnection> _connections = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _connections) await c.DisposeAsync();
    }

    private static string RedisAddress =>
        Environment.GetEnvironmentVariable("NEXUSRAG_TEST_REDIS")
        ?? throw new InvalidOperationException("NEXUSRAG_TEST_REDIS is not set: run scripts/test.sh, which starts a throwaway redis-server");

    private RedisConnection Connect(string url)
    {
        var c = new RedisConnection(RedisUrl.Parse(url), NullLogger<RedisConnection>.Instance);
        _connections.Add(c);
        return c;
    }

    private IDistributedLock Lock(string kind) => kind == "redis"
        ? new RedisDistributedLock(Connect($"redis://{RedisAddress}/0"))
        : new InProcessDistributedLock(TimeProvider.System);

    [Theory]
    [InlineData("redis")]
    [InlineData("inprocess")]
    public async Task One_holder_at_a_time_release_by_the_owner_and_expiry(string kind)
    {
        var locks = Lock(kind);
        var key = $"test-{Guid.NewGuid():N}";
        var first = await locks.TryAcquireAsync(key, TimeSpan.FromSeconds(30), default);
        Assert.NotNull(first);
        Assert.Null(await locks.TryAcquireAsync(key, TimeSpan.FromSeconds(30), default));
        Assert.True(await first!.RenewAsync(TimeSpan.FromSeconds(30), default));
        await first.DisposeAsync();
        var second = await locks.TryAcquireAsync(key, TimeSpan.FromMilliseconds(200), default);
        Assert.NotNull(second);

        // The lease runs out: another owner takes over, and the stale holder can neither renew nor release it.
        await Task.Delay(400);
        var third = await locks.TryAcquireAsync(key, TimeSpan.FromSeconds(30), default);
        Assert.NotNull(third);
        Assert.False(await second!.RenewAsync(TimeSpan.FromSeconds(30), default));
        await second.DisposeAsync();
        Assert.Null(await locks.TryAcquireAsync(key, TimeSpan.FromSeconds(30), default));
        await third!.DisposeAsync();
    }

    [Theory]
    [InlineData("redis")]
    [InlineData("inprocess")]
    public async Task Racing_acquirers_get_exactly_one_lock(string kind)
    {
        var locks = Lock(kind);
        var key = $"race-{Guid.NewGuid():N}";
        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(() => locks.TryAcquireAsync(key, TimeSpan.FromSeconds(30), default))));
        Assert.Single(results, r => r is not null);
    }

    [Fact]
    public async Task An_unreachable_redis_fails_closed_with_a_clear_exception_and_reports_down()
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; }
        var conn = Connect($"redis://127.0.0.1:{port}/0");
        await Assert.ThrowsAsync<SharedStateUnavailableException>(() => new RedisDistributedLock(conn).TryAcquireAsync("k", TimeSpan.FromSeconds(1), default));
        Assert.Equal("down", await conn.CheckAsync(default));
        Assert.Equal("ok", await Connect($"redis://{RedisAddress}/0").CheckAsync(default));
    }

    [Fact]
    public async Task Health_reports_redis_and_never_fails_with_500_when_it_is_down()
    {
        using (var app = new NexusAppFactory(new() { ["REDIS_URL"] = $"redis://{RedisAddress}/0" }))
        {
            var health = await (await app.CreateClient().GetAsync("/v1/health")).DataAsync();
            Assert.Equal("ok", health.GetProperty("checks").GetProperty("redis").GetString());
            Assert.Equal("all", health.GetProperty("role").GetString());
        }
        using (var app = new NexusAppFactory(new() { ["REDIS_URL"] = "redis://127.0.0.1:1/0" }))
        {
            var health = await (await app.CreateClient().GetAsync("/v1/health")).DataAsync();
            Assert.Equal("down", health.GetProperty("checks").GetProperty("redis").GetString());
            Assert.Equal("degraded", health.GetProperty("status").GetString());
            // Requests that do not need Redis keep working.
            var client = await app.AdminForTenantAsync("t1");
            Assert.Equal(System.Net.HttpStatusCode.OK, (await client.GetAsync("/v1/corpora")).StatusCode);
        }
        using (var app = new NexusAppFactory())
        {
            var health = await (await app.CreateClient().GetAsync("/v1/health")).DataAsync();
            Assert.Equal("not_configured", health.GetProperty("checks").GetProperty("redis").GetString());
        }
    }
}
