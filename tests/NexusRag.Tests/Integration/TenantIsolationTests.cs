using System.Net.Http.Headers;
using System.Net.Http.Json;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>Tenant B can neither see nor touch anything of tenant A, on every endpoint; ids are per-tenant namespaces.</summary>
public sealed class TenantIsolationTests : IAsyncLifetime
{
    private readonly NexusAppFactory _app = new();
    private HttpClient _a = null!;
    private HttpClient _b = null!;

    public async Task InitializeAsync()
    {
        _a = await _app.AdminForTenantAsync("tenant-a", "shared-name");
        _b = await _app.AdminForTenantAsync("tenant-b", corpus: null);
        await _a.IngestTextAsync("shared-name", "Secret text of tenant A about the launch plan.", "doc-a");
        await _a.WaitForDocumentAsync("doc-a");
    }

    public Task DisposeAsync()
    {
        _app.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Every_endpoint_answers_404_for_the_other_tenants_ids()
    {
        await (await _b.GetAsync("/v1/corpora/shared-name")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _b.PatchAsJsonAsync("/v1/corpora/shared-name", new { name = "hijack" })).AssertErrorAsync(404, "NOT_FOUND");
        await (await _b.DeleteAsync("/v1/corpora/shared-name")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _b.GetAsync("/v1/documents/doc-a")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _b.GetAsync("/v1/documents/doc-a/chunks")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _b.PostAsJsonAsync("/v1/documents/doc-a/reindex", new { chunk_size_chars = 300 })).AssertErrorAsync(404, "NOT_FOUND");
        await (await _b.DeleteAsync("/v1/documents/doc-a")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _b.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "shared-name", text = "intrusion" })).AssertErrorAsync(404, "NOT_FOUND");

        var form = new MultipartFormDataContent { { new StringContent("shared-name"), "corpus_id" } };
        var file = new ByteArrayContent("intrusion"u8.ToArray());
        file.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        form.Add(file, "file", "x.txt");
        await (await _b.PostAsync("/v1/documents", form)).AssertErrorAsync(404, "NOT_FOUND");

        // Tenant A's data is untouched.
        var doc = await (await _a.GetAsync("/v1/documents/doc-a")).DataAsync();
        Assert.Equal("succeeded", doc.GetProperty("status").GetString());
        var corpus = await (await _a.GetAsync("/v1/corpora/shared-name")).DataAsync();
        Assert.Equal("shared-name", corpus.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Lists_never_show_the_other_tenants_data()
    {
        Assert.Equal(0, (await (await _b.GetAsync("/v1/corpora")).DataAsync()).GetArrayLength());
        Assert.Equal(0, (await (await _b.GetAsync("/v1/documents")).DataAsync()).GetProperty("items").GetArrayLength());
        Assert.Equal(0, (await (await _b.GetAsync("/v1/documents?corpus_id=shared-name")).DataAsync()).GetProperty("items").GetArrayLength());
        Assert.Equal(1, (await (await _a.GetAsync("/v1/documents")).DataAsync()).GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task The_same_ids_live_independently_in_each_tenant()
    {
        await (await _b.PostAsJsonAsync("/v1/corpora", new { id = "shared-name", name = "B's own" })).DataAsync(201);
        await _b.IngestTextAsync("shared-name", "Tenant B's own text.", "doc-a");
        var bDoc = await _b.WaitForDocumentAsync("doc-a");
        var aDoc = await (await _a.GetAsync("/v1/documents/doc-a")).DataAsync();
        Assert.NotEqual(aDoc.GetProperty("content_sha256").GetString(), bDoc.GetProperty("content_sha256").GetString());

        var bChunks = await (await _b.GetAsync("/v1/documents/doc-a/chunks")).DataAsync();
        Assert.Equal("Tenant B's own text.", bChunks[0].GetProperty("text").GetString());
        await (await _b.DeleteAsync("/v1/documents/doc-a")).DataAsync();
        await (await _a.GetAsync("/v1/documents/doc-a")).DataAsync();
    }

    [Fact]
    public async Task A_cursor_from_one_tenant_is_invalid_for_another()
    {
        await _a.IngestTextAsync("shared-name", "Second document of A.", "doc-a2");
        var page = await (await _a.GetAsync("/v1/documents?limit=1")).DataAsync();
        var cursor = page.GetProperty("page").GetProperty("next_cursor").GetString();
        Assert.NotNull(cursor);
        await (await _b.GetAsync($"/v1/documents?limit=1&cursor={cursor}")).AssertErrorAsync(400, "INVALID_CURSOR");
    }

    [Fact]
    public async Task A_tenant_id_in_the_body_is_refused()
    {
        await (await _b.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "shared-name", text = "x", tenant_id = "tenant-a" }))
            .AssertErrorAsync(400, "TENANT_ID_NOT_ALLOWED");
        await (await _b.PostAsJsonAsync("/v1/corpora", new { id = "x", tenant_id = "tenant-a" })).AssertErrorAsync(400, "TENANT_ID_NOT_ALLOWED");
        var form = new MultipartFormDataContent { { new StringContent("shared-name"), "corpus_id" }, { new StringContent("tenant-a"), "tenant_id" } };
        form.Add(new StringContent("x"), "file", "x.txt");
        await (await _b.PostAsync("/v1/documents", form)).AssertErrorAsync(400, "TENANT_ID_NOT_ALLOWED");
    }
}
