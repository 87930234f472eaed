using System.Text;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;
using Microsoft.VisualBasic.FileIO;
using MimeKit;
using NexusRag.Core.Ingestion;

namespace NexusRag.Documents;

/// <summary>
/// HTML with AngleSharp: the main content (<c>main</c>, else <c>article</c>, else <c>body</c>) without script, style,
/// navigation, header, footer, aside and form boilerplate; h1–h6 build the heading path; table rows become row blocks
/// (th rows are header rows); the <c>title</c> is kept as metadata. Nesting deeper than the limit is refused, and the
/// tree is walked without recursion.
/// </summary>
public sealed class HtmlExtractor : IContentExtractor
{
    private static readonly HashSet<string> Dropped = ["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "NAV", "FOOTER", "HEADER", "ASIDE", "FORM", "IFRAME", "SVG", "BUTTON", "SELECT"];
    private static readonly HashSet<string> Blocks = ["P", "DIV", "SECTION", "ARTICLE", "MAIN", "LI", "UL", "OL", "DL", "DT", "DD", "PRE", "BLOCKQUOTE", "TABLE", "THEAD", "TBODY", "TFOOT", "FIGURE", "FIGCAPTION", "BR", "HR", "ADDRESS", "DETAILS", "SUMMARY", "CAPTION"];

    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Html];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        var html = await TextContent.ReadUtf8Async(content, ct).ConfigureAwait(false);
        return FromHtml(html, context.Options, ct);
    }

    public static ExtractedDocument FromHtml(string html, ExtractionOptions options, CancellationToken ct)
    {
        // Parsing hostile nesting is slow (tens of seconds for 100,000 levels) before any tree exists to measure: scan first.
        if (HtmlNesting.MaxDepth(html) > options.HtmlMaxDepth)
            throw new ExtractionException(ExtractionCodes.TooDeep, $"the HTML nests elements more than {options.HtmlMaxDepth} deep");
        var document = new HtmlParser().ParseDocument(html);
        CheckDepth(document, options.HtmlMaxDepth);
        var meta = new Dictionary<string, string>();
        if (document.Title is { Length: > 0 } title) meta["title"] = Core.Errors.Text.Clip(title.Trim(), 500);
        var root = (IElement?)document.QuerySelector("main") ?? document.QuerySelector("article") ?? document.Body;
        var blocks = new List<TextBlock>();
        if (root is null) return new ExtractedDocument("html", blocks, meta);

        var headings = new HeadingTrail();
        var paragraph = new StringBuilder();
        var table = 0;
        void Flush()
        {
            var t = Normalize(paragraph.ToString());
            if (t.Length > 0) blocks.Add(new TextBlock(t, Headings: headings.Current));
            paragraph.Clear();
        }

        // (node, leaving): an explicit stack instead of recursion, so hostile nesting cannot overflow the thread's stack.
        var stack = new Stack<(INode Node, bool Leaving)>();
        stack.Push((root, false));
        var visited = 0;
        while (stack.Count > 0)
        {
            if ((++visited & 0xFFF) == 0) ct.ThrowIfCancellationRequested();
            var (node, leaving) = stack.Pop();
            if (node is IText text)
            {
                paragraph.Append(text.Data);
                continue;
            }
            if (node is not IElement el) continue;
            var tag = el.TagName;
            if (leaving)
            {
                if (Blocks.Contains(tag)) Flush();
                if (tag == "LI") paragraph.Clear();
                continue;
            }
            if (Dropped.Contains(tag) && el != root) continue;
            if (tag is "H1" or "H2" or "H3" or "H4" or "H5" or "H6")
            {
                Flush();
                var h = Normalize(el.TextContent);
                if (h.Length > 0)
                {
                    headings.Push(tag[1] - '0', h);
                    blocks.Add(new TextBlock(h, BlockKind.Heading, Headings: headings.Current));
                }
                continue;
            }
            if (tag == "TABLE")
            {
                Flush();
                table++;
                var first = true;
                foreach (var row in el.QuerySelectorAll("tr").Where(r => r.Closest("table") == el))
                {
                    var cells = row.Children.Where(c => c.TagName is "TD" or "TH").Select(c => Normalize(c.TextContent)).ToList();
                    if (cells.All(c => c.Length == 0)) continue;
                    var isHeader = first && (row.Children.Any(c => c.TagName == "TH") || row.ParentElement?.TagName == "THEAD");
                    blocks.Add(new TextBlock(string.Join(" | ", cells), BlockKind.TableRow, Headings: headings.Current, Table: table, IsHeaderRow: isHeader || first));
                    first = false;
                }
                continue;
            }
            if (Blocks.Contains(tag)) Flush();
            if (tag == "LI") paragraph.Append("- ");
            stack.Push((el, true));
            for (var i = el.ChildNodes.Length - 1; i >= 0; i--) stack.Push((el.ChildNodes[i], false));
        }
        Flush();
        return new ExtractedDocument("html", blocks, meta);
    }

    private static void CheckDepth(IDocument document, int max)
    {
        if (document.DocumentElement is null) return;
        var stack = new Stack<(IElement, int)>();
        stack.Push((document.DocumentElement, 1));
        while (stack.Count > 0)
        {
            var (el, depth) = stack.Pop();
            if (depth > max) throw new ExtractionException(ExtractionCodes.TooDeep, $"the HTML nests elements more than {max} deep");
            foreach (var child in el.Children) stack.Push((child, depth + 1));
        }
    }

    private static string Normalize(string s)
    {
        var sb = new StringBuilder(s.Length);
        var space = false;
        foreach (var c in s)
        {
            if (char.IsWhiteSpace(c)) { space = sb.Length > 0; continue; }
            if (space) sb.Append(' ');
            space = false;
            sb.Append(c);
        }
        return sb.ToString();
    }
}

/// <summary>
/// The deepest nesting of elements in raw HTML, by a linear scan of its tags: void elements, self-closed tags and the
/// elements whose end tags HTML lets a page omit (p, li, td …) do not nest; comments, doctype and script or style text are
/// skipped. An upper bound on the depth a parser would build, cheap enough to run before parsing.
/// </summary>
public static class HtmlNesting
{
    private static readonly HashSet<string> Flat = new(StringComparer.OrdinalIgnoreCase)
    {
        "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param",
        "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp",
    };

    public static int MaxDepth(string html)
    {
        int depth = 0, max = 0, i = 0;
        while ((i = html.IndexOf('<', i)) >= 0 && i + 1 < html.Length)
        {
            var c = html[i + 1];
            if (c == '!')
            {
                var end = html.AsSpan(i).StartsWith("<!--", StringComparison.Ordinal) ? html.IndexOf("-->", i + 4, StringComparison.Ordinal) : html.IndexOf('>', i);
                if (end < 0) break;
                i = end + 1;
                continue;
            }
            var closing = c == '/';
            var start = closing ? i + 2 : i + 1;
            var j = start;
            while (j < html.Length && char.IsAsciiLetterOrDigit(html[j])) j++;
            if (j == start) { i++; continue; }
            var name = html[start..j];
            var gt = html.IndexOf('>', j);
            if (gt < 0) break;
            if (closing)
            {
                if (!Flat.Contains(name) && depth > 0) depth--;
            }
            else if (name.Equals("script", StringComparison.OrdinalIgnoreCase) || name.Equals("style", StringComparison.OrdinalIgnoreCase))
            {
                var close = html.IndexOf("</" + name, gt, StringComparison.OrdinalIgnoreCase);
                if (close < 0) break;
                i = close;
                continue;
            }
            else if (html[gt - 1] != '/' && !Flat.Contains(name))
            {
                max = Math.Max(max, ++depth);
            }
            i = gt + 1;
        }
        return max;
    }
}

/// <summary>
/// CSV (and TSV or semicolon-separated, by the first line): one block per record, fields joined by <c> | </c>, the
/// first record the header row; each block knows its row number (1 = the header). Quoted fields may hold separators
/// and line breaks (RFC 4180), parsed by the framework's <see cref="TextFieldParser"/>.
/// </summary>
public sealed class CsvExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Csv];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        var text = await TextContent.ReadUtf8Async(content, ct).ConfigureAwait(false);
        var firstLine = text[..(text.IndexOf('\n') is var nl and >= 0 ? nl : text.Length)];
        var delimiter = new[] { ',', ';', '\t', '|' }.OrderByDescending(d => firstLine.Count(c => c == d)).First();
        using var parser = new TextFieldParser(new StringReader(text)) { TextFieldType = FieldType.Delimited, HasFieldsEnclosedInQuotes = true, TrimWhiteSpace = true };
        parser.SetDelimiters(delimiter.ToString());
        var blocks = new List<TextBlock>();
        var row = 0;
        while (!parser.EndOfData)
        {
            if ((row & 0x3FF) == 0) ct.ThrowIfCancellationRequested();
            string[]? fields;
            try { fields = parser.ReadFields(); }
            catch (MalformedLineException ex)
            {
                throw new ExtractionException(ExtractionCodes.Corrupt, $"the CSV is malformed at line {ex.LineNumber}");
            }
            if (fields is null || fields.All(f => f.Length == 0)) continue;
            if (++row > context.Options.MaxRows) throw new ExtractionException(ExtractionCodes.TooManyPages, $"the CSV has more than {context.Options.MaxRows} rows");
            blocks.Add(new TextBlock(string.Join(" | ", fields.Select(f => f.Replace("\r\n", " ").Replace('\n', ' '))), BlockKind.TableRow, Row: row, Table: 1, IsHeaderRow: row == 1));
        }
        return new ExtractedDocument("csv", blocks);
    }
}

/// <summary>
/// E-mail (RFC 5322 / MIME) with MimeKit: From, To, Cc, Date, Subject and Message-ID become metadata and a header block;
/// the subject is the heading; the plain-text body is used, or the HTML body's text. Attachments (and attached
/// messages) are returned for the pipeline to ingest as child documents or skip (<c>EML_ATTACHMENTS</c>).
/// </summary>
public sealed class EmlExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Eml];

    public async Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        MimeMessage message;
        try { message = await MimeMessage.LoadAsync(content, ct).ConfigureAwait(false); }
        catch (FormatException ex) { throw new ExtractionException(ExtractionCodes.Corrupt, "the e-mail could not be parsed: " + Core.Errors.Text.Clip(ex.Message, 160)); }
        using (message)
        {
            var meta = new Dictionary<string, string>();
            void Put(string key, string? value) { if (!string.IsNullOrWhiteSpace(value)) meta[key] = Core.Errors.Text.Clip(value.Trim(), 1000); }
            Put("from", message.From.ToString());
            Put("to", message.To.ToString());
            Put("cc", message.Cc.ToString());
            Put("subject", message.Subject);
            Put("message_id", message.MessageId);
            if (message.Headers.Contains(HeaderId.Date)) Put("date", message.Date.ToString("O", System.Globalization.CultureInfo.InvariantCulture));

            IReadOnlyList<string>? headings = string.IsNullOrWhiteSpace(message.Subject) ? null : [Core.Errors.Text.Clip(message.Subject.Trim(), 200)];
            var blocks = new List<TextBlock>();
            var header = string.Join("\n", new[] { ("From", "from"), ("To", "to"), ("Cc", "cc"), ("Date", "date"), ("Subject", "subject") }
                .Where(h => meta.ContainsKey(h.Item2)).Select(h => $"{h.Item1}: {meta[h.Item2]}"));
            if (header.Length > 0) blocks.Add(new TextBlock(header, Headings: headings));
            if (message.TextBody is { } plain && plain.Trim().Length > 0)
            {
                foreach (var para in PdfExtractor.Paragraphs(plain)) blocks.Add(new TextBlock(para, Headings: headings));
            }
            else if (message.HtmlBody is { } html)
            {
                var body = HtmlExtractor.FromHtml(html, context.Options, ct);
                blocks.AddRange(body.Blocks.Select(b => b with { Headings = headings is null ? b.Headings : [.. headings, .. b.Headings ?? []] }));
            }

            var attachments = new List<ExtractedAttachment>();
            foreach (var entity in message.Attachments)
            {
                ct.ThrowIfCancellationRequested();
                using var ms = new MemoryStream();
                string? filename;
                switch (entity)
                {
                    case MessagePart mp when mp.Message is not null:
                        await mp.Message.WriteToAsync(ms, ct).ConfigureAwait(false);
                        filename = (mp.ContentDisposition?.FileName ?? mp.Message.Subject ?? "message") + (mp.ContentDisposition?.FileName is null ? ".eml" : "");
                        break;
                    case MimePart part when part.Content is not null:
                        await part.Content.DecodeToAsync(ms, ct).ConfigureAwait(false);
                        filename = part.FileName;
                        break;
                    default:
                        continue;
                }
                if (ms.Length > context.Options.MaxUploadBytes) continue;
                attachments.Add(new ExtractedAttachment(filename, entity.ContentType.MimeType.ToLowerInvariant(), ms.ToArray()));
            }
            return new ExtractedDocument("eml", blocks, meta, Attachments: attachments);
        }
    }
}
