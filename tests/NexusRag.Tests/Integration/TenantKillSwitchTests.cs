using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Storage;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>A tenant admin pausing its own tenant: it only ever affects that tenant.</summary>
public sealed class TenantKillSwitchTests
{
    private static Dictionary<string, object> Switches(string name, bool on) => new() { ["kill_switches"] = new Dictionary<string, bool> { [name] = on } };

    [Fact]
    public async Task Pausing_runs_and_ingestion_for_one_tenant_leaves_another_tenant_and_the_platform_untouched()
    {
        using var app = new NexusAppFactory();
        var a = await app.AdminForTenantAsync("pause-a");
        var b = await app.AdminForTenantAsync("pause-b");

        var paused = await (await a.PatchAsJsonAsync("/v1/self-serve/killswitches", Switches("kill.run", true))).DataAsync();
        Assert.True(paused.GetProperty("kill_switches").GetProperty("kill.run").GetBoolean());
        await (await a.PatchAsJsonAsync("/v1/self-serve/killswitches", Switches("kill.ingest", true))).DataAsync();

        var run = await a.PostAsJsonAsync("/v1/run", new { session_id = "pa-1", corpus_id = "docs", message = "hello" });
        await run.AssertErrorAsync(503, "FEATURE_DISABLED");
        Assert.Equal("tenant", (await run.JsonAsync()).GetProperty("error").GetProperty("details").GetProperty("scope").GetString());
        await (await a.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = "x" })).AssertErrorAsync(503, "FEATURE_DISABLED");

        // Tenant B and the platform: unaffected.
        Assert.Equal(HttpStatusCode.OK, (await b.PostAsJsonAsync("/v1/run", new { session_id = "pb-1", corpus_id = "docs", message = "hello" })).StatusCode);
        await b.IngestTextAsync("docs", "B keeps ingesting.", "b-doc");
        await b.WaitForDocumentAsync("b-doc");
        var own = await (await b.GetAsync("/v1/self-serve/killswitches")).DataAsync();
        Assert.False(own.GetProperty("kill_switches").GetProperty("kill.run").GetBoolean());
        var global = await (await b.GetAsync("/v1/admin/rollouts/killswitches")).DataAsync();
        Assert.False(global.GetProperty("kill_switches").GetProperty("kill.run").GetBoolean());
        Assert.DoesNotContain("pause-a", global.GetRawText(), StringComparison.Ordinal);

        // Audited in A's chain; bad patches refused; readers cannot pause.
        var (events, _) = await app.Service<IAuditLog>().QueryAsync(new AuditQuery("pause-a", "rollouts.tenant_killswitches.updated", null, null, null, null, null, null, 10, null), default);
        Assert.Equal(2, events.Count);
        await (await a.PatchAsJsonAsync("/v1/self-serve/killswitches", Switches("kill.everything", true))).AssertErrorAsync(422, "VALIDATION_ERROR");
        var reader = app.ClientWithKey(await app.CreateKeyAsync("pause-a", Role.Reader));
        await (await reader.PatchAsJsonAsync("/v1/self-serve/killswitches", Switches("kill.run", false))).AssertErrorAsync(403, "FORBIDDEN");

        await (await a.PatchAsJsonAsync("/v1/self-serve/killswitches", Switches("kill.run", false))).DataAsync();
        Assert.Equal(HttpStatusCode.OK, (await a.PostAsJsonAsync("/v1/run", new { session_id = "pa-2", corpus_id = "docs", message = "hello" })).StatusCode);
    }

    [Fact]
    public async Task A_paused_tenants_queued_jobs_are_held_without_using_attempts_and_run_when_it_resumes()
    {
        using var dir = new TempDir("nexusrag-tenant-hold");
        string keyA;
        using (var idle = new NexusAppFactory(new() { ["NexusRag:Ingestion:WorkerConcurrency"] = "0" }, dataDir: dir.Path))
        {
            keyA = await idle.CreateKeyAsync("hold-a", Role.Admin);
            var a = idle.ClientWithKey(keyA);
            await (await a.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).DataAsync(201);
            await a.IngestTextAsync("docs", "Queued before the pause.", "held-doc");
            await (await a.PatchAsJsonAsync("/v1/self-serve/killswitches", Switches("kill.ingest", true))).DataAsync();
        }

        using var live = new NexusAppFactory(dataDir: dir.Path);
        var b = await live.AdminForTenantAsync("hold-b");
        await b.IngestTextAsync("docs", "Not paused.", "free-doc");
        await b.WaitForDocumentAsync("free-doc"); // the worker is running
        await Task.Delay(500);                   // several polls
        var a2 = live.ClientWithKey(keyA);
        Assert.Equal("queued", (await (await a2.GetAsync("/v1/documents/held-doc")).DataAsync()).GetProperty("status").GetString());
        await using (var db = await live.Service<IDbContextFactory<NexusDbContext>>().CreateDbContextAsync())
            Assert.Equal(0, (await db.Jobs.SingleAsync(j => j.DocumentId == "held-doc")).Attempts);

        await (await a2.PatchAsJsonAsync("/v1/self-serve/killswitches", Switches("kill.ingest", false))).DataAsync();
        await a2.WaitForDocumentAsync("held-doc");
    }
}
