using NexusRag.Core.Ingestion;
using UglyToad.PdfPig;
using UglyToad.PdfPig.Content;
using UglyToad.PdfPig.DocumentLayoutAnalysis.TextExtractor;
using UglyToad.PdfPig.Exceptions;

namespace NexusRag.Documents;

/// <summary>
/// PDF with PdfPig: text in content order, page by page, paragraphs at blank lines, each block knowing its page. A page
/// with no text layer but images is a scan: its images are OCRed when Tesseract is available (the document records the
/// page in <c>ocr_pages</c>), else the page is listed in <c>skipped_pages</c> with the reason. Encrypted files, files over
/// <c>MAX_PAGES</c> and files PdfPig cannot parse fail with their own codes.
/// </summary>
public sealed class PdfExtractor(IOcrEngine ocr) : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Pdf];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        var o = context.Options;
        using var pdf = Open(content);
        int pageCount;
        try { pageCount = pdf.NumberOfPages; }
        catch (Exception ex) when (ex is not OperationCanceledException) { throw Corrupt(ex); }
        if (pageCount > o.MaxPages)
            throw new ExtractionException(ExtractionCodes.TooManyPages, $"the PDF has {pageCount} pages; at most {o.MaxPages} are accepted (MAX_PAGES)");
        if (pageCount == 0) throw new ExtractionException(ExtractionCodes.Corrupt, "the PDF has no pages");

        var blocks = new List<TextBlock>();
        var ocrPages = new List<int>();
        var skipped = new List<SkippedPage>();
        string? ocrUnavailable = null;
        var ocrChecked = false;
        for (var number = 1; number <= pageCount; number++)
        {
            ct.ThrowIfCancellationRequested();
            Page page;
            string text;
            try
            {
                page = pdf.GetPage(number);
                text = ContentOrderTextExtractor.GetText(page);
            }
            catch (PdfDocumentEncryptedException) { throw Encrypted(); }
            catch (Exception ex) when (ex is not OperationCanceledException) { throw Corrupt(ex, number); }

            if (!string.IsNullOrWhiteSpace(text))
            {
                foreach (var para in Paragraphs(text)) blocks.Add(new TextBlock(para, Page: number));
                continue;
            }
            var images = SafeImages(page);
            if (images.Count == 0) continue; // a blank page
            if (!o.OcrEnabled)
            {
                skipped.Add(new SkippedPage(number, "image-only page; OCR is disabled (OCR_ENABLED=false)"));
                continue;
            }
            if (!ocrChecked)
            {
                ocrUnavailable = await ocr.UnavailableReasonAsync(o.OcrLanguages, ct).ConfigureAwait(false);
                ocrChecked = true;
            }
            if (ocrUnavailable is not null)
            {
                skipped.Add(new SkippedPage(number, "image-only page; " + ocrUnavailable));
                continue;
            }
            var recognized = new List<string>();
            var undecodable = 0;
            foreach (var image in images)
            {
                if (ImageBytes(image) is not { } bytes) { undecodable++; continue; }
                var texts = await ocr.RecognizeAsync(bytes, o.OcrLanguages, TimeSpan.FromSeconds(o.OcrPageTimeoutSeconds), ct).ConfigureAwait(false);
                recognized.AddRange(texts.Where(t => t.Length > 0));
            }
            if (recognized.Count > 0)
            {
                ocrPages.Add(number);
                foreach (var para in recognized.SelectMany(Paragraphs)) blocks.Add(new TextBlock(para, Page: number, Ocr: true));
            }
            else
            {
                skipped.Add(new SkippedPage(number, undecodable == images.Count ? "image-only page; its image encoding cannot be decoded for OCR" : "image-only page; OCR found no text"));
            }
        }

        var metadata = new Dictionary<string, string>();
        try
        {
            if (pdf.Information.Title is { Length: > 0 } title) metadata["title"] = Core.Errors.Text.Clip(title, 500);
            if (pdf.Information.Author is { Length: > 0 } author) metadata["author"] = Core.Errors.Text.Clip(author, 500);
        }
        catch (Exception ex) when (ex is not OperationCanceledException) { /* a damaged info dictionary is not worth failing for */ }
        return new ExtractedDocument("pdf", blocks, metadata, pageCount, ocrPages, skipped);
    }

    private static PdfDocument Open(Stream content)
    {
        try
        {
            return PdfDocument.Open(content, new ParsingOptions { UseLenientParsing = true, SkipMissingFonts = true });
        }
        catch (PdfDocumentEncryptedException) { throw Encrypted(); }
        catch (Exception ex) when (ex is not OperationCanceledException) { throw Corrupt(ex); }
    }

    private static ExtractionException Encrypted() => new(ExtractionCodes.Encrypted, "the PDF is password-protected");

    private static ExtractionException Corrupt(Exception ex, int? page = null) =>
        new(ExtractionCodes.Corrupt, $"the PDF could not be parsed{(page is null ? "" : $" (page {page})")}: {Core.Errors.Text.Clip(ex.Message, 200)}");

    private static List<IPdfImage> SafeImages(Page page)
    {
        try { return page.GetImages().ToList(); }
        catch (Exception ex) when (ex is not OperationCanceledException) { return []; }
    }

    /// <summary>Bytes Tesseract can read: a JPEG stream as it is (DCTDecode), anything else re-encoded as PNG by PdfPig.</summary>
    private static byte[]? ImageBytes(IPdfImage image)
    {
        try
        {
            var raw = image.RawMemory.Span;
            if (raw.Length > 3 && raw[0] == 0xFF && raw[1] == 0xD8 && raw[2] == 0xFF) return raw.ToArray();
            if (raw.Length > 12 && raw[4] == (byte)'j' && raw[5] == (byte)'P') return raw.ToArray(); // JPEG 2000 (JPXDecode)
            return image.TryGetPng(out var png) ? png : null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException) { return null; }
    }

    /// <summary>Paragraphs at blank lines; lines inside one are joined with a line break.</summary>
    internal static IEnumerable<string> Paragraphs(string text) =>
        text.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(p => string.Join("\n", p.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Trim().Length > 0)))
            .Where(p => p.Trim().Length > 0);
}

/// <summary>PNG, JPEG and TIFF uploads: OCRed page by page (a multi-page TIFF gives several pages); without OCR, a clear failure.</summary>
public sealed class ImageExtractor(IOcrEngine ocr) : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Png, Core.Ingestion.MediaTypes.Jpeg, Core.Ingestion.MediaTypes.Tiff];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        var o = context.Options;
        if (!o.OcrEnabled) throw new ExtractionException(ExtractionCodes.OcrUnavailable, "an image needs OCR, which is disabled (OCR_ENABLED=false)");
        if (await ocr.UnavailableReasonAsync(o.OcrLanguages, ct).ConfigureAwait(false) is { } reason)
            throw new ExtractionException(ExtractionCodes.OcrUnavailable, "an image needs OCR: " + reason);
        using var ms = new MemoryStream();
        await content.CopyToAsync(ms, ct).ConfigureAwait(false);
        var pages = await ocr.RecognizeAsync(ms.ToArray(), o.OcrLanguages, TimeSpan.FromSeconds(o.OcrPageTimeoutSeconds), ct).ConfigureAwait(false);
        pages = pages.Count > 1 && pages[^1].Length == 0 ? pages.Take(pages.Count - 1).ToList() : pages;
        if (pages.Count > o.MaxPages) throw new ExtractionException(ExtractionCodes.TooManyPages, $"the image has {pages.Count} pages; at most {o.MaxPages} are accepted (MAX_PAGES)");
        var blocks = new List<TextBlock>();
        var ocrPages = new List<int>();
        for (var i = 0; i < pages.Count; i++)
        {
            if (pages[i].Length == 0) continue;
            ocrPages.Add(i + 1);
            foreach (var para in PdfExtractor.Paragraphs(pages[i])) blocks.Add(new TextBlock(para, Page: i + 1, Ocr: true));
        }
        return new ExtractedDocument("image", blocks, null, pages.Count, ocrPages);
    }
}
