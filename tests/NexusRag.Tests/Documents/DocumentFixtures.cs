using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Documents;

/// <summary>The committed fixtures (made by LibreOffice, pandoc, poppler, img2pdf, qpdf: see Fixtures/documents/make_fixtures.sh) and upload helpers.</summary>
public static class DocumentFixtures
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", "documents", name);

    public static byte[] Bytes(string name) => File.ReadAllBytes(PathOf(name));

    /// <summary>Uploads bytes as the multipart 'file' part, with whatever Content-Type and file name the caller claims.</summary>
    public static async Task<HttpResponseMessage> UploadAsync(this HttpClient client, string corpus, byte[] content, string filename, string? documentId = null,
        string? contentType = "application/octet-stream", bool overwrite = false)
    {
        var file = new ByteArrayContent(content);
        if (contentType is not null) file.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        var form = new MultipartFormDataContent { { new StringContent(corpus), "corpus_id" }, { file, "file", filename } };
        if (documentId is not null) form.Add(new StringContent(documentId), "document_id");
        if (overwrite) form.Add(new StringContent("true"), "overwrite");
        return await client.PostAsync("/v1/documents", form);
    }

    /// <summary>Uploads a fixture and waits for its ingestion to end as <paramref name="expected"/>.</summary>
    public static async Task<JsonElement> IngestFixtureAsync(this HttpClient client, string corpus, string fixture, string documentId, string expected = "succeeded",
        string? contentType = "application/octet-stream")
    {
        await (await client.UploadAsync(corpus, Bytes(fixture), fixture, documentId, contentType)).DataAsync(202);
        return await client.WaitForDocumentAsync(documentId, expected, timeoutMs: 60_000);
    }

    public static async Task<JsonElement[]> SearchAsync(this HttpClient client, string corpus, string query, int topK = 5, string mode = "lexical")
    {
        var data = await (await client.PostAsJsonAsync("/v1/search", new { corpus_id = corpus, query, top_k = topK, mode })).DataAsync();
        return data.GetProperty("results").EnumerateArray().ToArray();
    }

    /// <summary>The best hit for the query, which must come from <paramref name="documentId"/> and contain <paramref name="phrase"/>.</summary>
    public static async Task<JsonElement> TopHitAsync(this HttpClient client, string corpus, string query, string documentId, string phrase)
    {
        var hits = await client.SearchAsync(corpus, query);
        Assert.NotEmpty(hits);
        var top = hits[0];
        Assert.Equal(documentId, top.GetProperty("document_id").GetString());
        Assert.Contains(phrase, top.GetProperty("text").GetString(), StringComparison.Ordinal);
        return top;
    }

    public static async Task<string[]> ChunkIdsAsync(this HttpClient client, string documentId) =>
        (await (await client.GetAsync($"/v1/documents/{documentId}/chunks")).DataAsync()).EnumerateArray().Select(c => c.GetProperty("id").GetString()!).ToArray();

    public static int? Int(this JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;

    public static string? Str(this JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>Re-chunks from the stored original and returns the chunk ids afterwards.</summary>
    public static async Task<string[]> ReindexAsync(this HttpClient client, string documentId)
    {
        await (await client.PostAsJsonAsync($"/v1/documents/{documentId}/reindex", new { })).DataAsync(202);
        await client.WaitForDocumentAsync(documentId, timeoutMs: 60_000);
        return await client.ChunkIdsAsync(documentId);
    }
}

/// <summary>A fact that needs the <c>tesseract</c> binary; reported as skipped, with the reason, where it is not installed.</summary>
public sealed class TesseractFactAttribute : FactAttribute
{
    public static readonly bool Installed = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, "tesseract")));

    public TesseractFactAttribute()
    {
        if (!Installed) Skip = "tesseract is not installed (Debian tesseract-ocr; scripts/test.sh installs it when run as root)";
    }
}
