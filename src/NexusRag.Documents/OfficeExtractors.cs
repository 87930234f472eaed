using System.IO.Compression;
using System.Text;
using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Spreadsheet;
using NexusRag.Core.Ingestion;
using A = DocumentFormat.OpenXml.Drawing;
using P = DocumentFormat.OpenXml.Presentation;
using W = DocumentFormat.OpenXml.Wordprocessing;

namespace NexusRag.Documents;

/// <summary>
/// Bounds an OOXML container before anything inflates it: entry count, each entry's and the total uncompressed size, and
/// each large entry's compression ratio (zip bombs).
/// </summary>
public static class ZipGuard
{
    public static void Check(Stream content, ExtractionOptions o)
    {
        var start = content.Position;
        try
        {
            using var zip = new ZipArchive(content, ZipArchiveMode.Read, leaveOpen: true);
            if (zip.Entries.Count > o.ZipMaxEntries)
                throw new ExtractionException(ExtractionCodes.Bomb, $"the container has {zip.Entries.Count} entries; at most {o.ZipMaxEntries} are accepted");
            long total = 0;
            foreach (var e in zip.Entries)
            {
                if (e.Length > o.ZipMaxEntryUncompressedBytes)
                    throw new ExtractionException(ExtractionCodes.Bomb, $"entry '{Core.Errors.Text.Clip(e.FullName, 80)}' inflates to {e.Length} bytes; at most {o.ZipMaxEntryUncompressedBytes} are accepted");
                if (e.Length > 1024 * 1024 && e.CompressedLength > 0 && e.Length / e.CompressedLength > o.ZipMaxCompressionRatio)
                    throw new ExtractionException(ExtractionCodes.Bomb, $"entry '{Core.Errors.Text.Clip(e.FullName, 80)}' has a compression ratio of {e.Length / e.CompressedLength}:1; at most {o.ZipMaxCompressionRatio}:1 is accepted");
                total += e.Length;
                if (total > o.ZipMaxTotalUncompressedBytes)
                    throw new ExtractionException(ExtractionCodes.Bomb, $"the container inflates to more than {o.ZipMaxTotalUncompressedBytes} bytes");
            }
        }
        catch (InvalidDataException ex)
        {
            throw new ExtractionException(ExtractionCodes.Corrupt, "the file is not a readable zip container: " + Core.Errors.Text.Clip(ex.Message, 160));
        }
        finally
        {
            content.Position = start;
        }
    }

    /// <summary>Opens an OOXML package after <see cref="Check"/>, mapping the SDK's errors on damaged input to <see cref="ExtractionCodes.Corrupt"/>.</summary>
    public static T Open<T>(Stream content, ExtractionOptions o, Func<Stream, T> open, string what)
    {
        Check(content, o);
        try { return open(content); }
        catch (Exception ex) when (ex is OpenXmlPackageException or InvalidDataException or System.Xml.XmlException or FileFormatException or InvalidOperationException)
        {
            throw new ExtractionException(ExtractionCodes.Corrupt, $"the file is not a readable {what}: {Core.Errors.Text.Clip(ex.Message, 160)}");
        }
    }
}

/// <summary>Text of an OpenXML subtree: runs' text, tabs and breaks, without tracked deletions.</summary>
internal static class OpenXmlText
{
    public static string Of(OpenXmlElement element)
    {
        var sb = new StringBuilder();
        foreach (var e in element.Descendants())
        {
            switch (e)
            {
                case W.Text t: sb.Append(t.Text); break;
                case W.TabChar: sb.Append('\t'); break;
                case W.Break or W.CarriageReturn: sb.Append('\n'); break;
                case A.Text at: sb.Append(at.Text); break;
                case A.Break: sb.Append('\n'); break;
            }
        }
        return sb.ToString().Trim();
    }
}

/// <summary>
/// DOCX: paragraphs in body order; Heading 1–9 and Title styles (by style name, or the style's outline level) build the
/// heading path; a table becomes one block per row (cells joined by <c> | </c>), its first row the header row.
/// </summary>
public sealed class DocxExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Docx];

    public Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        using var doc = ZipGuard.Open(content, context.Options, s => WordprocessingDocument.Open(s, false), "Word document");
        var body = doc.MainDocumentPart?.Document?.Body ?? throw new ExtractionException(ExtractionCodes.Corrupt, "the Word document has no body");
        var levels = HeadingLevels(doc.MainDocumentPart!.StyleDefinitionsPart?.Styles);
        var blocks = new List<TextBlock>();
        var headings = new HeadingTrail();
        var table = 0;
        foreach (var element in BodyElements(body))
        {
            ct.ThrowIfCancellationRequested();
            switch (element)
            {
                case W.Paragraph p:
                {
                    var text = OpenXmlText.Of(p);
                    if (text.Length == 0) break;
                    var styleId = p.ParagraphProperties?.ParagraphStyleId?.Val?.Value;
                    var level = styleId is not null && levels.TryGetValue(styleId, out var l) ? l
                        : p.ParagraphProperties?.OutlineLevel?.Val?.Value is { } ol && ol < 9 ? ol + 1 : 0;
                    if (level > 0)
                    {
                        headings.Push(level, text);
                        blocks.Add(new TextBlock(text, BlockKind.Heading, Headings: headings.Current));
                    }
                    else
                    {
                        blocks.Add(new TextBlock(text, Headings: headings.Current));
                    }
                    break;
                }
                case W.Table t:
                {
                    table++;
                    var first = true;
                    foreach (var row in t.Elements<W.TableRow>())
                    {
                        var cells = row.Elements<W.TableCell>().Select(c => OpenXmlText.Of(c).Replace('\n', ' ')).ToList();
                        if (cells.All(c => c.Length == 0)) continue;
                        blocks.Add(new TextBlock(string.Join(" | ", cells), BlockKind.TableRow, Headings: headings.Current, Table: table, IsHeaderRow: first));
                        first = false;
                    }
                    break;
                }
            }
        }
        var meta = new Dictionary<string, string>();
        if (doc.PackageProperties.Title is { Length: > 0 } title) meta["title"] = Core.Errors.Text.Clip(title, 500);
        if (doc.PackageProperties.Creator is { Length: > 0 } creator) meta["author"] = Core.Errors.Text.Clip(creator, 500);
        return Task.FromResult(new ExtractedDocument("docx", blocks, meta));
    }

    /// <summary>Paragraphs and tables of the body in order, looking inside content controls.</summary>
    private static IEnumerable<OpenXmlElement> BodyElements(OpenXmlElement root)
    {
        foreach (var e in root.ChildElements)
        {
            if (e is W.Paragraph or W.Table) yield return e;
            else if (e is W.SdtBlock sdt && sdt.SdtContentBlock is { } inner)
                foreach (var x in BodyElements(inner)) yield return x;
        }
    }

    /// <summary>Style id → heading level, from the style's name (<c>heading 2</c>, <c>Title</c>) or outline level.</summary>
    private static Dictionary<string, int> HeadingLevels(W.Styles? styles)
    {
        var map = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var s in styles?.Elements<W.Style>() ?? [])
        {
            if (s.StyleId?.Value is not { } id) continue;
            var name = s.StyleName?.Val?.Value?.Trim().ToLowerInvariant() ?? "";
            if (name == "title") map[id] = 1;
            else if (name.StartsWith("heading ", StringComparison.Ordinal) && int.TryParse(name[8..], out var n) && n is >= 1 and <= 9) map[id] = n;
            else if (s.StyleParagraphProperties?.OutlineLevel?.Val?.Value is { } ol && ol < 9) map[id] = ol + 1;
        }
        return map;
    }
}

/// <summary>
/// PPTX: slides in presentation order; each slide's title is its heading, its other text frames and tables its
/// blocks, its speaker notes a last block. Every block knows its slide (as <c>slide</c> and as page).
/// </summary>
public sealed class PptxExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Pptx];

    public Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        using var doc = ZipGuard.Open(content, context.Options, s => PresentationDocument.Open(s, false), "PowerPoint presentation");
        var part = doc.PresentationPart ?? throw new ExtractionException(ExtractionCodes.Corrupt, "the presentation has no presentation part");
        var ids = part.Presentation?.SlideIdList?.Elements<P.SlideId>().ToList() ?? [];
        if (ids.Count > context.Options.MaxPages)
            throw new ExtractionException(ExtractionCodes.TooManyPages, $"the presentation has {ids.Count} slides; at most {context.Options.MaxPages} are accepted (MAX_PAGES)");
        var blocks = new List<TextBlock>();
        var table = 0;
        for (var i = 0; i < ids.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var number = i + 1;
            if (ids[i].RelationshipId?.Value is not { } rid || part.GetPartById(rid) is not SlidePart slide || slide.Slide is null) continue;
            var shapes = slide.Slide.Descendants<P.Shape>().ToList();
            var titleShape = shapes.FirstOrDefault(IsTitle);
            var title = titleShape?.TextBody is { } tb ? OpenXmlText.Of(tb).Replace('\n', ' ') : null;
            IReadOnlyList<string>? headings = string.IsNullOrWhiteSpace(title) ? null : [title!];
            if (headings is not null) blocks.Add(new TextBlock(title!, BlockKind.Heading, Page: number, Slide: number, Headings: headings));
            foreach (var shape in shapes)
            {
                if (shape == titleShape || shape.TextBody is null) continue;
                foreach (var para in shape.TextBody.Elements<A.Paragraph>())
                {
                    var text = OpenXmlText.Of(para);
                    if (text.Length > 0) blocks.Add(new TextBlock(text, Page: number, Slide: number, Headings: headings));
                }
            }
            foreach (var tbl in slide.Slide.Descendants<A.Table>())
            {
                table++;
                var first = true;
                foreach (var row in tbl.Elements<A.TableRow>())
                {
                    var cells = row.Elements<A.TableCell>().Select(c => OpenXmlText.Of(c).Replace('\n', ' ')).ToList();
                    if (cells.All(c => c.Length == 0)) continue;
                    blocks.Add(new TextBlock(string.Join(" | ", cells), BlockKind.TableRow, Page: number, Slide: number, Headings: headings, Table: table, IsHeaderRow: first));
                    first = false;
                }
            }
            if (slide.NotesSlidePart?.NotesSlide is { } notes)
            {
                var text = string.Join("\n", notes.Descendants<P.Shape>().Where(s => !IsSlideImage(s) && s.TextBody is not null)
                    .Select(s => OpenXmlText.Of(s.TextBody!)).Where(t => t.Length > 0 && !int.TryParse(t, out _)));
                if (text.Length > 0) blocks.Add(new TextBlock("Notes: " + text, Page: number, Slide: number, Headings: headings));
            }
        }
        var meta = new Dictionary<string, string>();
        if (doc.PackageProperties.Title is { Length: > 0 } t) meta["title"] = Core.Errors.Text.Clip(t, 500);
        return Task.FromResult(new ExtractedDocument("pptx", blocks, meta, ids.Count));
    }

    private static bool IsTitle(P.Shape s)
    {
        var ph = s.NonVisualShapeProperties?.ApplicationNonVisualDrawingProperties?.PlaceholderShape;
        return ph?.Type?.Value is { } type && (type == P.PlaceholderValues.Title || type == P.PlaceholderValues.CenteredTitle);
    }

    private static bool IsSlideImage(P.Shape s) =>
        s.NonVisualShapeProperties?.ApplicationNonVisualDrawingProperties?.PlaceholderShape?.Type?.Value is { } type && type == P.PlaceholderValues.SlideImage;
}

/// <summary>
/// XLSX: every sheet in workbook order; one block per non-empty row (cells joined by <c> | </c>), the sheet's first
/// non-empty row its header row, each block knowing its sheet name and row number. Shared and inline strings,
/// booleans and numbers are read as shown in the cell's value.
/// </summary>
public sealed class XlsxExtractor : IContentExtractor
{
    public IReadOnlyCollection<string> MediaTypes { get; } = [Core.Ingestion.MediaTypes.Xlsx];

    public Task<ExtractedDocument> ExtractAsync(Stream content, ExtractionContext context, CancellationToken ct)
    {
        using var doc = ZipGuard.Open(content, context.Options, s => SpreadsheetDocument.Open(s, false), "Excel workbook");
        var wb = doc.WorkbookPart ?? throw new ExtractionException(ExtractionCodes.Corrupt, "the workbook has no workbook part");
        var shared = wb.SharedStringTablePart?.SharedStringTable?.Elements<SharedStringItem>().Select(s => s.InnerText).ToArray() ?? [];
        var blocks = new List<TextBlock>();
        var sheets = wb.Workbook?.Sheets?.Elements<Sheet>().ToList() ?? [];
        var rows = 0;
        for (var i = 0; i < sheets.Count; i++)
        {
            var sheet = sheets[i];
            if (sheet.Id?.Value is not { } rid || wb.GetPartById(rid) is not WorksheetPart ws) continue;
            var name = sheet.Name?.Value ?? $"Sheet{i + 1}";
            var first = true;
            using var reader = OpenXmlReader.Create(ws);
            while (reader.Read())
            {
                if (reader.ElementType != typeof(Row) || !reader.IsStartElement) continue;
                ct.ThrowIfCancellationRequested();
                var row = (Row)reader.LoadCurrentElement()!;
                var cells = row.Elements<Cell>().Select(c => CellText(c, shared)).ToList();
                while (cells.Count > 0 && cells[^1].Length == 0) cells.RemoveAt(cells.Count - 1);
                if (cells.Count == 0) continue;
                if (++rows > context.Options.MaxRows)
                    throw new ExtractionException(ExtractionCodes.TooManyPages, $"the workbook has more than {context.Options.MaxRows} rows");
                var number = row.RowIndex?.Value is { } ri ? (int)ri : rows;
                blocks.Add(new TextBlock(string.Join(" | ", cells), BlockKind.TableRow, Sheet: name, Row: number, Table: i + 1, IsHeaderRow: first));
                first = false;
            }
        }
        return Task.FromResult(new ExtractedDocument("xlsx", blocks, null, sheets.Count));
    }

    private static string CellText(Cell c, string[] shared)
    {
        var raw = c.CellValue?.Text ?? "";
        if (c.DataType?.Value is { } type)
        {
            if (type == CellValues.SharedString) return int.TryParse(raw, out var i) && i >= 0 && i < shared.Length ? shared[i].Trim() : "";
            if (type == CellValues.InlineString) return c.InlineString?.InnerText.Trim() ?? "";
            if (type == CellValues.Boolean) return raw == "1" ? "TRUE" : "FALSE";
        }
        return raw.Trim();
    }
}
