using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Transactions;
using NexusRag.Storage.Entities;

namespace NexusRag.Storage.Stores;

/// <summary>
/// The <c>outbox</c> table. Rows are claimed like jobs: a conditional UPDATE on (id, lease) per row on SQLite, one
/// <c>FOR UPDATE SKIP LOCKED</c> statement on PostgreSQL; delivery and failure are conditional on the lease.
/// </summary>
public sealed class EfOutbox(IDbContextFactory<NexusDbContext> factory, TimeProvider clock) : IOutbox
{
    public async Task EnqueueAsync(OutboxMessage message, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        db.Outbox.Add(new OutboxRow
        {
            TenantId = message.TenantId, Topic = message.Topic, PayloadJson = message.PayloadJson, Status = OutboxRow.Pending,
            CreatedAt = now, AvailableAt = now,
        });
        await db.SaveChangesAsync(ct).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<OutboxRecord>> ClaimAsync(string dispatcherId, int max, TimeSpan lease, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var until = now.Add(lease);
        List<long> ids;
        if (db.Database.IsNpgsql())
        {
            ids = await db.Database.SqlQuery<long>($"""
                UPDATE outbox SET lease_owner = {dispatcherId}, lease_expires_at = {until}, attempts = attempts + 1
                WHERE id IN (SELECT id FROM outbox
                             WHERE status = 'pending' AND available_at <= {now} AND (lease_expires_at IS NULL OR lease_expires_at < {now})
                             ORDER BY id LIMIT {max}
                             FOR UPDATE SKIP LOCKED)
                RETURNING id AS "Value"
                """).ToListAsync(ct).ConfigureAwait(false);
        }
        else
        {
            var candidates = await db.Outbox.AsNoTracking()
                .Where(o => o.Status == OutboxRow.Pending && o.AvailableAt <= now && (o.LeaseExpiresAt == null || o.LeaseExpiresAt < now))
                .OrderBy(o => o.Id).Select(o => new { o.Id, o.LeaseOwner, o.Attempts }).Take(max).ToListAsync(ct).ConfigureAwait(false);
            ids = [];
            foreach (var c in candidates)
            {
                // Conditional on the row being exactly as read: two dispatchers racing for a row cannot both win it.
                var n = await db.Outbox.Where(o => o.Id == c.Id && o.Attempts == c.Attempts && o.LeaseOwner == c.LeaseOwner && o.Status == OutboxRow.Pending)
                    .ExecuteUpdateAsync(s => s.SetProperty(o => o.LeaseOwner, dispatcherId).SetProperty(o => o.LeaseExpiresAt, until)
                        .SetProperty(o => o.Attempts, o => o.Attempts + 1), ct).ConfigureAwait(false);
                if (n == 1) ids.Add(c.Id);
            }
        }
        if (ids.Count == 0) return [];
        var rows = await db.Outbox.AsNoTracking().Where(o => ids.Contains(o.Id)).OrderBy(o => o.Id).ToListAsync(ct).ConfigureAwait(false);
        return rows.Select(r => new OutboxRecord(r.Id, r.TenantId, r.Topic, r.PayloadJson, r.Attempts, r.CreatedAt)).ToList();
    }

    public async Task<bool> MarkDeliveredAsync(long id, string dispatcherId, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        return await db.Outbox.Where(o => o.Id == id && o.LeaseOwner == dispatcherId && o.Status == OutboxRow.Pending && o.LeaseExpiresAt >= now)
            .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, OutboxRow.Delivered).SetProperty(o => o.DeliveredAt, now)
                .SetProperty(o => o.LeaseOwner, (string?)null).SetProperty(o => o.LeaseExpiresAt, (DateTime?)null), ct).ConfigureAwait(false) == 1;
    }

    public async Task<bool> MarkFailedAsync(long id, string dispatcherId, string error, DateTime? retryAt, CancellationToken ct)
    {
        await using var db = await factory.CreateDbContextAsync(ct).ConfigureAwait(false);
        var now = clock.GetUtcNow().UtcDateTime;
        var clipped = error.Length > 2000 ? error[..2000] : error;
        return await db.Outbox.Where(o => o.Id == id && o.LeaseOwner == dispatcherId && o.Status == OutboxRow.Pending)
            .ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, retryAt is null ? OutboxRow.Dead : OutboxRow.Pending)
                .SetProperty(o => o.AvailableAt, retryAt ?? now).SetProperty(o => o.LastError, clipped)
                .SetProperty(o => o.LeaseOwner, (string?)null).SetProperty(o => o.LeaseExpiresAt, (DateTime?)null), ct).ConfigureAwait(false) == 1;
    }
}
