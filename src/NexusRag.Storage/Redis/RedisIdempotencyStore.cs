using NexusRag.Core.Governance;
using StackExchange.Redis;

namespace NexusRag.Storage.Redis;

/// <summary>Idempotency records in Redis: claim, replay and conflict are decided by one script, so replicas agree.</summary>
public sealed class RedisIdempotencyStore(RedisConnection redis) : IIdempotencyStore
{
    private const string Prefix = "nexusrag:idem:";
    private const string Begin = """
        local v = redis.call('HMGET', KEYS[1], 'hash', 'status', 'ctype', 'body')
        if v[1] == false then
          redis.call('HSET', KEYS[1], 'hash', ARGV[1])
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return {'started'}
        end
        if v[1] ~= ARGV[1] then return {'conflict'} end
        if v[2] == false then return {'inprogress'} end
        return {'replay', v[2], v[3] or '', v[4] or ''}
        """;
    private const string Abandon = "if redis.call('HGET', KEYS[1], 'hash') == ARGV[1] and redis.call('HEXISTS', KEYS[1], 'status') == 0 then return redis.call('DEL', KEYS[1]) else return 0 end";

    public async Task<IdempotencyClaim> TryBeginAsync(string key, string requestHash, TimeSpan lockTtl, CancellationToken ct)
    {
        var r = (RedisResult[])(await redis.RunAsync(db => db.ScriptEvaluateAsync(Begin, [Prefix + key], [requestHash, (long)lockTtl.TotalMilliseconds])).ConfigureAwait(false))!;
        return (string)r[0]! switch
        {
            "started" => new IdempotencyClaim(IdempotencyOutcome.Started),
            "conflict" => new IdempotencyClaim(IdempotencyOutcome.Conflict),
            "inprogress" => new IdempotencyClaim(IdempotencyOutcome.InProgress),
            _ => new IdempotencyClaim(IdempotencyOutcome.Replay,
                new StoredResponse(int.Parse((string)r[1]!), (string)r[2]! is { Length: > 0 } t ? t : null, (byte[])r[3]!)),
        };
    }

    public Task CompleteAsync(string key, string requestHash, StoredResponse response, TimeSpan retention, CancellationToken ct) =>
        redis.RunAsync(async db =>
        {
            var tx = db.CreateTransaction();
            _ = tx.HashSetAsync(Prefix + key, [
                new HashEntry("hash", requestHash), new HashEntry("status", response.Status),
                new HashEntry("ctype", response.ContentType ?? ""), new HashEntry("body", response.Body)]);
            _ = tx.KeyExpireAsync(Prefix + key, retention);
            return await tx.ExecuteAsync().ConfigureAwait(false);
        });

    public Task AbandonAsync(string key, string requestHash, CancellationToken ct) =>
        redis.RunAsync(db => db.ScriptEvaluateAsync(Abandon, [Prefix + key], [requestHash]));

    /// <summary>Redis expires every record by its TTL: nothing to sweep.</summary>
    public Task<int> PruneExpiredAsync(CancellationToken ct) => Task.FromResult(0);
}
