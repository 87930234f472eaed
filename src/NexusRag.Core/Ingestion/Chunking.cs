using System.Security.Cryptography;
using System.Text;

namespace NexusRag.Core.Ingestion;

/// <summary>A chunk: its position, its offsets in the extracted text, its text, and where in the document it comes from.</summary>
public sealed record ChunkSpan(int Index, int Start, int End, string Text, ChunkLocation? Location = null);

/// <summary>Pipeline step 2: splits extracted text into chunks.</summary>
public interface IChunker
{
    IReadOnlyList<ChunkSpan> Chunk(string text, int sizeChars, int overlapChars);
}

/// <summary>
/// Paragraph-aware sliding window. Each window is at most <c>size</c> characters; its end is moved back
/// to the best boundary in the second half of the window — a paragraph break first, then a line break,
/// then a sentence end, then whitespace — so chunks rarely cut a word or sentence. The next window starts
/// <c>overlap</c> characters before the previous end, moved forward to the start of a word. Offsets are
/// positions in the extracted text; whitespace at chunk edges is trimmed. Deterministic: the same text
/// and parameters always give the same chunks.
/// </summary>
public sealed class SlidingWindowChunker : IChunker
{
    public IReadOnlyList<ChunkSpan> Chunk(string text, int sizeChars, int overlapChars)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sizeChars, 1);
        if (overlapChars < 0 || overlapChars >= sizeChars)
            throw new ArgumentOutOfRangeException(nameof(overlapChars), "overlap must be >= 0 and < size");

        var result = new List<ChunkSpan>();
        var start = SkipWhitespace(text, 0);
        while (start < text.Length)
        {
            var end = Math.Min(start + sizeChars, text.Length);
            if (end < text.Length) end = BestBreak(text, start, end, sizeChars);

            var (s, e) = Trim(text, start, end);
            if (e > s) result.Add(new ChunkSpan(result.Count, s, e, text[s..e]));
            if (end >= text.Length) break;

            var next = end - overlapChars;
            if (overlapChars > 0)
            {
                // Begin the overlap at a word start so a chunk does not open mid-word.
                while (next < end && next > 0 && !char.IsWhiteSpace(text[next - 1])) next++;
            }
            next = Math.Max(next, start + 1);
            start = SkipWhitespace(text, next);
        }
        return result;
    }

    private static int BestBreak(string text, int start, int end, int size)
    {
        var min = start + Math.Max(1, size / 2);
        var window = text.AsSpan(min, end - min);
        var para = window.LastIndexOf("\n\n");
        if (para >= 0) return min + para + 2;
        var line = window.LastIndexOf('\n');
        if (line >= 0) return min + line + 1;
        for (var i = window.Length - 1; i > 0; i--)
        {
            if (char.IsWhiteSpace(window[i]) && window[i - 1] is '.' or '!' or '?') return min + i + 1;
        }
        for (var i = window.Length - 1; i >= 0; i--)
        {
            if (char.IsWhiteSpace(window[i])) return min + i + 1;
        }
        return end;
    }

    private static int SkipWhitespace(string text, int i)
    {
        while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
        return i;
    }

    private static (int, int) Trim(string text, int s, int e)
    {
        while (s < e && char.IsWhiteSpace(text[s])) s++;
        while (e > s && char.IsWhiteSpace(text[e - 1])) e--;
        return (s, e);
    }

    /// <summary>Stable chunk id: the same tenant, document, position and text always give the same id.</summary>
    public static string ChunkId(string tenantId, string documentId, int index, string text, int indexVersion = 1)
    {
        // Version 1 keeps the ids chunks had before index versions; later versions hash their number in, so ids never collide.
        var key = indexVersion == 1 ? $"{tenantId}\u001f{documentId}\u001f{index}\u001f{text}" : $"{tenantId}\u001f{documentId}\u001f{index}\u001f{text}\u001fv{indexVersion}";
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        return "chk_" + Convert.ToHexStringLower(bytes.AsSpan(0, 12));
    }
}
