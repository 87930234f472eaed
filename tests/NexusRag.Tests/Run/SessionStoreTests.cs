using NexusRag.Core.Chat;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Run;

/// <summary>
/// The session store under concurrent writers, on the store of the pass (on SQLite its writes are group-committed by one
/// writer, each in its own savepoint; on PostgreSQL each is its own EF Core transaction): the same outcomes either way.
/// </summary>
public sealed class SessionStoreTests
{
    [Fact]
    public async Task Concurrent_opens_and_appends_all_land_and_a_failing_write_fails_only_its_caller()
    {
        using var app = new NexusAppFactory();
        await app.AdminForTenantAsync("t1");
        await app.AdminForTenantAsync("t2");
        var store = app.Service<ISessionStore>();
        var at = new DateTime(2026, 12, 2, 3, 4, 5, 678, DateTimeKind.Utc).AddTicks(90); // microseconds: what PostgreSQL keeps

        // 40 sessions opened at once by t1, then opened again by t1 and by t2.
        var sessions = Enumerable.Range(0, 40).Select(i => $"ss-{i}").ToList();
        Assert.All(await Task.WhenAll(sessions.Select(s => store.OpenAsync("t1", s, "docs", CancellationToken.None))), r => Assert.Equal(SessionOpenResult.Created, r));
        var again = await Task.WhenAll(sessions.SelectMany(s => new[] { store.OpenAsync("t1", s, "docs", CancellationToken.None), store.OpenAsync("t2", s, "docs", CancellationToken.None) }));
        Assert.Equal(sessions.SelectMany(_ => new[] { SessionOpenResult.Existing, SessionOpenResult.OtherTenant }), again);
        Assert.Equal("t1", await store.OwnerAsync("ss-7", CancellationToken.None));
        Assert.Null(await store.OwnerAsync("ss-none", CancellationToken.None));

        // 200 appends at once, one of them reusing a message id: that one fails, every other one is stored.
        var messages = Enumerable.Range(0, 200).Select(i => new MessageInfo($"m-{i}", "t1", sessions[i % 40], i % 2 == 0 ? "user" : "assistant",
            $"message {i} with ünïcödé", i % 3 == 0 ? null : $"{{\"n\":{i}}}", at.AddSeconds(i))).ToList();
        await store.AppendMessageAsync(messages[0], CancellationToken.None);
        var duplicate = messages[0] with { Content = "a second message with the first one's id" };
        var appends = messages.Skip(1).Select(m => store.AppendMessageAsync(m, CancellationToken.None)).ToList();
        var failing = store.AppendMessageAsync(duplicate, CancellationToken.None);
        await Assert.ThrowsAnyAsync<Exception>(() => failing);
        await Task.WhenAll(appends);

        foreach (var s in sessions)
        {
            var stored = await store.LastMessagesAsync("t1", s, 100, CancellationToken.None);
            var expected = messages.Where(m => m.SessionId == s).ToList();
            Assert.Equal(expected, stored); // every field, timestamps to the microsecond, oldest first; the duplicate left nothing
            Assert.Empty(await store.LastMessagesAsync("t2", s, 100, CancellationToken.None));
        }
    }
}
