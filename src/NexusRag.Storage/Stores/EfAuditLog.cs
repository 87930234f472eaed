using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Audit;
using NexusRag.Core.Ports;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

public sealed class EfAuditLog(IDbContextFactory<NexusDbContext> factory, TimeProvider clock, AmbientDbContext? ambient) : IAuditLog
{
    /// <summary>A log over a store of its own (the restore drill's scratch store): no unit of work, no group commit needed.</summary>
    public EfAuditLog(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : this(factory, clock, null) { }

    private readonly System.Threading.Channels.Channel<(AuditEntry Entry, string? MetadataJson, TaskCompletionSource Done)> _pending =
        System.Threading.Channels.Channel.CreateUnbounded<(AuditEntry, string?, TaskCompletionSource)>(new() { SingleReader = true });
    private int _writerStarted;
    /// <summary>At most this many appends share one transaction.</summary>
    private const int MaxGroup = 256;
    private static readonly string[] SensitiveKeyParts = ["api_key", "authorization", "token", "secret", "password", "text", "content"];

    /// <summary>
    /// Appends to the tenant's chain. Inside a unit of work the event joins its transaction (a business change and its
    /// audit event commit together). Otherwise it is group-committed: one writer takes every append waiting at that
    /// moment (up to <see cref="MaxGroup"/>) and commits them in one transaction, reserving each tenant's positions with
    /// one head bump — the head row lock (PostgreSQL) or the write lock (SQLite) still orders writers across replicas, so
    /// the chain stays gapless, while concurrent appends cost one commit instead of one each. The caller's task completes
    /// when its event is committed.
    /// </summary>
    public Task AppendAsync(AuditEntry entry, CancellationToken ct)
    {
        if (ambient is null || ambient.Current is not null) return AppendNowAsync(entry, ct);
        var metadata = MetadataOf(entry); // a bad entry fails its own caller, never the group it would have joined
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_pending.Writer.TryWrite((entry, metadata, done))) return AppendNowAsync(entry, ct);
        if (Interlocked.CompareExchange(ref _writerStarted, 1, 0) == 0) _ = Task.Run(WriteLoopAsync, CancellationToken.None);
        return done.Task.WaitAsync(ct);
    }

    public Task AppendManyAsync(IReadOnlyList<AuditEntry> entries, CancellationToken ct) => entries.Count switch
    {
        0 => Task.CompletedTask,
        1 => AppendAsync(entries[0], ct),
        _ => AppendGroupAsync(entries.Select(e => (e, MetadataOf(e))).ToList(), ct),
    };

    private async Task WriteLoopAsync()
    {
        var group = new List<(AuditEntry Entry, string? MetadataJson, TaskCompletionSource Done)>(MaxGroup);
        while (await _pending.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < MaxGroup && _pending.Reader.TryRead(out var item)) group.Add(item);
            if (group.Count == 0) continue;
            try
            {
                var entries = group.Select(g => (g.Entry, g.MetadataJson)).ToList();
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await AppendGroupAsync(entries, CancellationToken.None).ConfigureAwait(false);
                        break;
                    }
                    catch (Npgsql.PostgresException ex) when (ex.SqlState is "40P01" or "40001" && attempt < 5)
                    {
                        // Chosen as a deadlock victim against a unit of work elsewhere: nothing was written, try again.
                        await Task.Delay(5 * attempt).ConfigureAwait(false);
                    }
                }
                foreach (var g in group) g.Done.TrySetResult();
            }
            catch (Exception ex)
            {
                foreach (var g in group) g.Done.TrySetException(ex);
            }
        }
    }

    /// <summary>
    /// One transaction (the caller's unit of work, when there is one): per tenant, the head row is bumped first — one bump
    /// reserves consecutive positions for its events in arrival order and takes the row lock.
    /// </summary>
    private async Task AppendGroupAsync(IReadOnlyList<(AuditEntry Entry, string? MetadataJson)> entries, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        now = new DateTime(now.Ticks - now.Ticks % 10, DateTimeKind.Utc); // microseconds, as PostgreSQL keeps them
        // Heads are locked in one global order (tenant id), so two replicas' groups never wait on each other in a cycle.
        foreach (var tenant in entries.GroupBy(e => e.Entry.TenantId).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var events = tenant.ToList();
            var head = await BumpHeadAsync(db, tenant.Key, events.Count, ct).ConfigureAwait(false);
            if (head is null)
            {
                await db.Database.ExecuteSqlInterpolatedAsync(
                    $"INSERT INTO audit_chain_heads (tenant_id, last_seq, last_hash) VALUES ({tenant.Key}, 0, NULL) ON CONFLICT (tenant_id) DO NOTHING", ct)
                    .ConfigureAwait(false);
                head = await BumpHeadAsync(db, tenant.Key, events.Count, ct).ConfigureAwait(false) ?? throw new InvalidOperationException("audit chain head vanished");
            }
            var seq = head.Seq - events.Count;
            var prev = head.PrevHash;
            foreach (var (entry, metadata) in events)
            {
                var row = NewRow(entry, metadata, ++seq, prev, now);
                db.AuditEvents.Add(row);
                prev = row.Hash;
            }
            await db.SaveChangesAsync(ct).ConfigureAwait(false);
            await db.AuditChainHeads.Where(h => h.TenantId == tenant.Key).ExecuteUpdateAsync(s => s.SetProperty(h => h.LastHash, prev), ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    private static string? MetadataOf(AuditEntry entry) => entry.Metadata is null ? null : JsonSerializer.Serialize(Redact(entry.Metadata));

    private static AuditEventRow NewRow(AuditEntry entry, string? metadataJson, long seq, string? prevHash, DateTime at)
    {
        var row = new AuditEventRow
        {
            TenantId = entry.TenantId, EventType = entry.EventType, Outcome = entry.Outcome, ActorType = entry.ActorType,
            ActorId = entry.ActorId, ResourceType = entry.ResourceType, ResourceId = entry.ResourceId, RequestId = entry.RequestId,
            MetadataJson = metadataJson, OccurredAt = at, ChainSeq = seq, PrevHash = prevHash,
        };
        row.Hash = HashOf(row);
        return row;
    }

    /// <summary>An append in the caller's unit of work (or on its own when there is none): a group of one.</summary>
    private Task AppendNowAsync(AuditEntry entry, CancellationToken ct) => AppendGroupAsync([(entry, MetadataOf(entry))], ct);

    /// <summary>
    /// Reserves the next <paramref name="count"/> chain positions (and takes the lock on the head row): returns the last
    /// reserved position and the hash before them; null when the tenant has no head yet.
    /// </summary>
    private static async Task<HeadValue?> BumpHeadAsync(NexusDbContext db, string tenantId, int count, CancellationToken ct) =>
        (await db.Database.SqlQuery<HeadValue>($"""
            UPDATE audit_chain_heads SET last_seq = last_seq + {count} WHERE tenant_id = {tenantId}
            RETURNING last_seq AS "Seq", last_hash AS "PrevHash"
            """).ToListAsync(ct).ConfigureAwait(false)).SingleOrDefault();

    private sealed class HeadValue
    {
        public long Seq { get; set; }
        public string? PrevHash { get; set; }
    }

    /// <summary>SHA-256 (hex) over the canonical JSON of the event's fields, its chain position and the previous hash.</summary>
    public static string HashOf(AuditEventRow r)
    {
        var canonical = JsonSerializer.Serialize(new object?[]
        {
            "nexusrag-audit-v1", r.TenantId, r.ChainSeq, r.EventType, r.Outcome, r.ActorType, r.ActorId, r.ResourceType, r.ResourceId,
            r.RequestId, r.MetadataJson, r.OccurredAt.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.ffffffZ", System.Globalization.CultureInfo.InvariantCulture),
            r.PrevHash,
        });
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    public async Task<AuditVerification> VerifyAsync(string tenantId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var head = await db.AuditChainHeads.AsNoTracking().FirstOrDefaultAsync(h => h.TenantId == tenantId, ct).ConfigureAwait(false);
        // After pruning the chain starts at the checkpoint: the first kept event links to the last pruned one's hash.
        long expected = (head?.CheckpointSeq ?? 0) + 1, count = 0;
        string? prev = head?.CheckpointHash;
        AuditEventRow? last = null;
        await foreach (var r in db.AuditEvents.AsNoTracking().Where(e => e.TenantId == tenantId && e.ChainSeq != null)
                           .OrderBy(e => e.ChainSeq).AsAsyncEnumerable().WithCancellation(ct).ConfigureAwait(false))
        {
            count++;
            if (r.ChainSeq != expected)
                return Broken(r, r.ChainSeq > expected ? $"events {expected}..{r.ChainSeq - 1} are missing before this one" : "duplicate chain position");
            if (r.PrevHash != prev) return Broken(r, "prev_hash does not match the previous event's hash (rows deleted, inserted or reordered)");
            if (HashOf(r) != r.Hash) return Broken(r, "hash does not match the event's content (the row was edited)");
            prev = r.Hash;
            last = r;
            expected++;
        }
        var headSeq = head?.LastSeq ?? 0;
        if (headSeq != expected - 1 || head?.LastHash != prev)
        {
            return new AuditVerification(tenantId, false, count, last?.Id, last?.ChainSeq,
                $"the chain ends at position {expected - 1} but {headSeq} events were appended (the newest events were deleted)");
        }
        return new AuditVerification(tenantId, true, count, null, null, null);

        AuditVerification Broken(AuditEventRow r, string reason) => new(tenantId, false, count, r.Id, r.ChainSeq, reason);
    }

    public async Task<long> PruneBeforeAsync(DateTime cutoff, CancellationToken ct, string? tenantId = null)
    {
        long pruned = 0;
        foreach (var tenant in tenantId is null ? await ChainedTenantsAsync(ct).ConfigureAwait(false) : [tenantId])
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            await using var tx = await db.BeginStoreTransactionAsync(ct).ConfigureAwait(false);
            // Lock the head first (as appends do), so the checkpoint and the deletion see one chain.
            await db.Database.ExecuteSqlInterpolatedAsync($"UPDATE audit_chain_heads SET last_seq = last_seq WHERE tenant_id = {tenant}", ct).ConfigureAwait(false);
            var last = await db.AuditEvents.AsNoTracking().Where(e => e.TenantId == tenant && e.ChainSeq != null && e.OccurredAt < cutoff)
                .OrderByDescending(e => e.ChainSeq).Select(e => new { e.ChainSeq, e.Hash }).FirstOrDefaultAsync(ct).ConfigureAwait(false);
            if (last is null)
            {
                await tx.CommitAsync(ct).ConfigureAwait(false);
                continue;
            }
            var seq = last.ChainSeq!.Value;
            pruned += await db.AuditEvents.Where(e => e.TenantId == tenant && e.ChainSeq != null && e.ChainSeq <= seq).ExecuteDeleteAsync(ct).ConfigureAwait(false);
            var now = clock.GetUtcNow().UtcDateTime;
            await db.AuditChainHeads.Where(h => h.TenantId == tenant).ExecuteUpdateAsync(s => s
                .SetProperty(h => h.CheckpointSeq, seq).SetProperty(h => h.CheckpointHash, last.Hash).SetProperty(h => h.CheckpointAt, now), ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        return pruned;
    }

    public async Task<IReadOnlyList<string>> ChainedTenantsAsync(CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        return await db.AuditChainHeads.AsNoTracking().OrderBy(h => h.TenantId).Select(h => h.TenantId).ToListAsync(ct).ConfigureAwait(false);
    }

    public async Task<(IReadOnlyList<AuditEvent> Items, bool HasMore)> QueryAsync(AuditQuery q, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var rows = db.AuditEvents.AsNoTracking().Where(e => e.TenantId == q.TenantId);
        if (q.EventType is { } type) rows = rows.Where(e => e.EventType == type);
        if (q.Outcome is { } outcome) rows = rows.Where(e => e.Outcome == outcome);
        if (q.ActorId is { } actor) rows = rows.Where(e => e.ActorId == actor);
        if (q.ResourceType is { } rt) rows = rows.Where(e => e.ResourceType == rt);
        if (q.ResourceId is { } rid) rows = rows.Where(e => e.ResourceId == rid);
        if (q.Since is { } since) rows = rows.Where(e => e.OccurredAt >= since);
        if (q.Until is { } until) rows = rows.Where(e => e.OccurredAt < until);
        if (q.Before is { } b) rows = rows.Where(e => e.OccurredAt < b.OccurredAt || (e.OccurredAt == b.OccurredAt && e.Id < b.Id));
        var page = await rows.OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id).Take(q.Limit + 1).ToListAsync(ct).ConfigureAwait(false);
        var items = page.Take(q.Limit).Select(r => new AuditEvent(r.Id, r.TenantId, r.EventType, r.Outcome, r.ActorType, r.ActorId, r.ResourceType,
            r.ResourceId, r.RequestId, r.MetadataJson, r.OccurredAt, r.ChainSeq, r.PrevHash, r.Hash)).ToList();
        return (items, page.Count > q.Limit);
    }

    /// <summary>Seed redaction policy: values under sensitive keys are replaced, recursively, case-insensitively.</summary>
    private static object? RedactValue(object? value) => value switch
    {
        IReadOnlyDictionary<string, object?> nested => Redact(nested),
        string s => s,
        System.Collections.IEnumerable list => list.Cast<object?>().Select(RedactValue).ToList(),
        _ => value,
    };

    public static Dictionary<string, object?> Redact(IReadOnlyDictionary<string, object?> metadata)
    {
        var result = new Dictionary<string, object?>(metadata.Count);
        foreach (var (key, value) in metadata)
        {
            var lower = key.ToLowerInvariant();
            if (SensitiveKeyParts.Any(lower.Contains)) result[key] = "[REDACTED]";
            else result[key] = RedactValue(value);
        }
        return result;
    }
}

public sealed class EfDatabaseHealth(IDbContextFactory<NexusDbContext> factory) : IDatabaseHealth
{
    public async Task<bool> IsHealthyAsync(CancellationToken ct)
    {
        try
        {
            await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
            return await db.Database.CanConnectAsync(ct).ConfigureAwait(false);
        }
        catch (Exception)
        {
            return false;
        }
    }
}
