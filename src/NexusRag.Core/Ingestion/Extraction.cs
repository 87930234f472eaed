using System.Text;
using System.Text.Json;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Ingestion;

/// <summary>What a block of extracted text is; the chunker keeps tables together and starts sections at headings.</summary>
public enum BlockKind { Paragraph, Heading, TableRow }

/// <summary>
/// One piece of a document's text in reading order, with where it came from: page (PDF page or slide number), slide,
/// sheet and row, the heading path above it, and the table it belongs to (<see cref="Table"/>; <see cref="IsHeaderRow"/>
/// marks the row repeated when a long table is split).
/// </summary>
public sealed record TextBlock(
    string Text, BlockKind Kind = BlockKind.Paragraph, int? Page = null, int? Slide = null, string? Sheet = null, int? Row = null,
    IReadOnlyList<string>? Headings = null, int? Table = null, bool IsHeaderRow = false, bool Ocr = false);

/// <summary>A page that yielded no text, and why (e.g. an image-only page while OCR is unavailable).</summary>
public sealed record SkippedPage(int Page, string Reason);

/// <summary>A file inside another (an e-mail attachment): ingested as a child document or skipped, by setting.</summary>
public sealed record ExtractedAttachment(string? Filename, string DeclaredMediaType, byte[] Content);

/// <summary>The result of step 1 of the pipeline: structured text plus what the document says about itself.</summary>
public sealed record ExtractedDocument(
    string Format,
    IReadOnlyList<TextBlock> Blocks,
    IReadOnlyDictionary<string, string>? Metadata = null,
    int? PageCount = null,
    IReadOnlyList<int>? OcrPages = null,
    IReadOnlyList<SkippedPage>? SkippedPages = null,
    IReadOnlyList<ExtractedAttachment>? Attachments = null)
{
    /// <summary>A document of one unstructured block (plain text): the sliding window chunks it.</summary>
    public static ExtractedDocument PlainText(string format, string text) => new(format, text.Length == 0 ? [] : [new TextBlock(text)]);

    public bool HasText => Blocks.Any(b => !string.IsNullOrWhiteSpace(b.Text));

    /// <summary>What the document records about its extraction (document <c>extraction</c> field), as JSON.</summary>
    public string SummaryJson(int? skippedAttachments = null, IReadOnlyList<string>? childDocuments = null)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("format", Format);
            if (PageCount is { } pages) w.WriteNumber("page_count", pages);
            if (OcrPages is { Count: > 0 })
            {
                w.WriteStartArray("ocr_pages");
                foreach (var p in OcrPages) w.WriteNumberValue(p);
                w.WriteEndArray();
            }
            if (SkippedPages is { Count: > 0 })
            {
                w.WriteStartArray("skipped_pages");
                foreach (var s in SkippedPages)
                {
                    w.WriteStartObject();
                    w.WriteNumber("page", s.Page);
                    w.WriteString("reason", s.Reason);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            if (Metadata is { Count: > 0 })
            {
                w.WriteStartObject("metadata");
                foreach (var (k, v) in Metadata.OrderBy(x => x.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            if (skippedAttachments is > 0) w.WriteNumber("skipped_attachments", skippedAttachments.Value);
            if (childDocuments is { Count: > 0 })
            {
                w.WriteStartArray("child_documents");
                foreach (var c in childDocuments) w.WriteStringValue(c);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}

/// <summary>What an extractor may use besides the bytes: limits and the cancellation of the time budget.</summary>
public sealed record ExtractionContext(string MediaType, string? Filename, ExtractionOptions Options);

/// <summary>
/// Pipeline step 1: turns the bytes of some media types into structured text. <paramref name="content"/> is seekable.
/// Failures that retrying cannot fix throw <see cref="ExtractionException"/> with a stable code.
/// </summary>
public interface IContentExtractor
{
    IReadOnlyCollection<string> MediaTypes { get; }
    Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct);
}

/// <summary>Stable codes a failed document's <c>failure_reason</c> starts with.</summary>
public static class ExtractionCodes
{
    public const string Encrypted = "DOCUMENT_ENCRYPTED";
    public const string Corrupt = "DOCUMENT_CORRUPT";
    public const string TooManyPages = "DOCUMENT_TOO_MANY_PAGES";
    public const string Bomb = "DECOMPRESSION_LIMIT";
    public const string TooDeep = "DOCUMENT_TOO_DEEP";
    public const string Timeout = "EXTRACT_TIMEOUT";
    public const string Empty = "DOCUMENT_EMPTY";
    public const string OcrUnavailable = "OCR_UNAVAILABLE";
    public const string OcrFailed = "OCR_FAILED";
    public const string Unsupported = "UNSUPPORTED_MEDIA_TYPE";
    public const string OriginalMissing = "ORIGINAL_MISSING";
    public const string InvalidText = "INVALID_TEXT";
}

/// <summary>Content that cannot be extracted; <c>failure_reason</c> becomes <c>CODE: message</c>.</summary>
public sealed class ExtractionException(string code, string message) : Exception($"{code}: {message}")
{
    public string Code { get; } = code;
    public string Detail { get; } = message;
}

public sealed class PlainTextExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = ["text/plain"];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct) =>
        ExtractedDocument.PlainText("text", await TextContent.ReadUtf8Async(content, ct).ConfigureAwait(false));
}

/// <summary>Markdown: ATX headings (<c># Title</c>) start sections and give each chunk its heading path.</summary>
public sealed class MarkdownExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = ["text/markdown"];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        var text = await TextContent.ReadUtf8Async(content, ct).ConfigureAwait(false);
        var blocks = new List<TextBlock>();
        var headings = new HeadingTrail();
        var body = new StringBuilder();
        var fenced = false;
        void Flush()
        {
            var t = body.ToString().Trim('\n');
            if (t.Trim().Length > 0) blocks.Add(new TextBlock(t, Headings: headings.Current));
            body.Clear();
        }
        foreach (var line in text.Split('\n'))
        {
            if (line.TrimStart().StartsWith("```", StringComparison.Ordinal)) fenced = !fenced;
            var level = fenced ? 0 : HeadingLevel(line);
            if (level > 0)
            {
                Flush();
                headings.Push(level, line.TrimStart().TrimStart('#').Trim().TrimEnd('#').Trim());
                blocks.Add(new TextBlock(line.Trim(), BlockKind.Heading, Headings: headings.Current));
                continue;
            }
            body.Append(line).Append('\n');
        }
        Flush();
        return new ExtractedDocument("markdown", blocks);
    }

    private static int HeadingLevel(string line)
    {
        var t = line.TrimStart();
        if (line.Length - t.Length > 3) return 0;
        var n = 0;
        while (n < t.Length && t[n] == '#') n++;
        return n is >= 1 and <= 6 && (t.Length == n || t[n] == ' ') ? n : 0;
    }
}

/// <summary>The heading path at a point of a document: pushing a level-n heading drops those at n and deeper.</summary>
public sealed class HeadingTrail
{
    private readonly List<(int Level, string Text)> _stack = [];

    public IReadOnlyList<string>? Current { get; private set; }

    public void Push(int level, string text)
    {
        _stack.RemoveAll(h => h.Level >= level);
        if (text.Length > 0) _stack.Add((level, Errors.Text.Clip(text, 200)));
        Current = _stack.Count == 0 ? null : _stack.Select(h => h.Text).ToArray();
    }
}

/// <summary>application/json uploads of the form <c>{"text": "..."}</c>.</summary>
public sealed class JsonTextExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = ["application/json"];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        try
        {
            using var doc = await JsonDocument.ParseAsync(content, cancellationToken: ct).ConfigureAwait(false);
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("text", out var text)
                || text.ValueKind != JsonValueKind.String)
            {
                throw new ExtractionException(ExtractionCodes.InvalidText, "JSON documents must be an object with a string field \"text\"");
            }
            return ExtractedDocument.PlainText("json", (text.GetString() ?? "").Replace("\r\n", "\n", StringComparison.Ordinal));
        }
        catch (JsonException)
        {
            throw new ExtractionException(ExtractionCodes.InvalidText, "content is not valid JSON");
        }
    }
}

public static class TextContent
{
    public static async Task<string> ReadUtf8Async(Stream content, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        await content.CopyToAsync(ms, ct).ConfigureAwait(false);
        return DecodeUtf8(ms.GetBuffer().AsSpan(0, (int)ms.Length));
    }

    public static string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return text.TrimStart('\uFEFF').Replace("\r\n", "\n", StringComparison.Ordinal);
        }
        catch (DecoderFallbackException)
        {
            throw new ExtractionException(ExtractionCodes.InvalidText, "content is not valid UTF-8 text");
        }
    }
}

/// <summary>Chooses the extractor for a media type; the set of media types accepted at upload comes from here.</summary>
public sealed class ContentExtractorRegistry
{
    private readonly Dictionary<string, IContentExtractor> _byType = new(StringComparer.OrdinalIgnoreCase);

    public ContentExtractorRegistry(IEnumerable<IContentExtractor> extractors)
    {
        // Later registrations win, so a host can replace the extractor of a media type.
        foreach (var extractor in extractors)
            foreach (var type in extractor.MediaTypes)
                _byType[type] = extractor;
    }

    public IReadOnlyCollection<string> SupportedMediaTypes => _byType.Keys;

    public bool Supports(string mediaType) => _byType.ContainsKey(mediaType);

    public Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct) =>
        _byType.TryGetValue(context.MediaType, out var extractor)
            ? extractor.ExtractAsync(content, context, ct)
            : throw Unsupported(context.MediaType);

    public NexusException Unsupported(string detected, string? declared = null) =>
        new(ErrorKind.UnsupportedMediaType, ErrorCodes.UnsupportedMediaType,
            $"Unsupported document type '{Errors.Text.Clip(detected, 64)}'" + (declared is not null && declared != detected ? $" (declared '{Errors.Text.Clip(declared, 64)}')" : ""),
            new Dictionary<string, object?> { ["detected"] = detected, ["declared"] = declared, ["supported"] = SupportedMediaTypes.Order().ToArray() });
}
