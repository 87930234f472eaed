using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using NexusRag.Core.Ports;
using StackExchange.Redis;

namespace NexusRag.Storage.Redis;

public static class SharedStateServiceCollectionExtensions
{
    /// <summary>
    /// Redis (<c>REDIS_URL=redis://[:password@]host:6379/0</c>, <c>rediss://</c> for TLS) for what replicas share;
    /// without <c>REDIS_URL</c>, in-process implementations serve a single node.
    /// </summary>
    public static IServiceCollection AddNexusRagSharedState(this IServiceCollection services, IConfiguration config)
    {
        var url = config["REDIS_URL"];
        services.AddOptions<SharedStateOptions>()
            .Configure(o => o.RedisUrl = string.IsNullOrWhiteSpace(url) ? null : url.Trim())
            .Validate(o => o.RedisUrl is null || RedisUrl.TryParse(o.RedisUrl, out _),
                "REDIS_URL must be redis://[:password@]host[:port][/db], rediss://… for TLS, or a StackExchange.Redis configuration string (host:port,…)")
            .ValidateOnStart();
        if (string.IsNullOrWhiteSpace(url))
        {
            services.AddSingleton<IDistributedLock, InProcessDistributedLock>();
            services.AddSingleton<Core.Governance.IRateLimiter, Core.Governance.InProcessRateLimiter>();
            services.AddSingleton<Core.Governance.IIdempotencyStore, Core.Governance.InProcessIdempotencyStore>();
            services.AddSingleton<Core.Backups.IMaintenanceTask, Backups.PruneIdempotencyTask>();
            services.AddSingleton<ISharedStateHealth>(new NotConfiguredHealth());
            return services;
        }
        services.AddSingleton(sp => new RedisConnection(RedisUrl.Parse(url), sp.GetRequiredService<ILogger<RedisConnection>>()));
        services.AddSingleton<IDistributedLock, RedisDistributedLock>();
        services.AddSingleton<Core.Governance.IRateLimiter, RedisRateLimiter>();
        services.AddSingleton<Core.Governance.IIdempotencyStore, RedisIdempotencyStore>();
        services.AddSingleton<Core.Backups.IMaintenanceTask, Backups.PruneIdempotencyTask>();
        services.AddSingleton<ISharedStateHealth>(sp => sp.GetRequiredService<RedisConnection>());
        services.AddHostedService<RedisBreakerSync>();
        return services;
    }

    private sealed class NotConfiguredHealth : ISharedStateHealth
    {
        public Task<string> CheckAsync(CancellationToken ct) => Task.FromResult("not_configured");
    }
}

/// <summary>Where replicas share state (<c>REDIS_URL</c>); null: in-process, single node.</summary>
public sealed class SharedStateOptions
{
    public string? RedisUrl { get; set; }
}

public static class RedisUrl
{
    /// <summary>Parses without throwing; false for anything that cannot name a Redis server (http://x, host:notaport, …).</summary>
    public static bool TryParse(string url, out ConfigurationOptions? options)
    {
        options = null;
        try
        {
            var i = url.IndexOf("://", StringComparison.Ordinal);
            if (i > 0 && !url.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) && !url.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase)) return false;
            if (i > 0 && (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Host.Length == 0)) return false;
            var parsed = Parse(url);
            if (parsed.EndPoints.Count == 0) return false;
            options = parsed;
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or UriFormatException or RedisConnectionException)
        {
            return false;
        }
    }

    /// <summary><c>redis://[user][:password]@host[:port][/db]</c> or <c>rediss://…</c>; a StackExchange.Redis configuration string works too.</summary>
    public static ConfigurationOptions Parse(string url)
    {
        ConfigurationOptions options;
        if (url.StartsWith("redis://", StringComparison.OrdinalIgnoreCase) || url.StartsWith("rediss://", StringComparison.OrdinalIgnoreCase))
        {
            var uri = new Uri(url);
            options = new ConfigurationOptions { Ssl = uri.Scheme.Equals("rediss", StringComparison.OrdinalIgnoreCase) };
            options.EndPoints.Add(uri.Host, uri.IsDefaultPort || uri.Port <= 0 ? 6379 : uri.Port);
            if (uri.UserInfo is { Length: > 0 } info)
            {
                var parts = info.Split(':', 2);
                if (parts.Length == 2) { if (parts[0].Length > 0) options.User = Uri.UnescapeDataString(parts[0]); options.Password = Uri.UnescapeDataString(parts[1]); }
                else options.Password = Uri.UnescapeDataString(parts[0]);
            }
            if (int.TryParse(uri.AbsolutePath.Trim('/'), out var db)) options.DefaultDatabase = db;
        }
        else options = ConfigurationOptions.Parse(url);
        options.AbortOnConnectFail = false; // start without Redis and reconnect in the background
        options.ConnectTimeout = 2000;
        options.SyncTimeout = 2000;
        options.AsyncTimeout = 2000;
        return options;
    }
}

/// <summary>One multiplexed connection per process, opened lazily; reconnects by itself.</summary>
public sealed class RedisConnection(ConfigurationOptions options, ILogger<RedisConnection> logger) : ISharedStateHealth, IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ConnectionMultiplexer? _mux;

    /// <summary>The database number of <c>REDIS_URL</c> (pub/sub channels are server-wide, so their names carry it).</summary>
    public int Database => options.DefaultDatabase ?? 0;

    public async Task<IDatabase> DatabaseAsync()
    {
        if (_mux is null)
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_mux is null)
                {
                    try { _mux = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false); }
                    catch (RedisConnectionException ex) { throw new SharedStateUnavailableException("Redis is unreachable: " + ex.Message, ex); }
                }
            }
            finally { _gate.Release(); }
        }
        return _mux.GetDatabase();
    }

    public async Task<string> CheckAsync(CancellationToken ct)
    {
        try
        {
            var db = await DatabaseAsync().ConfigureAwait(false);
            await db.PingAsync().WaitAsync(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
            return "ok";
        }
        catch (Exception ex) when (ex is RedisException or SharedStateUnavailableException or TimeoutException)
        {
            logger.LogWarning("Redis health check failed: {Error}", ex.Message);
            return "down";
        }
    }

    /// <summary>Runs a Redis call; an unreachable Redis becomes <see cref="SharedStateUnavailableException"/>.</summary>
    public async Task<T> RunAsync<T>(Func<IDatabase, Task<T>> call)
    {
        var db = await DatabaseAsync().ConfigureAwait(false);
        try { return await call(db).ConfigureAwait(false); }
        catch (Exception ex) when (ex is RedisConnectionException or RedisTimeoutException)
        {
            throw new SharedStateUnavailableException("Redis is unreachable: " + ex.Message, ex);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_mux is not null) await _mux.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// Redis lock: <c>SET key token NX PX lease</c> to take it; release and renew are Lua compare-and-delete /
/// compare-and-pexpire, so only the holder (its random token) can release or extend it.
/// </summary>
public sealed class RedisDistributedLock(RedisConnection redis) : IDistributedLock
{
    private const string Prefix = "nexusrag:lock:";
    private const string ReleaseScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
    private const string RenewScript = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

    public async Task<ILockHandle?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var token = Guid.NewGuid().ToString("N");
        var taken = await redis.RunAsync(db => db.StringSetAsync(Prefix + key, token, lease, When.NotExists)).ConfigureAwait(false);
        return taken ? new Handle(redis, key, token) : null;
    }

    private sealed class Handle(RedisConnection redis, string key, string token) : ILockHandle
    {
        public string Key => key;

        public async Task<bool> RenewAsync(TimeSpan lease, CancellationToken ct) =>
            (long)await redis.RunAsync(db => db.ScriptEvaluateAsync(RenewScript, [Prefix + key], [token, (long)lease.TotalMilliseconds])).ConfigureAwait(false) == 1;

        public async ValueTask DisposeAsync()
        {
            try { await redis.RunAsync(db => db.ScriptEvaluateAsync(ReleaseScript, [Prefix + key], [token])).ConfigureAwait(false); }
            catch (SharedStateUnavailableException) { } // the lease expires on its own
        }
    }
}

/// <summary>Single-node lock with the same lease semantics, for running without Redis.</summary>
public sealed class InProcessDistributedLock(TimeProvider clock) : IDistributedLock
{
    private readonly ConcurrentDictionary<string, (string Token, DateTimeOffset Until)> _locks = new();
    private DateTimeOffset Now => clock.GetUtcNow();

    public Task<ILockHandle?> TryAcquireAsync(string key, TimeSpan lease, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var token = Guid.NewGuid().ToString("N");
        while (true)
        {
            var now = clock.GetUtcNow();
            if (_locks.TryGetValue(key, out var held))
            {
                if (held.Until > now) return Task.FromResult<ILockHandle?>(null);
                if (!_locks.TryUpdate(key, (token, now + lease), held)) continue;
            }
            else if (!_locks.TryAdd(key, (token, now + lease))) continue;
            return Task.FromResult<ILockHandle?>(new Handle(this, key, token));
        }
    }

    private sealed class Handle(InProcessDistributedLock owner, string key, string token) : ILockHandle
    {
        public string Key => key;

        public Task<bool> RenewAsync(TimeSpan lease, CancellationToken ct)
        {
            var now = owner.Now;
            while (owner._locks.TryGetValue(key, out var held) && held.Token == token && held.Until > now)
                if (owner._locks.TryUpdate(key, (token, now + lease), held)) return Task.FromResult(true);
            return Task.FromResult(false);
        }

        public ValueTask DisposeAsync()
        {
            if (owner._locks.TryGetValue(key, out var held) && held.Token == token)
                owner._locks.TryRemove(new KeyValuePair<string, (string, DateTimeOffset)>(key, held));
            return ValueTask.CompletedTask;
        }
    }
}
