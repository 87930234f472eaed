using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Documents;

/// <summary>Originals are kept per tenant by content hash, downloadable by readers of that tenant only, and removed with their last document.</summary>
public sealed class OriginalsTests
{
    private static string OriginalPath(NexusAppFactory app, string tenant, string sha) => Path.Combine(app.DataDir, "originals", tenant, sha[..2], sha);

    [Fact]
    public async Task The_original_downloads_as_uploaded_and_only_within_its_tenant()
    {
        using var app = new NexusAppFactory();
        var owner = await app.AdminForTenantAsync("owner", "docs");
        var reader = app.ClientWithKey(await app.CreateKeyAsync("owner", Core.Auth.Role.Reader));
        var other = await app.AdminForTenantAsync("other", "docs");
        var bytes = DocumentFixtures.Bytes("deck.pptx");
        await owner.IngestFixtureAsync("docs", "deck.pptx", "deck");

        var resp = await reader.GetAsync("/v1/documents/deck/content");
        Assert.Equal(200, (int)resp.StatusCode);
        Assert.Equal("application/vnd.openxmlformats-officedocument.presentationml.presentation", resp.Content.Headers.ContentType!.MediaType);
        Assert.Equal("deck.pptx", resp.Content.Headers.ContentDisposition!.FileNameStar ?? resp.Content.Headers.ContentDisposition.FileName!.Trim('"'));
        Assert.Equal("nosniff", resp.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal(bytes, await resp.Content.ReadAsByteArrayAsync());

        await (await other.GetAsync("/v1/documents/deck/content")).AssertErrorAsync(404, "NOT_FOUND");
        await (await app.CreateClient().GetAsync("/v1/documents/deck/content")).AssertErrorAsync(401);
    }

    [Fact]
    public async Task Documents_with_the_same_bytes_share_one_original_until_the_last_is_deleted()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("share", "docs");
        var other = await app.AdminForTenantAsync("neighbour", "docs");
        var a = await client.IngestFixtureAsync("docs", "handbook.docx", "a");
        await client.IngestFixtureAsync("docs", "handbook.docx", "b");
        await other.IngestFixtureAsync("docs", "handbook.docx", "n");
        var sha = a.Str("content_sha256")!;
        var path = OriginalPath(app, "share", sha);
        Assert.True(File.Exists(path));
        Assert.True(File.Exists(OriginalPath(app, "neighbour", sha))); // per tenant: never shared across tenants

        await (await client.DeleteAsync("/v1/documents/a")).DataAsync();
        Assert.True(File.Exists(path));
        Assert.Equal(DocumentFixtures.Bytes("handbook.docx"), await (await client.GetAsync("/v1/documents/b/content")).Content.ReadAsByteArrayAsync());
        await (await client.DeleteAsync("/v1/documents/b")).DataAsync();
        Assert.False(File.Exists(path));
        Assert.True(File.Exists(OriginalPath(app, "neighbour", sha)));

        // Overwriting a document with other bytes releases the old original.
        var n2 = await other.UploadAsync("docs", DocumentFixtures.Bytes("handbook.pdf"), "handbook.pdf", "n", overwrite: true);
        await n2.DataAsync(202);
        await other.WaitForDocumentAsync("n", timeoutMs: 60_000);
        Assert.False(File.Exists(OriginalPath(app, "neighbour", sha)));
    }

    [Fact]
    public async Task Reindex_rechunks_from_the_original_without_a_new_upload()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("re", "docs");
        await client.IngestFixtureAsync("docs", "handbook.pdf", "h");
        var before = await client.ChunkIdsAsync("h");
        var resp = await client.PostAsync("/v1/documents/h/reindex", System.Net.Http.Json.JsonContent.Create(new { chunk_size_chars = 100, chunk_overlap_chars = 10 }));
        await resp.DataAsync(202);
        await client.WaitForDocumentAsync("h", timeoutMs: 60_000);
        var after = await client.ChunkIdsAsync("h");
        Assert.True(after.Length > before.Length, $"{after.Length} chunks at 100 chars vs {before.Length} at the default");
        var hit = await client.TopHitAsync("docs", "quartz lantern", "h", "quartz lantern");
        Assert.Equal(3, hit.Int("page_start"));
    }
}
