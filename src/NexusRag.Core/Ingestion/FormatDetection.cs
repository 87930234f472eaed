using System.IO.Compression;
using System.Text;

namespace NexusRag.Core.Ingestion;

/// <summary>Media types this product names (the supported set comes from the registered extractors).</summary>
public static class MediaTypes
{
    public const string Text = "text/plain";
    public const string Markdown = "text/markdown";
    public const string Json = "application/json";
    public const string Csv = "text/csv";
    public const string Html = "text/html";
    public const string Eml = "message/rfc822";
    public const string Pdf = "application/pdf";
    public const string Docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
    public const string Pptx = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
    public const string Xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
    public const string Png = "image/png";
    public const string Jpeg = "image/jpeg";
    public const string Tiff = "image/tiff";
    public const string Zip = "application/zip";
    public const string OctetStream = "application/octet-stream";

    /// <summary>The usual file name extension of a type (downloads of originals name themselves with it).</summary>
    public static string? ExtensionOf(string mediaType) => mediaType switch
    {
        Text => ".txt", Markdown => ".md", Json => ".json", Csv => ".csv", Html => ".html", Eml => ".eml", Pdf => ".pdf",
        Docx => ".docx", Pptx => ".pptx", Xlsx => ".xlsx", Png => ".png", Jpeg => ".jpg", Tiff => ".tiff", _ => null,
    };
}

/// <summary>
/// Decides a file's media type from its bytes: magic numbers (PDF, PNG, JPEG, TIFF, GIF, OLE2), the parts of a zip
/// container (DOCX, PPTX, XLSX), and for text the markers of HTML and e-mail. The client's declared type and file name
/// are used only to choose among text types that bytes cannot tell apart (plain, markdown, CSV, JSON) and to name a
/// damaged container; a type they claim that the bytes contradict is ignored.
/// </summary>
public static class MediaTypeDetector
{
    private const int HeadBytes = 8192;

    public static string Detect(Stream content, string? declared, string? filename)
    {
        var start = content.Position;
        var head = new byte[HeadBytes];
        var n = content.ReadAtLeast(head, HeadBytes, throwOnEndOfStream: false);
        content.Position = start;
        var span = head.AsSpan(0, n);
        var ext = Path.GetExtension(filename ?? "").ToLowerInvariant();
        declared = declared?.ToLowerInvariant();

        if (span.Slice(0, Math.Min(n, 1024)).IndexOf("%PDF-"u8) >= 0) return MediaTypes.Pdf;
        if (span.StartsWith("PK\u0003\u0004"u8)) return DetectZip(content, declared, ext);
        if (span.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])) return MediaTypes.Png;
        if (span.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF])) return MediaTypes.Jpeg;
        if (span.StartsWith("II*\0"u8) || span.StartsWith("MM\0*"u8)) return MediaTypes.Tiff;
        if (span.StartsWith("GIF87a"u8) || span.StartsWith("GIF89a"u8)) return "image/gif";
        if (span.StartsWith((ReadOnlySpan<byte>)[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1])) return "application/x-ole-storage";
        if (span.StartsWith("MZ"u8) || span.StartsWith("\u007fELF"u8)) return "application/x-executable";
        if (span.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return "application/gzip";

        if (!LooksLikeText(span)) return MediaTypes.OctetStream;
        var text = Encoding.UTF8.GetString(span).TrimStart('\uFEFF', ' ', '\t', '\r', '\n');
        if (IsHtml(text)) return MediaTypes.Html;
        if (IsEmail(text)) return MediaTypes.Eml;
        if (declared is MediaTypes.Json || ext == ".json") return MediaTypes.Json;
        if (declared is MediaTypes.Csv or "application/csv" || ext == ".csv") return MediaTypes.Csv;
        if (declared is MediaTypes.Markdown or "text/x-markdown" || ext is ".md" or ".markdown") return MediaTypes.Markdown;
        return MediaTypes.Text;
    }

    private static string DetectZip(Stream content, string? declared, string ext)
    {
        var start = content.Position;
        try
        {
            using var zip = new ZipArchive(content, ZipArchiveMode.Read, leaveOpen: true);
            var names = zip.Entries.Take(100_000).Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
            if (names.Contains("word/document.xml")) return MediaTypes.Docx;
            if (names.Contains("ppt/presentation.xml")) return MediaTypes.Pptx;
            if (names.Contains("xl/workbook.xml")) return MediaTypes.Xlsx;
            return MediaTypes.Zip;
        }
        catch (InvalidDataException)
        {
            // A damaged container: keep the OOXML type it claims, so ingestion fails it with a clear code.
            var claimed = (declared, ext) switch
            {
                (MediaTypes.Docx, _) or (_, ".docx") => MediaTypes.Docx,
                (MediaTypes.Pptx, _) or (_, ".pptx") => MediaTypes.Pptx,
                (MediaTypes.Xlsx, _) or (_, ".xlsx") => MediaTypes.Xlsx,
                _ => MediaTypes.Zip,
            };
            return claimed;
        }
        finally
        {
            content.Position = start;
        }
    }

    /// <summary>Valid UTF-8 (a sequence cut at the end of the sample is fine) without NUL or other control bytes.</summary>
    private static bool LooksLikeText(ReadOnlySpan<byte> span)
    {
        if (span.IsEmpty) return true;
        foreach (var b in span)
        {
            if (b == 0 || (b < 0x20 && b is not (byte)'\n' and not (byte)'\r' and not (byte)'\t' and not 0x0C)) return false;
        }
        var decoder = new UTF8Encoding(false, true).GetDecoder();
        try
        {
            var chars = new char[span.Length];
            decoder.Convert(span, chars, flush: false, out _, out _, out _);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static bool IsHtml(string text)
    {
        var probe = text.Length > 1024 ? text[..1024] : text;
        return probe.StartsWith("<!doctype html", StringComparison.OrdinalIgnoreCase)
               || probe.StartsWith("<html", StringComparison.OrdinalIgnoreCase)
               || (probe.StartsWith('<') && (probe.Contains("<html", StringComparison.OrdinalIgnoreCase)
                                             || probe.Contains("<body", StringComparison.OrdinalIgnoreCase)
                                             || probe.Contains("<head", StringComparison.OrdinalIgnoreCase)));
    }

    private static readonly string[] MailHeaders = ["from", "to", "subject", "date", "message-id", "mime-version", "received", "return-path", "cc", "reply-to", "content-type"];

    /// <summary>An RFC 5322 header block: header lines up to a blank line, with at least two of the usual mail headers and a From.</summary>
    private static bool IsEmail(string text)
    {
        var known = 0;
        var from = false;
        foreach (var line in text.Split('\n').Take(200))
        {
            var l = line.TrimEnd('\r');
            if (l.Length == 0) break;
            if (l[0] is ' ' or '\t') continue; // folded continuation
            var colon = l.IndexOf(':');
            if (colon <= 0 || l[..colon].Any(c => c is ' ' or '\t' || c > 126)) return false;
            var name = l[..colon].ToLowerInvariant();
            if (MailHeaders.Contains(name)) known++;
            if (name == "from") from = true;
        }
        return from && known >= 2;
    }
}
