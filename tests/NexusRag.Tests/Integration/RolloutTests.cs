using System.Net;
using System.Net.Http.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

public class RolloutTests
{
    [Fact]
    public async Task Kill_switches_stop_runs_and_ingestion_with_503_and_are_audited_and_reversible()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        var initial = await (await admin.GetAsync("/v1/admin/rollouts/killswitches")).DataAsync();
        Assert.False(initial.GetProperty("kill_switches").GetProperty("kill.run").GetBoolean());
        Assert.False(initial.GetProperty("kill_switches").GetProperty("kill.ingest").GetBoolean());

        var op = await app.OperatorAsync();
        var patched = await (await op.PatchAsJsonAsync("/v1/admin/rollouts/killswitches", new Dictionary<string, object> { ["kill_switches"] = new Dictionary<string, bool> { ["kill.run"] = true, ["kill.ingest"] = true } })).DataAsync();
        Assert.True(patched.GetProperty("kill_switches").GetProperty("kill.run").GetBoolean());

        var run = await admin.PostAsJsonAsync("/v1/run", new { session_id = "s1", corpus_id = "docs", message = "hello" });
        await run.AssertErrorAsync(503, "FEATURE_DISABLED");
        Assert.Equal("kill.run", (await run.JsonAsync()).GetProperty("error").GetProperty("details").GetProperty("kill_switch").GetString());
        await (await admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = "x" })).AssertErrorAsync(503, "FEATURE_DISABLED");
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/corpora")).StatusCode); // reads keep working

        // A platform-wide change is recorded in the platform's own chain, with the operator as actor.
        var (events, _) = await app.Service<IAuditLog>().QueryAsync(new AuditQuery(Principal.PlatformTenant, "rollouts.killswitches.updated", null, null, null, null, null, null, 10, null), default);
        Assert.Equal("operator", Assert.Single(events).ActorType);

        await op.PatchAsJsonAsync("/v1/admin/rollouts/killswitches", new Dictionary<string, object> { ["kill_switches"] = new Dictionary<string, bool> { ["kill.run"] = false, ["kill.ingest"] = false } });
        await admin.IngestTextAsync("docs", "Back on.", "on");
        await admin.WaitForDocumentAsync("on");
    }

    [Fact]
    public async Task A_switch_flipped_on_one_replica_reaches_another_within_seconds()
    {
        using var dir = new TempDir("nexusrag-rollout-replicas");
        using var one = new NexusAppFactory(dataDir: dir.Path);
        using var two = new NexusAppFactory(dataDir: dir.Path);
        var key = await one.CreateKeyAsync("t1", Role.Admin);
        var a = one.ClientWithKey(key);
        var b = two.ClientWithKey(key);
        (await a.PostAsJsonAsync("/v1/corpora", new { id = "docs" })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Accepted, (await b.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = "before" })).StatusCode);
        await (await one.OperatorAsync()).PatchAsJsonAsync("/v1/admin/rollouts/killswitches", new Dictionary<string, object> { ["kill_switches"] = new Dictionary<string, bool> { ["kill.ingest"] = true } });
        var deadline = DateTime.UtcNow.AddSeconds(10);
        HttpStatusCode status;
        do
        {
            status = (await b.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = $"probe {Guid.NewGuid()}" })).StatusCode;
            if (status == HttpStatusCode.ServiceUnavailable) break;
            await Task.Delay(200);
        } while (DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
    }

    [Fact]
    public async Task Canary_percentages_and_bad_patches()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        var op = await app.OperatorAsync();
        var canary = await (await op.PatchAsJsonAsync("/v1/admin/rollouts/canary", new Dictionary<string, object> { ["canary_percentages"] = new Dictionary<string, int> { ["rollout.tts"] = 5 } })).DataAsync();
        Assert.Equal(5, canary.GetProperty("canary_percentages").GetProperty("rollout.tts").GetInt32());
        Assert.Equal(5, (await (await admin.GetAsync("/v1/admin/rollouts/canary")).DataAsync()).GetProperty("canary_percentages").GetProperty("rollout.tts").GetInt32());

        await (await op.PatchAsJsonAsync("/v1/admin/rollouts/canary", new Dictionary<string, object> { ["canary_percentages"] = new Dictionary<string, int> { ["rollout.tts"] = 101 } })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await op.PatchAsJsonAsync("/v1/admin/rollouts/killswitches", new Dictionary<string, object> { ["kill_switches"] = new Dictionary<string, string> { ["kill.everything"] = "yes" } })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await op.PatchAsJsonAsync("/v1/admin/rollouts/killswitches", new { kill_switches = new { }, extra = 1 })).AssertErrorAsync(400, "UNKNOWN_FIELD");
        // A tenant admin reads the platform's switches but never changes them (they would stop every tenant).
        await (await admin.PatchAsJsonAsync("/v1/admin/rollouts/canary", new Dictionary<string, object> { ["canary_percentages"] = new Dictionary<string, int> { ["rollout.tts"] = 50 } })).AssertErrorAsync(403, "FORBIDDEN");
        await (await admin.PatchAsJsonAsync("/v1/admin/rollouts/killswitches", new Dictionary<string, object> { ["kill_switches"] = new Dictionary<string, bool> { ["kill.run"] = true } })).AssertErrorAsync(403, "FORBIDDEN");
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/admin/rollouts/killswitches")).StatusCode);
        var editor = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Editor));
        await (await editor.GetAsync("/v1/admin/rollouts/killswitches")).AssertErrorAsync(403, "FORBIDDEN");
    }
}
