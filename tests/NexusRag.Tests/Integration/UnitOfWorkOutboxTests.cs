using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Corpora;
using NexusRag.Core.Transactions;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>A business change, its audit event and its outbox row commit together; outbox rows are delivered at least once.</summary>
public sealed class UnitOfWorkOutboxTests : IDisposable
{
    private readonly NexusAppFactory _app = new(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0", ["NexusRag:Outbox:DispatcherEnabled"] = "false" });
    public void Dispose() => _app.Dispose();

    private sealed class Boom : Exception;

    private async Task<(bool Corpus, int Audit, int Outbox)> StateAsync(string tenant, string corpus)
    {
        await using var db = await _app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        return (await db.Corpora.AnyAsync(c => c.TenantId == tenant && c.Id == corpus),
            await db.AuditEvents.CountAsync(e => e.TenantId == tenant && e.ResourceId == corpus),
            await db.Outbox.CountAsync(o => o.TenantId == tenant && o.Topic == "corpus.created"));
    }

    private Task CreateWithEventsAsync(string tenant, string corpus, bool fail) =>
        _app.Service<IUnitOfWork>().RunAsync(async ct =>
        {
            await _app.Service<ICorpusStore>().CreateAsync(tenant, corpus, corpus, "{}", ct);
            await _app.Service<IAuditLog>().AppendAsync(new AuditEntry(tenant, "corpora.updated", "success", "test", "t", "corpus", corpus, null), ct);
            await _app.Service<IOutbox>().EnqueueAsync(new OutboxMessage(tenant, "corpus.created", "{}"), ct);
            if (fail) throw new Boom();
            return 0;
        }, CancellationToken.None);

    [Fact]
    public async Task The_change_its_audit_event_and_its_outbox_row_roll_back_together_and_commit_together()
    {
        _ = _app.CreateClient();
        await Assert.ThrowsAsync<Boom>(() => CreateWithEventsAsync("uow", "rolled-back", fail: true));
        Assert.Equal((false, 0, 0), await StateAsync("uow", "rolled-back"));
        // The audit chain is intact after the rollback (the head was bumped inside the rolled-back transaction too).
        Assert.True((await _app.Service<IAuditLog>().VerifyAsync("uow", default)).Ok);

        await CreateWithEventsAsync("uow", "kept", fail: false);
        Assert.Equal((true, 1, 1), await StateAsync("uow", "kept"));
        Assert.True((await _app.Service<IAuditLog>().VerifyAsync("uow", default)).Ok);
    }

    [Fact]
    public async Task After_commit_actions_run_once_the_unit_commits_never_on_rollback_and_at_once_outside_one()
    {
        _ = _app.CreateClient();
        var uow = _app.Service<IUnitOfWork>();
        var ran = new List<string>();
        await uow.RunAsync(async ct =>
        {
            uow.AfterCommit(() => ran.Add("committed"));
            await _app.Service<IOutbox>().EnqueueAsync(new OutboxMessage("ac", "after.commit", "{}"), ct);
            Assert.Empty(ran); // not before the commit
            return 0;
        }, default);
        await Assert.ThrowsAsync<Boom>(() => uow.RunAsync<int>(_ =>
        {
            uow.AfterCommit(() => ran.Add("rolled back"));
            throw new Boom();
        }, default));
        uow.AfterCommit(() => ran.Add("no unit"));
        Assert.Equal(["committed", "no unit"], ran);
    }

    [Fact]
    public async Task A_refused_create_over_http_leaves_no_audit_event_behind()
    {
        // The audit event is written in the create's unit of work: a create refused with CORPUS_EXISTS commits nothing.
        var admin = await _app.AdminForTenantAsync("uow-http", corpus: null);
        await (await admin.PostAsync("/v1/corpora", System.Net.Http.Json.JsonContent.Create(new { id = "c1" }))).DataAsync(201);
        await (await admin.PostAsync("/v1/corpora", System.Net.Http.Json.JsonContent.Create(new { id = "c1" }))).AssertErrorAsync(409, "CORPUS_EXISTS");
        await using var db = await _app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        Assert.Equal(1, await db.AuditEvents.CountAsync(e => e.TenantId == "uow-http" && e.EventType == "corpora.updated" && e.ResourceId == "c1"));
    }

    /// <summary>A subscriber that records deliveries (a real implementation of the port, not a mock); optionally hangs on one topic.</summary>
    private sealed class Recorder(string? hangOn = null) : IOutboxSubscriber
    {
        public System.Collections.Concurrent.ConcurrentBag<(string Dispatcher, long Id)> Delivered { get; } = [];
        public string Name { get; init; } = "";
        public bool Handles(string topic) => true;

        /// <summary>Completed when a delivery that hangs has started (its row is claimed, under lease).</summary>
        public TaskCompletionSource Hanging { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task DeliverAsync(OutboxRecord message, CancellationToken ct)
        {
            if (message.Topic == hangOn)
            {
                Hanging.TrySetResult();
                await Task.Delay(Timeout.Infinite, ct); // "dies" mid-delivery: never returns
            }
            Delivered.Add((Name, message.Id));
        }
    }

    private OutboxDispatcher Dispatcher(IOutboxSubscriber subscriber, int leaseMs = 30_000) =>
        new(_app.Service<IOutbox>(), [subscriber], Options.Create(new OutboxOptions { LeaseMs = leaseMs, BatchSize = 7 }), TimeProvider.System,
            NullLogger<OutboxDispatcher>.Instance);

    [Fact]
    public async Task Two_competing_dispatchers_deliver_each_row_exactly_once()
    {
        _ = _app.CreateClient();
        var outbox = _app.Service<IOutbox>();
        for (var i = 0; i < 60; i++) await outbox.EnqueueAsync(new OutboxMessage("ob", "race.test", $$"""{"i":{{i}}}"""), default);
        var r1 = new Recorder { Name = "one" };
        var r2 = new Recorder { Name = "two" };
        var d1 = Dispatcher(r1);
        var d2 = Dispatcher(r2);
        async Task Drain(OutboxDispatcher d, string id)
        {
            while (await d.DispatchOnceAsync(id, default) > 0) { }
        }
        await Task.WhenAll(Task.Run(() => Drain(d1, "one")), Task.Run(() => Drain(d2, "two")));

        await using var db = await _app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var ids = await db.Outbox.Where(o => o.Topic == "race.test").Select(o => o.Id).ToListAsync();
        var delivered = r1.Delivered.Concat(r2.Delivered).Select(d => d.Id).ToList();
        Assert.Equal(ids.Order(), delivered.Order());           // every row, each exactly once
        Assert.Equal(60, await db.Outbox.CountAsync(o => o.Topic == "race.test" && o.Status == "delivered"));
    }

    [Fact]
    public async Task A_row_whose_dispatcher_died_mid_delivery_is_delivered_again_after_its_lease()
    {
        _ = _app.CreateClient();
        await _app.Service<IOutbox>().EnqueueAsync(new OutboxMessage("ob2", "dies.test", "{}"), default);
        using var killed = new CancellationTokenSource();
        // The lease is long enough that a slow machine still checks it while it holds, and the checks wait for the claim
        // itself (not a fixed pause that a busy machine can outrun).
        const int leaseMs = 2_000;
        var hanging = new Recorder(hangOn: "dies.test");
        var dying = Dispatcher(hanging, leaseMs);
        var first = dying.DispatchOnceAsync("dying", killed.Token);
        await hanging.Hanging.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var claimed = System.Diagnostics.Stopwatch.StartNew(); // the claim was before this: its lease ends within leaseMs from here
        // While the lease holds, nobody else takes the row.
        var survivorRecorder = new Recorder { Name = "survivor" };
        var survivor = Dispatcher(survivorRecorder);
        Assert.Equal(0, await survivor.DispatchOnceAsync("survivor", default));
        await killed.CancelAsync(); // the first dispatcher is gone without marking anything
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, leaseMs + 200 - claimed.ElapsedMilliseconds))); // lease expires
        Assert.Equal(1, await survivor.DispatchOnceAsync("survivor", default));
        Assert.Single(survivorRecorder.Delivered);
        await using var db = await _app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var row = await db.Outbox.SingleAsync(o => o.Topic == "dies.test");
        Assert.Equal(("delivered", 2), (row.Status, row.Attempts));
    }

    [Fact]
    public async Task A_failing_subscriber_retries_with_backoff_and_parks_the_row_as_dead()
    {
        _ = _app.CreateClient();
        await _app.Service<IOutbox>().EnqueueAsync(new OutboxMessage("ob3", "fails.test", "{}"), default);
        var failing = new Failing();
        var d = new OutboxDispatcher(_app.Service<IOutbox>(), [failing],
            Options.Create(new OutboxOptions { MaxAttempts = 2, RetryBackoffBaseMs = 1 }), TimeProvider.System, NullLogger<OutboxDispatcher>.Instance);
        Assert.Equal(1, await d.DispatchOnceAsync("f", default));
        await Task.Delay(50);
        Assert.Equal(1, await d.DispatchOnceAsync("f", default));
        Assert.Equal(0, await d.DispatchOnceAsync("f", default));
        await using var db = await _app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        var row = await db.Outbox.SingleAsync(o => o.Topic == "fails.test");
        Assert.Equal(("dead", 2, "webhook said no"), (row.Status, row.Attempts, row.LastError));
        Assert.Equal(2, failing.Calls);
    }

    private sealed class Failing : IOutboxSubscriber
    {
        public int Calls;
        public bool Handles(string topic) => topic == "fails.test";
        public Task DeliverAsync(OutboxRecord message, CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            throw new InvalidOperationException("webhook said no");
        }
    }
}
