using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;

namespace NexusRag.Tests.Documents;

/// <summary>
/// Real files made by real tools, through the real HTTP pipeline: each format's text is found by search, its hits and
/// citations say where in the document they are, and its chunk ids survive a re-index from the stored original.
/// </summary>
public sealed class DocumentFormatTests
{
    [Fact]
    public async Task A_LibreOffice_pdf_is_searchable_by_page_and_cited_with_its_page()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("pdf", "docs");
        var doc = await client.IngestFixtureAsync("docs", "handbook.pdf", "handbook");
        Assert.Equal("application/pdf", doc.GetProperty("content_type").GetString());
        var extraction = doc.GetProperty("extraction");
        Assert.Equal("pdf", extraction.Str("format"));
        Assert.Equal(3, extraction.Int("page_count"));

        var appendix = await client.TopHitAsync("docs", "quartz lantern procedure", "handbook", "quartz lantern");
        Assert.Equal(3, appendix.Int("page_start"));
        Assert.Equal(3, appendix.Int("page_end"));
        var gates = await client.TopHitAsync("docs", "approvals from the platform council", "handbook", "platform council");
        Assert.Equal(1, gates.Int("page_start"));
        Assert.Equal(1, gates.GetProperty("metadata").Int("page_start"));

        var ids = await client.ChunkIdsAsync("handbook");
        Assert.Equal(ids, await client.ReindexAsync("handbook"));

        // /v1/run: the citation carries the page, and the extractive answer says it after the marker.
        var (_, frames) = await SseClient.RunAsync(client, new { session_id = "s-pdf", corpus_id = "docs", message = "What is the quartz lantern procedure?", top_k = 3 });
        var final = frames.Single(f => f.Type == "message.final").Payload;
        var cited = final.GetProperty("citations").EnumerateArray().Select(c => c.GetProperty("metadata"))
            .First(m => m.Str("chunk_id") == appendix.Str("chunk_id"));
        Assert.Equal(3, cited.Int("page_start"));
        Assert.Contains("(p. 3)", final.Str("text"));
    }

    [Fact]
    public async Task A_LibreOffice_docx_gives_heading_paths_and_keeps_its_table_with_the_header()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("docx", "docs");
        var doc = await client.IngestFixtureAsync("docs", "handbook.docx", "handbook");
        Assert.Equal("application/vnd.openxmlformats-officedocument.wordprocessingml.document", doc.GetProperty("content_type").GetString());

        var gates = await client.TopHitAsync("docs", "approvals from the platform council", "handbook", "platform council");
        Assert.Equal("Release process › Gates", gates.Str("heading_path"));
        var table = await client.TopHitAsync("docs", "SEV3 next business day team lead", "handbook", "SEV3 | Next business day | Team lead");
        Assert.Equal("Incident response › Paging", table.Str("heading_path"));
        Assert.Contains("Severity | Response time | Owner\nSEV1 | 15 minutes | Incident commander", table.Str("text"));

        var ids = await client.ChunkIdsAsync("handbook");
        Assert.Equal(ids, await client.ReindexAsync("handbook"));
    }

    [Fact]
    public async Task A_pandoc_pptx_is_cited_by_slide_with_its_title_notes_and_table()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("pptx", "docs");
        var doc = await client.IngestFixtureAsync("docs", "deck.pptx", "deck");
        Assert.Equal(4, doc.GetProperty("extraction").Int("page_count")); // pandoc adds a title slide

        var hiring = await client.TopHitAsync("docs", "office in Lisbon", "deck", "Lisbon");
        Assert.Equal(3, hiring.Int("slide"));
        Assert.Equal(3, hiring.Int("page_start"));
        Assert.Equal("Hiring plan", hiring.Str("heading_path"));
        var notes = await client.TopHitAsync("docs", "relocation budget", "deck", "relocation budget");
        Assert.Equal(3, notes.Int("slide"));
        var risks = await client.TopHitAsync("docs", "dual-source object storage", "deck", "Vendor lock-in | Dual-source the object storage");
        Assert.Equal(4, risks.Int("slide"));
        Assert.Equal("Risks", risks.Str("heading_path"));

        var ids = await client.ChunkIdsAsync("deck");
        Assert.Equal(ids, await client.ReindexAsync("deck"));
    }

    [Fact]
    public async Task A_pandoc_html_page_keeps_its_content_and_title_but_not_its_boilerplate()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("html", "docs");
        var doc = await client.IngestFixtureAsync("docs", "page.html", "tidepools");
        Assert.Equal("text/html", doc.GetProperty("content_type").GetString());
        Assert.Equal("Field guide to tidepools", doc.GetProperty("extraction").GetProperty("metadata").Str("title"));

        var feeding = await client.TopHitAsync("docs", "nematocysts", "tidepools", "nematocysts");
        Assert.Equal("Anemones › Feeding", feeding.Str("heading_path"));
        Assert.Equal("Crabs", (await client.TopHitAsync("docs", "vacancy chain", "tidepools", "vacancy chain")).Str("heading_path"));
        Assert.Empty(await client.SearchAsync("docs", "analytics beacon"));   // <script>
        Assert.Empty(await client.SearchAsync("docs", "navigation menu"));    // <nav>
        Assert.Empty(await client.SearchAsync("docs", "copyright boilerplate")); // <footer>

        var ids = await client.ChunkIdsAsync("tidepools");
        Assert.Equal(ids, await client.ReindexAsync("tidepools"));
    }

    [Fact]
    public async Task A_LibreOffice_xlsx_and_a_csv_are_cited_by_sheet_and_row_with_the_header()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("sheets", "docs");
        await client.IngestFixtureAsync("docs", "inventory.xlsx", "workbook");
        var hit = await client.TopHitAsync("docs", "cobalt drill bit", "workbook", "Cobalt drill bit | Gdansk | 75 | 12.9");
        Assert.Equal("inventory", hit.Str("sheet"));
        Assert.Equal(5, hit.Int("row_end"));
        Assert.StartsWith("Item | Warehouse | Quantity | Unit price", hit.Str("text"));
        var ids = await client.ChunkIdsAsync("workbook");
        Assert.Equal(ids, await client.ReindexAsync("workbook"));

        await client.IngestFixtureAsync("docs", "inventory.csv", "csv", contentType: "text/csv");
        var chunks = await (await client.GetAsync("/v1/documents/csv/chunks")).DataAsync();
        var only = Assert.Single(chunks.EnumerateArray());
        Assert.Equal(2, only.GetProperty("metadata").Int("row_start"));
        Assert.Equal(5, only.GetProperty("metadata").Int("row_end"));
        Assert.Contains("Hinge steel | Gdansk | 340 | 4.50", only.Str("text"));
    }

    [Fact]
    public async Task An_email_gives_its_headers_as_metadata_and_its_attachment_as_a_child_document()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("mail", "docs");
        var doc = await client.IngestFixtureAsync("docs", "migration.eml", "mail");
        Assert.Equal("message/rfc822", doc.GetProperty("content_type").GetString());
        var meta = doc.GetProperty("extraction").GetProperty("metadata");
        Assert.Equal("Datacenter migration schedule", meta.Str("subject"));
        Assert.Contains("dana@example.org", meta.Str("from"));
        Assert.Equal("<migration-2026@example.org>".Trim('<', '>'), meta.Str("message_id"));
        Assert.Equal("mail:att-1", doc.GetProperty("extraction").GetProperty("child_documents")[0].GetString());

        var body = await client.TopHitAsync("docs", "freeze window", "mail", "freeze window starts at 18:00");
        Assert.Equal("Datacenter migration schedule", body.Str("heading_path"));
        var child = await client.WaitForDocumentAsync("mail:att-1", timeoutMs: 30_000);
        Assert.Equal("runbook.txt", child.Str("filename"));
        Assert.Equal("mail", child.GetProperty("metadata").Str("parent_document_id"));
        await client.TopHitAsync("docs", "marigold checksum", "mail:att-1", "marigold checksum");
    }

    [Fact]
    public async Task With_EML_ATTACHMENTS_skip_the_attachment_is_counted_not_ingested()
    {
        using var app = new NexusAppFactory(new() { ["EML_ATTACHMENTS"] = "skip" });
        var client = await app.AdminForTenantAsync("mail", "docs");
        var doc = await client.IngestFixtureAsync("docs", "migration.eml", "mail");
        Assert.Equal(1, doc.GetProperty("extraction").Int("skipped_attachments"));
        await (await client.GetAsync("/v1/documents/mail:att-1")).AssertErrorAsync(404, "NOT_FOUND");
        Assert.Empty(await client.SearchAsync("docs", "marigold checksum"));
    }

    [Fact]
    public async Task The_type_comes_from_the_bytes_not_from_a_lying_content_type_or_name()
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("liar", "docs");
        // A PDF claiming to be plain text named .txt is ingested as the PDF it is.
        await (await client.UploadAsync("docs", DocumentFixtures.Bytes("handbook.pdf"), "notes.txt", "liar", "text/plain")).DataAsync(202);
        var doc = await client.WaitForDocumentAsync("liar", timeoutMs: 60_000);
        Assert.Equal("application/pdf", doc.GetProperty("content_type").GetString());
        Assert.Equal(3, doc.GetProperty("extraction").Int("page_count"));

        // Bytes of no supported type are 415 whatever they claim, naming what was detected and what is supported.
        var junk = new byte[4096];
        new Random(3).NextBytes(junk);
        junk[0] = 0x01;
        var resp = await client.UploadAsync("docs", junk, "report.pdf", "junk", "application/pdf");
        await resp.AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
        var details = (await resp.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("details");
        Assert.Equal("application/octet-stream", details.Str("detected"));
        Assert.Contains("application/pdf", details.GetProperty("supported").EnumerateArray().Select(e => e.GetString()));
        var gif = "GIF89a"u8.ToArray().Concat(new byte[64]).ToArray();
        var gifResp = await client.UploadAsync("docs", gif, "chart.png", "gif", "image/png");
        await gifResp.AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
        Assert.Equal("image/gif", (await gifResp.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("details").Str("detected"));
        await (await client.GetAsync("/v1/documents/junk")).AssertErrorAsync(404, "NOT_FOUND"); // nothing was created
    }
}
