using System.Net.Http.Json;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using NexusRag.Core.Ingestion;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Documents;

/// <summary>
/// Hostile files fail cleanly: the document ends <c>failed</c> with a stable code in <c>failure_reason</c> (or the upload
/// is refused at once), after one attempt, and the worker goes on serving other tenants.
/// </summary>
public sealed class HostileDocumentTests
{
    [Theory]
    [InlineData("encrypted.pdf", "DOCUMENT_ENCRYPTED: the PDF is password-protected")]
    [InlineData("truncated.pdf", "DOCUMENT_")]
    [InlineData("junk-with-pdf-header.pdf", "DOCUMENT_")]
    [InlineData("many-pages.pdf", "DOCUMENT_EMPTY: no text could be extracted")] // its page tree claims 5,000,000 pages; PdfPig counts the one there is
    [InlineData("bomb.docx", "DECOMPRESSION_LIMIT: entry 'word/document.xml'")]
    [InlineData("corrupt.docx", "DOCUMENT_CORRUPT: ")]
    public async Task A_hostile_file_fails_with_a_stable_code_and_the_worker_keeps_serving(string fixture, string reasonPrefix)
    {
        using var app = new NexusAppFactory();
        var attacker = await app.AdminForTenantAsync("attacker", "docs");
        var bystander = await app.AdminForTenantAsync("bystander", "docs");

        var doc = await attacker.IngestFixtureAsync("docs", fixture, "hostile", expected: "failed");
        Assert.StartsWith(reasonPrefix, doc.Str("failure_reason"));
        Assert.Matches("^(DOCUMENT_ENCRYPTED|DOCUMENT_CORRUPT|DOCUMENT_EMPTY|DOCUMENT_TOO_MANY_PAGES|DECOMPRESSION_LIMIT): ", doc.Str("failure_reason"));
        Assert.Equal(0, doc.Int("num_chunks"));
        var job = await app.Service<Microsoft.EntityFrameworkCore.IDbContextFactory<NexusRag.Storage.NexusDbContext>>().CreateDbContext()
            .Jobs.FindAsync(doc.Str("last_job_id"));
        Assert.Equal(1, job!.Attempts); // final at once: retrying a broken file cannot help

        // The worker is healthy: another tenant's document goes through right after.
        await bystander.IngestTextAsync("docs", "Ordinary text after a hostile file.", "after");
        await bystander.WaitForDocumentAsync("after");
        await (await attacker.DeleteAsync("/v1/documents/hostile")).DataAsync(); // and the failed one can be removed
    }

    [Fact]
    public async Task A_pdf_with_more_pages_than_MAX_PAGES_is_refused_before_its_pages_are_read()
    {
        var builder = new UglyToad.PdfPig.Writer.PdfDocumentBuilder();
        var font = builder.AddStandard14Font(UglyToad.PdfPig.Fonts.Standard14Fonts.Standard14Font.Helvetica);
        for (var i = 1; i <= 30; i++)
            builder.AddPage(UglyToad.PdfPig.Content.PageSize.A4).AddText($"Page {i} of a long report.", 12, new UglyToad.PdfPig.Core.PdfPoint(50, 700), font);
        using var app = new NexusAppFactory(new() { ["MAX_PAGES"] = "20" });
        var client = await app.AdminForTenantAsync("pages", "docs");
        await (await client.UploadAsync("docs", builder.Build(), "long.pdf", "long")).DataAsync(202);
        var doc = await client.WaitForDocumentAsync("long", "failed", timeoutMs: 30_000);
        Assert.Equal("DOCUMENT_TOO_MANY_PAGES: the PDF has 30 pages; at most 20 are accepted (MAX_PAGES)", doc.Str("failure_reason"));
    }

    [Fact]
    public async Task Deeply_nested_html_is_refused_without_overflowing_the_stack()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("deep", "docs");
        const int depth = 100_000;
        var html = new StringBuilder("<!DOCTYPE html><html><body>");
        for (var i = 0; i < depth; i++) html.Append("<div>");
        html.Append("bottom");
        var bytes = Encoding.UTF8.GetBytes(html.ToString());
        await (await client.UploadAsync("docs", bytes, "deep.html", "deep", "text/html")).DataAsync(202);
        var doc = await client.WaitForDocumentAsync("deep", "failed", timeoutMs: 60_000);
        Assert.StartsWith("DOCUMENT_TOO_DEEP: the HTML nests elements more than 1024 deep", doc.Str("failure_reason"));
        await client.IngestTextAsync("docs", "Still alive.", "alive");
        await client.WaitForDocumentAsync("alive");
    }

    /// <summary>An extractor that never returns on its own (a parser stuck on hostile input), registered for CSV.</summary>
    private sealed class StuckExtractor(bool honoursCancellation) : IContentExtractor
    {
        public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Csv];

        public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
        {
            if (honoursCancellation) await Task.Delay(Timeout.Infinite, ct);
            else Thread.Sleep(TimeSpan.FromSeconds(8)); // ignores the token, like a library call that cannot be interrupted
            return ExtractedDocument.PlainText("csv", "late");
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Extraction_has_a_time_budget_even_when_the_parser_ignores_cancellation(bool honoursCancellation)
    {
        using var app = new NexusAppFactory(new() { ["EXTRACT_TIMEOUT_S"] = "1" },
            services => services.AddSingleton<IContentExtractor>(new StuckExtractor(honoursCancellation)));
        var client = await app.AdminForTenantAsync("slow", "docs");
        await (await client.UploadAsync("docs", "a,b\n1,2\n"u8.ToArray(), "slow.csv", "slow", "text/csv")).DataAsync(202);
        var doc = await client.WaitForDocumentAsync("slow", "failed", timeoutMs: 6_000);
        Assert.Equal("EXTRACT_TIMEOUT: extraction took longer than 1 s (EXTRACT_TIMEOUT_S)", doc.Str("failure_reason"));
        await client.IngestTextAsync("docs", "The next job runs.", "next");
        await client.WaitForDocumentAsync("next");
    }

    [Fact]
    public async Task Uploads_over_MAX_UPLOAD_BYTES_are_413_and_the_json_body_cap_does_not_apply_to_files()
    {
        using var small = new NexusAppFactory(new() { ["MAX_UPLOAD_BYTES"] = "10000" });
        var client = await small.AdminForTenantAsync("cap", "docs");
        var resp = await client.UploadAsync("docs", DocumentFixtures.Bytes("handbook.pdf"), "handbook.pdf", "big");
        await resp.AssertErrorAsync(413, "PAYLOAD_TOO_LARGE");
        await (await client.GetAsync("/v1/documents/big")).AssertErrorAsync(404, "NOT_FOUND");
        Assert.Empty(Directory.Exists(Path.Combine(small.DataDir, "originals", ".staging"))
            ? Directory.GetFiles(Path.Combine(small.DataDir, "originals", ".staging")) : []); // the partial upload is gone

        using var jsonCap = new NexusAppFactory(new() { ["MAX_REQUEST_BODY_BYTES"] = "2048" });
        var other = await jsonCap.AdminForTenantAsync("cap", "docs");
        await (await other.UploadAsync("docs", DocumentFixtures.Bytes("handbook.pdf"), "handbook.pdf", "fits")).DataAsync(202);
        var tooBigJson = await other.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "docs", text = new string('x', 4000) });
        await tooBigJson.AssertErrorAsync(413, "PAYLOAD_TOO_LARGE");
    }
}
