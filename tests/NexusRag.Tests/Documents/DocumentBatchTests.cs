using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using NexusRag.Core.Auth;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Documents;

/// <summary>POST /v1/documents/batch: per-item results, partial failure, size limits, idempotency per document_id, tenant isolation.</summary>
public sealed class DocumentBatchTests
{
    private static object Item(string id, string text, string corpus = "docs", bool? overwrite = null) =>
        overwrite is null ? new { corpus_id = corpus, document_id = id, text } : new { corpus_id = corpus, document_id = id, text, overwrite };

    [Fact]
    public async Task A_batch_reports_each_item_and_a_bad_item_does_not_stop_the_others()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        var resp = await admin.PostAsJsonAsync("/v1/documents/batch", new object[]
        {
            Item("b1", "Tidal pools host anemones and crabs."),
            new { corpus_id = "docs", document_id = "b2" },                        // no text
            new { corpus_id = "docs", text = "An item without an id." },            // no document_id
            Item("b1", "The same id twice in one batch."),                          // duplicate id
            Item("b3", "A corpus that does not exist.", corpus: "nope"),
            new { corpus_id = "docs", document_id = "b4", text = "x", colour = "red" }, // unknown field
            Item("b5", "Mangroves shelter young fish."),
        });
        var data = await resp.DataAsync();
        Assert.Equal(7, data.GetProperty("items").GetInt32());
        Assert.Equal(2, data.GetProperty("accepted").GetInt32());
        Assert.Equal(5, data.GetProperty("failed").GetInt32());
        var results = data.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, 7), results.Select(r => r.GetProperty("index").GetInt32()));
        (string Result, int Status, string? Code) Of(int i) => (results[i].GetProperty("result").GetString()!, results[i].GetProperty("status").GetInt32(),
            results[i].GetProperty("error").ValueKind == JsonValueKind.Null ? null : results[i].GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(("accepted", 202, null), Of(0));
        Assert.Equal(("failed", 422, "VALIDATION_ERROR"), Of(1));
        Assert.Equal(("failed", 422, "VALIDATION_ERROR"), Of(2));
        Assert.Equal(("failed", 422, "VALIDATION_ERROR"), Of(3));
        Assert.Equal(("failed", 404, "NOT_FOUND"), Of(4));
        Assert.Equal(("failed", 400, "UNKNOWN_FIELD"), Of(5));
        Assert.Equal(("accepted", 202, null), Of(6));
        Assert.False(string.IsNullOrEmpty(results[0].GetProperty("job_id").GetString()));

        await admin.WaitForDocumentAsync("b1");
        await admin.WaitForDocumentAsync("b5");
        var chunks = await (await admin.GetAsync("/v1/documents/b1/chunks")).DataAsync();
        Assert.Equal("Tidal pools host anemones and crabs.", chunks[0].GetProperty("text").GetString()); // the first b1, not the duplicate
        await (await admin.GetAsync("/v1/documents/b2")).AssertErrorAsync(404);
    }

    [Fact]
    public async Task A_retried_batch_is_idempotent_per_document_id_and_changes_need_overwrite()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        var batch = Enumerable.Range(0, 20).Select(i => Item($"d{i:D2}", $"Document number {i} about lighthouses and tides.")).ToArray();
        var first = await (await admin.PostAsJsonAsync("/v1/documents/batch", batch)).DataAsync();
        Assert.Equal(20, first.GetProperty("accepted").GetInt32());
        for (var i = 0; i < 20; i++) await admin.WaitForDocumentAsync($"d{i:D2}");

        var again = await (await admin.PostAsJsonAsync("/v1/documents/batch", batch)).DataAsync();
        Assert.Equal(20, again.GetProperty("deduplicated").GetInt32());
        Assert.Equal(0, again.GetProperty("accepted").GetInt32());
        Assert.Equal(first.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("job_id").GetString()),
            again.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("job_id").GetString()));

        var changed = await (await admin.PostAsJsonAsync("/v1/documents/batch", new[] { Item("d00", "New text."), Item("d01", "New text too.", overwrite: true) })).DataAsync();
        var r = changed.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal("DOCUMENT_EXISTS", r[0].GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(409, r[0].GetProperty("status").GetInt32());
        Assert.Equal("accepted", r[1].GetProperty("result").GetString());
        var list = await (await admin.GetAsync("/v1/documents?corpus_id=docs&limit=100")).DataAsync();
        Assert.Equal(20, list.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task A_batch_commits_every_accepted_document_with_its_job_and_audit_event_and_the_chain_verifies()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        await app.SetPlanAsync("t1", "pro"); // audit access
        var batch = Enumerable.Range(0, 150).Select(i => Item($"e{i:D3}", $"Estuary note {i}: salt marsh, mudflat and heron number {i}.")).ToArray();
        var data = await (await admin.PostAsJsonAsync("/v1/documents/batch", batch)).DataAsync();
        Assert.Equal(150, data.GetProperty("accepted").GetInt32());
        var jobs = data.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("job_id").GetString()).ToList();
        Assert.Equal(150, jobs.Distinct().Count());

        // One audit event per document (the batch enqueues them in one transaction), chained without a gap.
        var seen = new HashSet<string>();
        string? cursor = null;
        do
        {
            var page = await (await admin.GetAsync("/v1/audit/events?event_type=documents.ingest.enqueued&limit=200" + (cursor is null ? "" : $"&cursor={cursor}"))).DataAsync();
            foreach (var e in page.GetProperty("items").EnumerateArray()) Assert.True(seen.Add(e.GetProperty("resource_id").GetString()!));
            cursor = page.GetProperty("page").GetProperty("next_cursor").GetString();
        } while (cursor is not null);
        Assert.Equal(batch.Select((_, i) => $"e{i:D3}").ToHashSet(), seen);
        Assert.True((await (await admin.GetAsync("/v1/ops/audit/verify")).DataAsync()).GetProperty("ok").GetBoolean());

        await admin.WaitForDocumentAsync("e149");
        for (var i = 0; i < 150; i += 37) await admin.WaitForDocumentAsync($"e{i:D3}");
        await admin.WaitForDocumentAsync("e077"); // the one searched for (jobs finish in any order)
        Assert.Equal("e077", (await admin.SearchAsync("docs", "note 77 heron", topK: 1))[0].GetProperty("document_id").GetString());
    }

    [Fact]
    public async Task Ndjson_limits_media_types_roles_and_tenants()
    {
        using var app = new NexusAppFactory();
        var admin = await app.AdminForTenantAsync("t1");
        var ndjson = string.Join("\n", new[] { Item("n1", "Coral reefs bleach in warm water."), Item("n2", "Kelp forests grow fast.") }.Select(i => JsonSerializer.Serialize(i))) + "\n\n";
        var ok = await (await admin.PostAsync("/v1/documents/batch", new StringContent(ndjson, Encoding.UTF8, "application/x-ndjson"))).DataAsync();
        Assert.Equal(2, ok.GetProperty("accepted").GetInt32());
        await (await admin.PostAsync("/v1/documents/batch", new StringContent(ndjson + "{not json\n", Encoding.UTF8, "application/x-ndjson"))).AssertErrorAsync(400, "INVALID_JSON");
        await (await admin.PostAsync("/v1/documents/batch", new StringContent(ndjson, Encoding.UTF8, "text/plain"))).AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
        await (await admin.PostAsJsonAsync("/v1/documents/batch", Array.Empty<object>())).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await admin.PostAsJsonAsync("/v1/documents/batch", new { corpus_id = "docs" })).AssertErrorAsync(400, "INVALID_JSON");
        var tooMany = Enumerable.Range(0, 1001).Select(i => Item($"m{i}", "x")).ToArray();
        var refused = await admin.PostAsJsonAsync("/v1/documents/batch", tooMany);
        await refused.AssertErrorAsync(413, "PAYLOAD_TOO_LARGE");
        var manyLines = string.Join("\n", tooMany.Select(i => JsonSerializer.Serialize(i)));
        await (await admin.PostAsync("/v1/documents/batch", new StringContent(manyLines, Encoding.UTF8, "application/x-ndjson"))).AssertErrorAsync(413, "PAYLOAD_TOO_LARGE");
        await (await admin.GetAsync("/v1/documents/m0")).AssertErrorAsync(404); // nothing of a refused batch was ingested

        var reader = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        await (await reader.PostAsJsonAsync("/v1/documents/batch", new[] { Item("r1", "text") })).AssertErrorAsync(403, "FORBIDDEN");

        // Another tenant: its items naming this tenant's corpus are 404, and this tenant's documents are untouched.
        var other = await app.AdminForTenantAsync("t2", corpus: null);
        var foreign = await (await other.PostAsJsonAsync("/v1/documents/batch", new[] { Item("n1", "Overwritten?", overwrite: true) })).DataAsync();
        Assert.Equal("NOT_FOUND", foreign.GetProperty("results")[0].GetProperty("error").GetProperty("code").GetString());
        await admin.WaitForDocumentAsync("n1");
        var chunks = await (await admin.GetAsync("/v1/documents/n1/chunks")).DataAsync();
        Assert.Equal("Coral reefs bleach in warm water.", chunks[0].GetProperty("text").GetString());
    }
}
