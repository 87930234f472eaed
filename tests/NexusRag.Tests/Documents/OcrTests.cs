using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Documents;

/// <summary>Scanned pages and image uploads with the real Tesseract; the no-OCR paths with it disabled or missing.</summary>
public sealed class OcrTests
{
    [TesseractFact]
    public async Task A_scanned_pdf_page_is_ocred_and_recorded()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("ocr", "docs");
        var doc = await client.IngestFixtureAsync("docs", "mixed.pdf", "mixed");
        var extraction = doc.GetProperty("extraction");
        Assert.Equal([2], extraction.GetProperty("ocr_pages").EnumerateArray().Select(e => e.GetInt32()));
        var hit = await client.TopHitAsync("docs", "pager rotation handover", "mixed", "pager rotation");
        Assert.Equal(2, hit.Int("page_start"));
        Assert.True(hit.GetProperty("metadata").GetProperty("ocr").GetBoolean());
        Assert.Equal(1, (await client.TopHitAsync("docs", "platform council", "mixed", "platform council")).Int("page_start"));
    }

    [TesseractFact]
    public async Task An_image_upload_is_ocred()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("img", "docs");
        var doc = await client.IngestFixtureAsync("docs", "appendix-page.png", "png", contentType: null);
        Assert.Equal("image/png", doc.GetProperty("content_type").GetString());
        await client.TopHitAsync("docs", "quartz lantern procedure", "png", "quartz lantern");
    }

    [Fact]
    public async Task Without_ocr_the_text_pages_ingest_and_the_scanned_page_is_listed_as_skipped()
    {
        using var app = new NexusAppFactory(new() { ["OCR_ENABLED"] = "false" });
        var client = await app.AdminForTenantAsync("noocr", "docs");
        var doc = await client.IngestFixtureAsync("docs", "mixed.pdf", "mixed");
        var skipped = doc.GetProperty("extraction").GetProperty("skipped_pages").EnumerateArray().Single();
        Assert.Equal(2, skipped.Int("page"));
        Assert.Equal("image-only page; OCR is disabled (OCR_ENABLED=false)", skipped.Str("reason"));
        await client.TopHitAsync("docs", "platform council", "mixed", "platform council");

        // Only a scan: nothing to index, and the failure says which pages were skipped and why.
        var scan = await client.IngestFixtureAsync("docs", "scanned.pdf", "scan", expected: "failed");
        Assert.Equal("DOCUMENT_EMPTY: no text could be extracted; 1 page(s) skipped: image-only page; OCR is disabled (OCR_ENABLED=false) (pages 1)", scan.Str("failure_reason"));
        var image = await client.IngestFixtureAsync("docs", "appendix-page.png", "png", expected: "failed");
        Assert.StartsWith("OCR_UNAVAILABLE: ", image.Str("failure_reason"));
    }

    [Fact]
    public async Task When_tesseract_is_not_installed_the_skipped_page_says_so()
    {
        using var app = new NexusAppFactory(new() { ["NexusRag:Extraction:TesseractPath"] = "/nonexistent/tesseract" });
        var client = await app.AdminForTenantAsync("notess", "docs");
        var doc = await client.IngestFixtureAsync("docs", "mixed.pdf", "mixed");
        var skipped = doc.GetProperty("extraction").GetProperty("skipped_pages").EnumerateArray().Single();
        Assert.StartsWith("image-only page; Tesseract is not installed (Debian package tesseract-ocr)", skipped.Str("reason"));
    }
}
