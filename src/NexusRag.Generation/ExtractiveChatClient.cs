using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.AI;
using NexusRag.Core.Chat;
using NexusRag.Search;

namespace NexusRag.Generation;

/// <summary>
/// The offline answer generator. It reads the run's numbered context blocks (<see cref="ChatKeys.Context"/>) and the
/// question (the last user message), splits the blocks into sentences and picks the best ones greedily: a sentence
/// scores by the share of the question's (stemmed, stop-word-free) terms it covers, weighted by the block's retrieval
/// rank, minus its overlap with sentences already chosen (maximal marginal relevance, so the answer does not repeat
/// itself). Each chosen sentence is followed by its block's [n] marker. Without any sentence sharing a term with the
/// question it says so plainly. The answer streams word by word.
/// </summary>
public sealed partial class ExtractiveChatClient(int maxSentences = 3) : IChatClient
{
    public const string NothingFound = "I could not find anything about this in the documents of this corpus.";
    private readonly EnglishTextAnalyzer _analyzer = new();
    private readonly ChatClientMetadata _metadata = new("extractive", null, "extractive-mmr-v1");

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        await foreach (var u in GetStreamingResponseAsync(messages, options, cancellationToken).ConfigureAwait(false)) text.Append(u.Text);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString())) { ModelId = _metadata.DefaultModelId };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var question = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        var blocks = options?.AdditionalProperties?.TryGetValue(ChatKeys.Context, out var c) == true && c is IReadOnlyList<ContextBlock> list ? list : [];
        var answer = Compose(question, blocks);
        var words = answer.Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ChatResponseUpdate(ChatRole.Assistant, i == 0 ? words[i] : " " + words[i]) { ModelId = _metadata.DefaultModelId };
            if (i % 16 == 15) await Task.Yield();
        }
    }

    internal string Compose(string question, IReadOnlyList<ContextBlock> blocks)
    {
        var q = Terms(question).ToHashSet();
        if (q.Count == 0 || blocks.Count == 0) return NothingFound;
        var candidates = new List<(string Sentence, int Number, HashSet<string> Terms, double Relevance)>();
        for (var rank = 0; rank < blocks.Count; rank++)
        {
            foreach (var s in Sentences(blocks[rank].Text))
            {
                var terms = Terms(s).ToHashSet();
                var covered = terms.Count(q.Contains);
                if (covered == 0) continue;
                // Coverage of the question, a gentle preference for higher-ranked blocks, and against very long sentences.
                var relevance = (double)covered / q.Count * (1.0 / (1 + 0.1 * rank)) / Math.Sqrt(1 + terms.Count / 25.0);
                candidates.Add((s, blocks[rank].Number, terms, relevance));
            }
        }
        if (candidates.Count == 0) return NothingFound;

        var chosen = new List<(string Sentence, int Number, HashSet<string> Terms)>();
        var top = 0.0;
        while (chosen.Count < maxSentences && candidates.Count > 0)
        {
            var best = candidates
                .Select((x, i) => (i, Mmr: 0.7 * x.Relevance - 0.3 * chosen.Select(ch => Jaccard(x.Terms, ch.Terms)).DefaultIfEmpty(0).Max()))
                .OrderByDescending(x => x.Mmr).ThenBy(x => x.i).First();
            var pick = candidates[best.i];
            candidates.RemoveAt(best.i);
            if (chosen.Any(ch => Jaccard(pick.Terms, ch.Terms) > 0.6)) continue; // near-duplicate
            if (chosen.Count > 0 && pick.Relevance < 0.3 * top) break; // the rest is too weak to add
            top = Math.Max(top, pick.Relevance);
            chosen.Add((pick.Sentence, pick.Number, pick.Terms));
        }
        // Read in document order within the answer: by block number, then as chosen.
        // A block that knows where it is in its document says so after its number: "[2] (p. 3)".
        var locators = blocks.ToDictionary(b => b.Number, b => b.Locator);
        return string.Join(" ", chosen.OrderBy(x => x.Number).Select(x =>
            $"{x.Sentence.TrimEnd()} [{x.Number}]" + (locators.GetValueOrDefault(x.Number) is { } loc ? $" ({loc})" : "")));
    }

    private static double Jaccard(HashSet<string> a, HashSet<string> b) =>
        a.Count + b.Count == 0 ? 0 : (double)a.Count(b.Contains) / (a.Count + b.Count - a.Count(b.Contains));

    /// <summary>Sentence ends, blank lines, list items, and the end of a markdown heading line.</summary>
    [GeneratedRegex(@"(?<=[.!?])\s+(?=[A-Z0-9""'(\[])|\n\s*\n|\n(?=\s*[-*•#])|(?<=(?:^|\n)\s*#[^\n]*)\n")]
    private static partial Regex SentenceBreak();

    /// <summary>The text's sentences; headings are labels, not answers, and are left out.</summary>
    internal static IEnumerable<string> Sentences(string text) =>
        SentenceBreak().Split(text)
            .Where(s => !s.TrimStart().StartsWith('#'))
            .Select(s => Regex.Replace(s, @"\s+", " ").Trim().TrimStart('-', '*', '•', ' '))
            .Where(s => s.Length >= 3);

    private List<string> Terms(string text) => _analyzer.Analyze(text);

    public object? GetService(Type serviceType, object? serviceKey = null) => Core.AiServices.Resolve(serviceType, serviceKey, _metadata, this);

    public void Dispose() => _analyzer.Dispose();
}

/// <summary>
/// The seed's <c>fake</c> provider: a fixed, instant answer that names the question and cites the first block when
/// there is one. For tests and load measurements of the streaming path itself.
/// </summary>
public sealed class FakeChatClient : IChatClient
{
    private readonly ChatClientMetadata _metadata = new("fake", null, "fake");

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, Answer(messages, options))));

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var words = Answer(messages, options).Split(' ');
        for (var i = 0; i < words.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            yield return new ChatResponseUpdate(ChatRole.Assistant, i == 0 ? words[i] : " " + words[i]);
        }
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private static string Answer(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        var question = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text ?? "";
        var cited = options?.AdditionalProperties?.TryGetValue(ChatKeys.Context, out var c) == true && c is IReadOnlyList<ContextBlock> { Count: > 0 };
        return $"This is a fake answer to: {Core.Errors.Text.Clip(question, 200)}" + (cited ? " [1]" : "");
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => Core.AiServices.Resolve(serviceType, serviceKey, _metadata, this);

    public void Dispose() { }
}
