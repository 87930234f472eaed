using NexusRag.Core.Bootstrap;
using NexusRag.Core.Ingestion;

namespace NexusRag.Tests.Unit;

public class ChunkerTests
{
    private readonly SlidingWindowChunker _chunker = new();

    [Fact]
    public void Offsets_point_at_the_chunk_text_and_chunks_respect_the_size()
    {
        var text = string.Join("\n\n", Enumerable.Range(0, 40).Select(i => $"Paragraph {i} says something about topic {i % 7}. It has two sentences, this one longer than the first."));
        var chunks = _chunker.Chunk(text, 300, 50);
        Assert.True(chunks.Count > 5);
        foreach (var c in chunks)
        {
            Assert.Equal(text[c.Start..c.End], c.Text);
            Assert.True(c.Text.Length <= 300, $"chunk {c.Index} has {c.Text.Length} chars");
            Assert.Equal(c.Text.Trim(), c.Text);
        }
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Index));
        // Sliding window covers the text: every non-whitespace character is inside some chunk.
        var covered = new bool[text.Length];
        foreach (var c in chunks) for (var i = c.Start; i < c.End; i++) covered[i] = true;
        for (var i = 0; i < text.Length; i++) if (!char.IsWhiteSpace(text[i])) Assert.True(covered[i], $"char {i} not covered");
    }

    [Fact]
    public void Consecutive_chunks_overlap_by_about_the_overlap_and_start_at_word_starts()
    {
        var text = string.Join(" ", Enumerable.Range(0, 600).Select(i => $"word{i}"));
        var chunks = _chunker.Chunk(text, 400, 100);
        for (var i = 1; i < chunks.Count; i++)
        {
            var overlap = chunks[i - 1].End - chunks[i].Start;
            Assert.InRange(overlap, 80, 100);
            Assert.True(chunks[i].Start == 0 || char.IsWhiteSpace(text[chunks[i].Start - 1]), "chunk starts mid-word");
            Assert.True(chunks[i - 1].End == text.Length || char.IsWhiteSpace(text[chunks[i - 1].End]), "chunk ends mid-word");
        }
    }

    [Fact]
    public void Breaks_prefer_paragraph_boundaries()
    {
        var p1 = new string('a', 10) + " " + string.Join(" ", Enumerable.Repeat("alpha", 60)); // ~370 chars
        var p2 = string.Join(" ", Enumerable.Repeat("beta", 80));
        var text = p1 + "\n\n" + p2;
        var chunks = _chunker.Chunk(text, 600, 0);
        Assert.Equal(p1, chunks[0].Text);
        Assert.StartsWith("beta", chunks[1].Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Is_deterministic_and_ids_are_stable()
    {
        var text = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 200));
        var a = _chunker.Chunk(text, 1200, 150);
        var b = _chunker.Chunk(text, 1200, 150);
        Assert.Equal(a, b);
        Assert.Equal(SlidingWindowChunker.ChunkId("t", "d", 0, a[0].Text), SlidingWindowChunker.ChunkId("t", "d", 0, b[0].Text));
        Assert.NotEqual(SlidingWindowChunker.ChunkId("t", "d", 0, a[0].Text), SlidingWindowChunker.ChunkId("t2", "d", 0, a[0].Text));
    }

    [Fact]
    public void Handles_empty_whitespace_and_unbreakable_text()
    {
        Assert.Empty(_chunker.Chunk("", 100, 10));
        Assert.Empty(_chunker.Chunk("   \n\n  ", 100, 10));
        var blob = new string('x', 1000);
        var chunks = _chunker.Chunk(blob, 300, 30);
        Assert.All(chunks, c => Assert.True(c.Text.Length <= 300));
        Assert.Equal(blob.Length, chunks[^1].End);
    }

    [Theory]
    [InlineData(100, 100)]
    [InlineData(100, -1)]
    [InlineData(0, 0)]
    public void Rejects_invalid_parameters(int size, int overlap) =>
        Assert.ThrowsAny<ArgumentOutOfRangeException>(() => _chunker.Chunk("some text", size, overlap));

    [Fact]
    public void Demo_documents_make_ten_chunks()
    {
        var total = DemoData.Documents.Sum(d => _chunker.Chunk(d.Text, DemoData.ChunkSizeChars, DemoData.ChunkOverlapChars).Count);
        Assert.Equal(DemoData.ExpectedChunks, total);
    }
}
