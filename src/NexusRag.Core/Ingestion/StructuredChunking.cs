using System.Text;
using System.Text.Json;

namespace NexusRag.Core.Ingestion;

/// <summary>
/// Where a chunk comes from in its document: pages (PDF pages; for slides the slide numbers), the slide, the sheet and
/// rows of a spreadsheet or CSV, the heading path (<c>Release process › Gates</c>), and whether its text came from OCR.
/// Kept in the chunk's metadata under these names, so search hits and citations carry it.
/// </summary>
public sealed record ChunkLocation(
    int? PageStart = null, int? PageEnd = null, int? Slide = null, string? Sheet = null, int? RowStart = null, int? RowEnd = null,
    string? HeadingPath = null, bool Ocr = false)
{
    public const string PathSeparator = " › ";

    public bool IsEmpty => PageStart is null && Slide is null && Sheet is null && RowStart is null && HeadingPath is null && !Ocr;

    public void WriteTo(Utf8JsonWriter w)
    {
        if (PageStart is { } ps) w.WriteNumber("page_start", ps);
        if (PageEnd is { } pe) w.WriteNumber("page_end", pe);
        if (Slide is { } s) w.WriteNumber("slide", s);
        if (Sheet is not null) w.WriteString("sheet", Sheet);
        if (RowStart is { } rs) w.WriteNumber("row_start", rs);
        if (RowEnd is { } re) w.WriteNumber("row_end", re);
        if (HeadingPath is not null) w.WriteString("heading_path", HeadingPath);
        if (Ocr) w.WriteBoolean("ocr", true);
    }

    /// <summary>Reads the location back from a chunk's metadata JSON (null when it has none).</summary>
    public static ChunkLocation? FromMetadata(string metadataJson)
    {
        if (string.IsNullOrEmpty(metadataJson)) return null;
        using var doc = JsonDocument.Parse(metadataJson);
        return FromMetadata(doc.RootElement);
    }

    /// <summary>Reads the location from chunk metadata the caller has already parsed.</summary>
    public static ChunkLocation? FromMetadata(JsonElement r)
    {
        if (r.ValueKind != JsonValueKind.Object) return null;
        int? Int(string name) => r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : null;
        string? Str(string name) => r.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var loc = new ChunkLocation(Int("page_start"), Int("page_end"), Int("slide"), Str("sheet"), Int("row_start"), Int("row_end"), Str("heading_path"),
            r.TryGetProperty("ocr", out var o) && o.ValueKind == JsonValueKind.True);
        return loc.IsEmpty ? null : loc;
    }

    /// <summary>A short human locator for prompts and answers: <c>p. 3</c>, <c>pp. 3–4</c>, <c>slide 2</c>, <c>Sales, rows 2–9</c> (null without pages, slides or rows).</summary>
    public string? Locator()
    {
        var parts = new List<string>();
        if (Slide is { } slide) parts.Add($"slide {slide}");
        else if (PageStart is { } ps) parts.Add(PageEnd is { } pe && pe != ps ? $"pp. {ps}–{pe}" : $"p. {ps}");
        if (Sheet is not null) parts.Add(Sheet);
        if (RowStart is { } rs) parts.Add(RowEnd is { } re && re != rs ? $"rows {rs}–{re}" : $"row {rs}");
        return parts.Count == 0 ? null : string.Join(", ", parts);
    }
}

/// <summary>Pipeline step 2: splits an extracted document into chunks.</summary>
public interface IDocumentChunker
{
    IReadOnlyList<ChunkSpan> Chunk(ExtractedDocument document, int sizeChars, int overlapChars);
}

/// <summary>
/// Structure-aware chunking. The document's text is its blocks in order (rows of one table joined by a line break,
/// other blocks by a blank line); chunk offsets are positions in that text. Sections start at every heading and at
/// every new page, slide or sheet, and a chunk never spans two sections, so each carries one heading path and cites
/// one page (a paragraph running over a page break is cut there: a precise page beats a longer chunk). Within a section
/// whole blocks are packed up to the size; a table that fits is never split, and a table that does not is cut between
/// rows with its header row repeated at the top of each later part; a single block longer than the size falls back
/// to the sliding window (with its overlap), as does an unstructured document (plain text) as a whole.
/// Deterministic: the same document and parameters give the same chunks, so the same chunk ids.
/// </summary>
public sealed class StructuredChunker(IChunker window) : IDocumentChunker
{
    public IReadOnlyList<ChunkSpan> Chunk(ExtractedDocument document, int sizeChars, int overlapChars)
    {
        var blocks = document.Blocks.Where(b => !string.IsNullOrWhiteSpace(b.Text)).ToList();
        var (text, starts) = Layout(blocks);
        var result = new List<ChunkSpan>();
        if (blocks.Count == 1 && IsUnstructured(blocks[0]))
        {
            return window.Chunk(text, sizeChars, overlapChars);
        }

        foreach (var section in Sections(blocks))
        {
            var current = new List<int>();
            void Flush()
            {
                if (current.Count == 0) return;
                Add(result, text, starts, blocks, current, header: null);
                current.Clear();
            }
            var i = 0;
            while (i < section.Count)
            {
                var unit = UnitAt(blocks, section, i);
                var unitLength = Length(starts, blocks, unit);
                var isTable = blocks[unit[0]].Table is not null;
                if (unitLength > sizeChars && isTable)
                {
                    Flush();
                    SplitTable(result, text, starts, blocks, unit, sizeChars, overlapChars);
                }
                else if (unitLength > sizeChars)
                {
                    // One long block: the window splits it; a heading just before it opens its first piece.
                    var b = unit[0];
                    var lead = current.Count > 0 && current.All(c => blocks[c].Kind == BlockKind.Heading) ? starts[current[0]] : (int?)null;
                    if (lead is null) Flush();
                    var pieces = window.Chunk(blocks[b].Text, sizeChars, overlapChars);
                    for (var p = 0; p < pieces.Count; p++)
                    {
                        var s = p == 0 && lead is { } l ? l : starts[b] + pieces[p].Start;
                        var e = starts[b] + pieces[p].End;
                        result.Add(new ChunkSpan(result.Count, s, e, text[s..e], LocationOf(blocks, p == 0 && lead is not null ? [.. current, b] : [b])));
                    }
                    current.Clear();
                }
                else
                {
                    var projected = current.Count == 0 ? unitLength : starts[unit[^1]] + blocks[unit[^1]].Text.Length - starts[current[0]];
                    if (projected > sizeChars) Flush();
                    current.AddRange(unit);
                }
                i += unit.Count;
            }
            Flush();
        }
        return result;
    }

    private static bool IsUnstructured(TextBlock b) =>
        b.Kind == BlockKind.Paragraph && b.Page is null && b.Slide is null && b.Sheet is null && b.Row is null && b.Headings is null && b.Table is null && !b.Ocr;

    /// <summary>The document's text and each block's start in it.</summary>
    public static (string Text, int[] Starts) Layout(IReadOnlyList<TextBlock> blocks)
    {
        var sb = new StringBuilder();
        var starts = new int[blocks.Count];
        for (var i = 0; i < blocks.Count; i++)
        {
            if (i > 0) sb.Append(blocks[i].Table is { } t && blocks[i - 1].Table == t ? "\n" : "\n\n");
            starts[i] = sb.Length;
            sb.Append(blocks[i].Text);
        }
        return (sb.ToString(), starts);
    }

    private static IEnumerable<List<int>> Sections(List<TextBlock> blocks)
    {
        var section = new List<int>();
        for (var i = 0; i < blocks.Count; i++)
        {
            if (section.Count > 0)
            {
                var prev = blocks[section[^1]];
                var b = blocks[i];
                var startsNew = (b.Kind == BlockKind.Heading && prev.Kind != BlockKind.Heading)
                                || b.Slide != prev.Slide || b.Sheet != prev.Sheet || b.Page != prev.Page
                                || (b.Kind != BlockKind.Heading && !SameHeadings(b.Headings, prev.Headings) && prev.Kind != BlockKind.Heading);
                if (startsNew)
                {
                    yield return section;
                    section = [];
                }
            }
            section.Add(i);
        }
        if (section.Count > 0) yield return section;
    }

    private static bool SameHeadings(IReadOnlyList<string>? a, IReadOnlyList<string>? b) =>
        ReferenceEquals(a, b) || (a is not null && b is not null && a.SequenceEqual(b, StringComparer.Ordinal));

    /// <summary>A unit is one block, or all consecutive rows of one table.</summary>
    private static List<int> UnitAt(List<TextBlock> blocks, List<int> section, int i)
    {
        var first = section[i];
        if (blocks[first].Table is not { } table) return [first];
        var unit = new List<int> { first };
        for (var j = i + 1; j < section.Count && blocks[section[j]].Table == table; j++) unit.Add(section[j]);
        return unit;
    }

    private static int Length(int[] starts, List<TextBlock> blocks, List<int> unit) =>
        starts[unit[^1]] + blocks[unit[^1]].Text.Length - starts[unit[0]];

    private void SplitTable(List<ChunkSpan> result, string text, int[] starts, List<TextBlock> blocks, List<int> rows, int size, int overlap)
    {
        var header = blocks[rows[0]].IsHeaderRow ? rows[0] : (int?)null;
        var headerLength = header is { } h ? blocks[h].Text.Length + 1 : 0;
        var part = new List<int>();
        void FlushPart()
        {
            if (part.Count == 0) return;
            var withHeader = header is { } hh && part[0] != hh && headerLength + Length(starts, blocks, part) <= size ? hh : (int?)null;
            Add(result, text, starts, blocks, part, withHeader);
            part.Clear();
        }
        foreach (var r in rows)
        {
            var rowLength = blocks[r].Text.Length;
            if (rowLength > size)
            {
                // A single row longer than a chunk: its own pieces, by the window.
                FlushPart();
                foreach (var piece in window.Chunk(blocks[r].Text, size, overlap))
                    result.Add(new ChunkSpan(result.Count, starts[r] + piece.Start, starts[r] + piece.End, piece.Text, LocationOf(blocks, [r])));
                continue;
            }
            var needsHeader = header is { } hd && (part.Count > 0 ? part[0] != hd : r != hd);
            var budget = size - (needsHeader ? headerLength : 0);
            var projected = part.Count == 0 ? rowLength : starts[r] + rowLength - starts[part[0]];
            if (part.Count > 0 && projected > budget) FlushPart();
            part.Add(r);
        }
        FlushPart();
    }

    private static void Add(List<ChunkSpan> result, string text, int[] starts, List<TextBlock> blocks, List<int> members, int? header)
    {
        var s = starts[members[0]];
        var e = starts[members[^1]] + blocks[members[^1]].Text.Length;
        while (s < e && char.IsWhiteSpace(text[s])) s++;
        while (e > s && char.IsWhiteSpace(text[e - 1])) e--;
        if (e <= s) return;
        var body = text[s..e];
        var chunkText = header is { } h ? blocks[h].Text.Trim() + "\n" + body : body;
        result.Add(new ChunkSpan(result.Count, s, e, chunkText, LocationOf(blocks, header is { } hh ? [hh, .. members] : members)));
    }

    private static ChunkLocation? LocationOf(List<TextBlock> blocks, IEnumerable<int> members)
    {
        var bs = members.Select(i => blocks[i]).ToList();
        var pages = bs.Where(b => b.Page is not null).Select(b => b.Page!.Value).ToList();
        var rows = bs.Where(b => b.Row is not null && !b.IsHeaderRow).Select(b => b.Row!.Value).ToList();
        var headings = bs.LastOrDefault(b => b.Kind != BlockKind.Heading)?.Headings ?? bs[^1].Headings;
        var loc = new ChunkLocation(
            pages.Count == 0 ? null : pages.Min(), pages.Count == 0 ? null : pages.Max(),
            bs.Select(b => b.Slide).FirstOrDefault(x => x is not null),
            bs.Select(b => b.Sheet).FirstOrDefault(x => x is not null),
            rows.Count == 0 ? null : rows.Min(), rows.Count == 0 ? null : rows.Max(),
            headings is { Count: > 0 } ? string.Join(ChunkLocation.PathSeparator, headings) : null,
            bs.Any(b => b.Ocr));
        return loc.IsEmpty ? null : loc;
    }
}
