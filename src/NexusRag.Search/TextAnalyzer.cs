using Lucene.Net.Analysis.En;
using Lucene.Net.Analysis.TokenAttributes;
using Lucene.Net.Util;

namespace NexusRag.Search;

/// <summary>Turns text into index terms. The same analyzer must index and query.</summary>
public interface ITextAnalyzer
{
    /// <summary>Identifies the analysis chain; a snapshot made with another one is discarded.</summary>
    string Id { get; }
    List<string> Analyze(string text);
}

/// <summary>
/// Lucene.Net's <see cref="EnglishAnalyzer"/>: standard (UAX#29) tokenization, English possessive removal,
/// lowercasing, English stop words, Porter stemming. Thread-safe (Lucene reuses token streams per thread).
/// </summary>
public sealed class EnglishTextAnalyzer : ITextAnalyzer, IDisposable
{
    private readonly EnglishAnalyzer _analyzer = new(LuceneVersion.LUCENE_48);

    public string Id => "lucene-english-4.8";

    public List<string> Analyze(string text)
    {
        var terms = new List<string>();
        using var stream = _analyzer.GetTokenStream("body", text);
        var term = stream.AddAttribute<ICharTermAttribute>();
        stream.Reset();
        while (stream.IncrementToken()) terms.Add(term.ToString());
        stream.End();
        return terms;
    }

    public void Dispose() => _analyzer.Dispose();
}
