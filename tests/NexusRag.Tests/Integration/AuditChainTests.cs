using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public class AuditChainTests
{
    private static async Task AppendAsync(NexusAppFactory app, string tenant, int n, string type = "documents.deleted")
    {
        var log = app.Service<IAuditLog>();
        for (var i = 0; i < n; i++)
            await log.AppendAsync(new AuditEntry(tenant, type, "success", "api_key", "key_1", "document", $"doc-{i}", $"req-{i}"), default);
    }

    private static async Task SqlAsync(NexusAppFactory app, string sql)
    {
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        await db.Database.ExecuteSqlRawAsync(sql);
    }

    private static async Task<long> IdAtAsync(NexusAppFactory app, string tenant, long seq)
    {
        await using var db = await app.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync();
        return await db.AuditEvents.Where(e => e.TenantId == tenant && e.ChainSeq == seq).Select(e => e.Id).SingleAsync();
    }

    [Fact]
    public async Task An_untouched_chain_verifies_and_each_kind_of_tampering_is_caught_at_its_first_broken_link()
    {
        using var app = new NexusAppFactory();
        var log = app.Service<IAuditLog>();
        await AppendAsync(app, "acme", 6);
        var ok = await log.VerifyAsync("acme", default);
        Assert.True(ok.Ok, ok.Reason);
        Assert.Equal(6, ok.Events);

        // Edit: the edited row is named.
        await SqlAsync(app, "UPDATE audit_events SET outcome = 'failure' WHERE tenant_id = 'acme' AND chain_seq = 3");
        var edited = await log.VerifyAsync("acme", default);
        Assert.False(edited.Ok);
        Assert.Equal(await IdAtAsync(app, "acme", 3), edited.BrokenEventId);
        Assert.Contains("edited", edited.Reason);
        await SqlAsync(app, "UPDATE audit_events SET outcome = 'success' WHERE tenant_id = 'acme' AND chain_seq = 3");
        Assert.True((await log.VerifyAsync("acme", default)).Ok); // restored exactly: verifies again

        // Reorder: two rows swap positions.
        var (id2, id3) = (await IdAtAsync(app, "acme", 2), await IdAtAsync(app, "acme", 3));
        await SqlAsync(app, $"UPDATE audit_events SET chain_seq = -1 WHERE id = {id2}");
        await SqlAsync(app, $"UPDATE audit_events SET chain_seq = 2 WHERE id = {id3}");
        await SqlAsync(app, $"UPDATE audit_events SET chain_seq = 3 WHERE id = {id2}");
        var reordered = await log.VerifyAsync("acme", default);
        Assert.False(reordered.Ok);
        Assert.Equal(id3, reordered.BrokenEventId);
        await SqlAsync(app, $"UPDATE audit_events SET chain_seq = -1 WHERE id = {id3}");
        await SqlAsync(app, $"UPDATE audit_events SET chain_seq = 2 WHERE id = {id2}");
        await SqlAsync(app, $"UPDATE audit_events SET chain_seq = 3 WHERE id = {id3}");
        Assert.True((await log.VerifyAsync("acme", default)).Ok);

        // Delete in the middle: the event after the gap is named.
        var id5 = await IdAtAsync(app, "acme", 5);
        await SqlAsync(app, "DELETE FROM audit_events WHERE tenant_id = 'acme' AND chain_seq = 4");
        var deleted = await log.VerifyAsync("acme", default);
        Assert.False(deleted.Ok);
        Assert.Equal(id5, deleted.BrokenEventId);
        Assert.Contains("missing", deleted.Reason);
    }

    [Fact]
    public async Task Deleting_the_newest_events_is_caught_by_the_chain_head()
    {
        using var app = new NexusAppFactory();
        await AppendAsync(app, "acme", 4);
        await SqlAsync(app, "DELETE FROM audit_events WHERE tenant_id = 'acme' AND chain_seq = 4");
        var v = await app.Service<IAuditLog>().VerifyAsync("acme", default);
        Assert.False(v.Ok);
        Assert.Contains("newest events were deleted", v.Reason);
    }

    [Fact]
    public async Task Concurrent_writers_extend_one_unbroken_chain()
    {
        using var app = new NexusAppFactory();
        var log = app.Service<IAuditLog>();
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            log.AppendAsync(new AuditEntry("busy", "run.invoked", "success", "api_key", $"k{i % 3}", "session", $"s{i}", $"r{i}"), default))));
        var v = await log.VerifyAsync("busy", default);
        Assert.True(v.Ok, v.Reason);
        Assert.Equal(40, v.Events);
    }

    [Fact]
    public async Task Two_hundred_concurrent_appends_on_two_replicas_are_group_committed_into_gapless_verifiable_chains()
    {
        // Two servers (as two replicas would) on one store: each groups its own appends, the head row orders the groups.
        using var dir = new TempDir("nexusrag-groupcommit");
        using var a = new NexusAppFactory(dataDir: dir.Path);
        using var b = new NexusAppFactory(dataDir: dir.Path);
        var logs = new[] { a.Service<IAuditLog>(), b.Service<IAuditLog>() };
        var tenants = new[] { "gc-one", "gc-two", "gc-three" };
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() => logs[i % 2].AppendAsync(
            new AuditEntry(tenants[i % 3], "run.invoked", "success", "api_key", $"k{i}", "session", $"s{i}", $"r{i}",
                new Dictionary<string, object?> { ["i"] = i }), default))));
        await using var db = await a.Service<Microsoft.EntityFrameworkCore.IDbContextFactory<Storage.NexusDbContext>>().CreateDbContextAsync();
        foreach (var t in tenants)
        {
            var v = await logs[0].VerifyAsync(t, default);
            Assert.True(v.Ok, v.Reason);
            var expected = Enumerable.Range(0, 200).Count(i => i % 3 == Array.IndexOf(tenants, t));
            Assert.Equal(expected, v.Events);
            var seqs = db.AuditEvents.Where(e => e.TenantId == t).Select(e => e.ChainSeq!.Value).OrderBy(x => x).ToList();
            Assert.Equal(Enumerable.Range(1, expected).Select(x => (long)x), seqs); // no gaps, no duplicates
            var requests = db.AuditEvents.Where(e => e.TenantId == t).Select(e => e.RequestId).ToList();
            Assert.Equal(expected, requests.Distinct().Count()); // every append landed exactly once
        }
    }

    [Fact]
    public async Task Events_api_filters_pages_redacts_and_is_tenant_scoped_and_verify_endpoint_and_cli_report_breaks()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("acme");
        await app.SetPlanAsync("acme", "pro"); // audit and ops access are pro features
        var log = app.Service<IAuditLog>();
        await log.AppendAsync(new AuditEntry("acme", "corpora.updated", "success", "api_key", "key_x", "corpus", "c9", "req-z",
            new Dictionary<string, object?>
            {
                ["action"] = "patched", ["Api_Key"] = "nrgk_secret", ["nested"] = new Dictionary<string, object?> { ["user_token"] = "t", ["ok"] = 1 },
                ["items"] = new object?[] { new Dictionary<string, object?> { ["content"] = "raw text", ["n"] = 2 } },
            }), default);
        await AppendAsync(app, "acme", 5);
        await AppendAsync(app, "other", 3);

        var page1 = await (await admin.GetAsync("/v1/audit/events?event_type=documents.deleted&limit=2")).DataAsync();
        Assert.Equal(2, page1.GetProperty("items").GetArrayLength());
        Assert.All(page1.GetProperty("items").EnumerateArray(), e => Assert.Equal("documents.deleted", e.GetProperty("event_type").GetString()));
        var cursor = page1.GetProperty("page").GetProperty("next_cursor").GetString();
        var ids = page1.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetInt64()).ToList();
        while (cursor is not null)
        {
            var next = await (await admin.GetAsync($"/v1/audit/events?event_type=documents.deleted&limit=2&cursor={Uri.EscapeDataString(cursor)}")).DataAsync();
            ids.AddRange(next.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetInt64()));
            cursor = next.GetProperty("page").GetProperty("next_cursor").GetString();
        }
        Assert.Equal(5, ids.Distinct().Count());
        Assert.Equal(ids.OrderByDescending(i => i), ids); // newest first

        var corpusEvent = (await (await admin.GetAsync("/v1/audit/events?resource_id=c9")).DataAsync()).GetProperty("items")[0];
        var meta = corpusEvent.GetProperty("metadata");
        Assert.Equal("patched", meta.GetProperty("action").GetString());
        Assert.Equal("[REDACTED]", meta.GetProperty("Api_Key").GetString());
        Assert.Equal("[REDACTED]", meta.GetProperty("nested").GetProperty("user_token").GetString());
        Assert.Equal(1, meta.GetProperty("nested").GetProperty("ok").GetInt32());
        Assert.Equal("[REDACTED]", meta.GetProperty("items")[0].GetProperty("content").GetString());
        Assert.Equal(64, corpusEvent.GetProperty("hash").GetString()!.Length);

        // Tenant scope: acme never sees other's events; a reader may not read the log.
        var all = await (await admin.GetAsync("/v1/audit/events?limit=200")).DataAsync();
        // acme's chain positions 1..n, each once: "other"'s events (positions 1..3 of its own chain) would repeat them.
        var seqs = all.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("chain_seq").GetInt64()).Order().ToList();
        Assert.Equal(Enumerable.Range(1, seqs.Count).Select(i => (long)i), seqs);
        var reader = app.ClientWithKey(await app.CreateKeyAsync("acme", Role.Reader));
        await (await reader.GetAsync("/v1/audit/events")).AssertErrorAsync(403, "FORBIDDEN");
        await (await admin.GetAsync("/v1/audit/events?limit=0")).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await admin.GetAsync("/v1/audit/events?since=yesterday")).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await admin.GetAsync("/v1/audit/events?tenant_id=other")).AssertErrorAsync(400, "UNKNOWN_FIELD");

        var verify = await (await admin.GetAsync("/v1/ops/audit/verify")).DataAsync();
        Assert.True(verify.GetProperty("ok").GetBoolean());
        await SqlAsync(app, "UPDATE audit_events SET actor_id = 'intruder' WHERE tenant_id = 'acme' AND chain_seq = 2");
        verify = await (await admin.GetAsync("/v1/ops/audit/verify")).DataAsync();
        Assert.False(verify.GetProperty("ok").GetBoolean());
        Assert.Equal(2, verify.GetProperty("broken_chain_seq").GetInt64());

        var (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(app.DataDir), "audit", "verify");
        Assert.Equal(1, code);
        Assert.Contains("BROKEN  acme", output);
        Assert.Contains("ok      other: 3 events", output);
        (code, output) = await CliRunner.RunAsync(TestStore.SettingsFor(app.DataDir), "audit", "verify", "--tenant", "other");
        Assert.Equal(0, code);
    }
}

public class AuditTaxonomyTests
{
    [Fact]
    public async Task Runs_ops_views_and_successful_access_are_audited_without_message_content()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("acme");
        await app.SetPlanAsync("acme", "pro");
        const string secretQuestion = "What is the launch code for project nightingale?";
        await Run.SseClient.RunAsync(admin, new { session_id = "s-aud", corpus_id = "docs", message = secretQuestion });
        await admin.GetAsync("/v1/ops/audit/verify");

        var events = await (await admin.GetAsync("/v1/audit/events?limit=200")).DataAsync();
        var text = events.GetRawText();
        var types = events.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("event_type").GetString()).ToHashSet();
        Assert.Contains("run.invoked", types);
        Assert.Contains("ops.viewed", types);
        Assert.Contains("auth.access.success", types);
        Assert.Contains("corpora.updated", types);
        Assert.DoesNotContain("nightingale", text);
        var run = events.GetProperty("items").EnumerateArray().First(e => e.GetProperty("event_type").GetString() == "run.invoked");
        Assert.Equal("s-aud", run.GetProperty("resource_id").GetString());
        Assert.Equal(secretQuestion.Length, run.GetProperty("metadata").GetProperty("message_chars").GetInt32());
    }
}
