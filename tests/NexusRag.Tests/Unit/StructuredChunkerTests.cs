using NexusRag.Core.Ingestion;

namespace NexusRag.Tests.Unit;

public sealed class StructuredChunkerTests
{
    private readonly StructuredChunker _chunker = new(new SlidingWindowChunker());

    private static IReadOnlyList<string> Path(params string[] p) => p;

    [Fact]
    public void Headings_start_sections_and_every_chunk_carries_its_path()
    {
        var doc = new ExtractedDocument("test",
        [
            new TextBlock("Release process", BlockKind.Heading, Headings: Path("Release process")),
            new TextBlock("Intro about releases.", Headings: Path("Release process")),
            new TextBlock("Gates", BlockKind.Heading, Headings: Path("Release process", "Gates")),
            new TextBlock("Two approvals are needed.", Headings: Path("Release process", "Gates")),
        ]);
        var chunks = _chunker.Chunk(doc, 1000, 100);
        Assert.Equal(2, chunks.Count);
        Assert.Equal("Release process\n\nIntro about releases.", chunks[0].Text);
        Assert.Equal("Release process", chunks[0].Location!.HeadingPath);
        Assert.Equal("Gates\n\nTwo approvals are needed.", chunks[1].Text);
        Assert.Equal("Release process › Gates", chunks[1].Location!.HeadingPath);
        var (text, _) = StructuredChunker.Layout(doc.Blocks);
        Assert.All(chunks, c => Assert.Equal(c.Text, text[c.Start..c.End])); // offsets point into the document's text
    }

    [Fact]
    public void A_table_too_long_for_one_chunk_is_cut_between_rows_with_the_header_repeated()
    {
        var rows = new List<TextBlock> { new("Name | Qty", BlockKind.TableRow, Sheet: "s", Row: 1, Table: 1, IsHeaderRow: true) };
        for (var r = 2; r <= 40; r++) rows.Add(new TextBlock($"item number {r:00} | {r * 10}", BlockKind.TableRow, Sheet: "s", Row: r, Table: 1));
        var chunks = _chunker.Chunk(new ExtractedDocument("test", rows), 200, 20);
        Assert.True(chunks.Count > 2);
        Assert.All(chunks, c => Assert.StartsWith("Name | Qty\n", c.Text));
        Assert.All(chunks, c => Assert.True(c.Text.Length <= 200, c.Text));
        Assert.Equal(2, chunks[0].Location!.RowStart);
        Assert.Equal(40, chunks[^1].Location!.RowEnd);
        // Every row lands in exactly one chunk, in order.
        var seen = chunks.SelectMany(c => c.Text.Split('\n').Skip(1)).ToList();
        Assert.Equal(rows.Skip(1).Select(r => r.Text), seen);
    }

    [Fact]
    public void Pages_are_boundaries_and_a_long_paragraph_falls_back_to_the_window()
    {
        var longText = string.Join(' ', Enumerable.Repeat("word", 400));
        var doc = new ExtractedDocument("pdf", [new TextBlock("Short page one.", Page: 1), new TextBlock(longText, Page: 2)]);
        var chunks = _chunker.Chunk(doc, 300, 30);
        Assert.Equal("Short page one.", chunks[0].Text);
        Assert.Equal((1, 1), (chunks[0].Location!.PageStart, chunks[0].Location!.PageEnd));
        Assert.All(chunks.Skip(1), c => Assert.Equal(2, c.Location!.PageStart));
        Assert.True(chunks.Count > 5);
        Assert.Equal(chunks.Select(c => (c.Start, c.End, c.Text)), _chunker.Chunk(doc, 300, 30).Select(c => (c.Start, c.End, c.Text))); // deterministic
    }

    [Fact]
    public void Plain_text_is_chunked_exactly_as_by_the_sliding_window()
    {
        var text = string.Join("\n\n", Enumerable.Range(0, 50).Select(i => $"Paragraph {i} has a few words in it."));
        var expected = new SlidingWindowChunker().Chunk(text, 200, 40);
        var actual = _chunker.Chunk(ExtractedDocument.PlainText("text", text), 200, 40);
        Assert.Equal(expected, actual);
    }
}
