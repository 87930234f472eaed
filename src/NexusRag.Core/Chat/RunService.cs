using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Errors;
using NexusRag.Core.Search;
using NexusRag.Core.Services;

namespace NexusRag.Core.Chat;

/// <summary>
/// A run; <see cref="TopK"/> null means the corpus's <c>top_k_default</c>. A run with <see cref="History"/> is stateless
/// (the OpenAI-compatible API, MCP <c>ask</c>): the caller owns the conversation, so no session is opened and no message
/// is stored; <see cref="SessionId"/> then only names the run. <see cref="Surface"/> says which API asked (audited).
/// </summary>
public sealed record RunRequest(string SessionId, string CorpusId, string Message, int? TopK, bool Audio)
{
    public IReadOnlyList<ChatTurn>? History { get; init; }
    /// <summary>The caller's own instructions (OpenAI <c>system</c> messages), added after the grounding prompt.</summary>
    public string? Instructions { get; init; }
    /// <summary>Overrides <c>LLM_MAX_OUTPUT_TOKENS</c> (never above it).</summary>
    public int? MaxOutputTokens { get; init; }
    public double? Temperature { get; init; }
    public string Surface { get; init; } = "run";
    public bool Stateless => History is not null;
}

/// <summary>An earlier turn of a conversation the caller sends along (<see cref="MessageRoles"/>).</summary>
public sealed record ChatTurn(string Role, string Content);

/// <summary>What <see cref="RunService.PrepareAsync"/> checked before the stream opens (top_k resolved), and the writes it started.</summary>
public sealed record RunContext(Principal Principal, RunRequest Request, string RequestId, IReadOnlyList<MessageInfo> History,
    CorpusInfo Corpus, int TopK)
{
    /// <summary>
    /// The question being stored (session, user message, the run.invoked audit event): started by
    /// <see cref="RunService.PrepareAsync"/>, done while retrieval runs, awaited before message.final.
    /// </summary>
    public Task Persisted { get; init; } = Task.CompletedTask;
}

/// <summary>
/// One typed event of a run's stream. Transports map them their own way: the SSE endpoint onto the seed's event names
/// (request.accepted, debug.retrieval, token.delta, message.final, audio.error, error, done), adding seq and ids.
/// </summary>
public abstract record RunEvent;

public sealed record RunAccepted(string SessionId, string CorpusId, int TopK) : RunEvent;

public sealed record RetrievalDebug(IReadOnlyList<RetrievedItem> Results) : RunEvent;

public sealed record RetrievedItem(string ChunkId, string DocumentId, int ChunkIndex, double Score, int? LexicalRank, int? VectorRank);

public sealed record AnswerDelta(string Delta) : RunEvent;

/// <summary>The answer; <see cref="IndexVersion"/> is the corpus index version that retrieved its context.</summary>
public sealed record AnswerFinal(string Text, IReadOnlyList<Citation> Citations, int IndexVersion = 1) : RunEvent
{
    public RunUsage? Usage { get; init; }
}

/// <summary>
/// Tokens a run used: what the generator reported, or (<see cref="Estimated"/>) about four characters per token for a
/// generator that reports none (the offline extractive one).
/// </summary>
public sealed record RunUsage(int PromptTokens, int CompletionTokens, bool Estimated)
{
    public int TotalTokens => PromptTokens + CompletionTokens;

    public static int Estimate(int chars) => chars == 0 ? 0 : Math.Max(1, (chars + 3) / 4);
}

/// <summary>The answer was given but audio could not be produced.</summary>
public sealed record AudioFailed(string Code, string Message) : RunEvent;

/// <summary>The run failed after the stream opened (a seed error code, a message, and the kind of failure for transports that can still pick a status).</summary>
public sealed record RunFailed(string Code, string Message, ErrorKind Kind = ErrorKind.Internal) : RunEvent;

/// <summary>The last event of every stream.</summary>
public sealed record RunCompleted : RunEvent;

/// <summary>A retrieved chunk cited as [<see cref="N"/>] in the answer.</summary>
public sealed record Citation(int N, string ChunkId, string DocumentId, int ChunkIndex, int StartOffset, int EndOffset, double Score,
    Ingestion.ChunkLocation? Location = null)
{
    public string Source => $"document://{DocumentId}";

    /// <summary>The seed's citation object (also how an assistant message keeps its citations).</summary>
    public Dictionary<string, object?> ToSeedShape()
    {
        var metadata = new Dictionary<string, object?>
        {
            ["n"] = N, ["chunk_id"] = ChunkId, ["document_id"] = DocumentId, ["chunk_index"] = ChunkIndex,
            ["start_offset"] = StartOffset, ["end_offset"] = EndOffset,
        };
        // Where the passage is in its document, where that applies (PDF pages, slides, sheets and rows, headings).
        void Put(string key, object? value) { if (value is not null) metadata[key] = value; }
        Put("page_start", Location?.PageStart);
        Put("page_end", Location?.PageEnd);
        Put("slide", Location?.Slide);
        Put("heading_path", Location?.HeadingPath);
        Put("sheet", Location?.Sheet);
        Put("row_start", Location?.RowStart);
        Put("row_end", Location?.RowEnd);
        Put("locator", Location?.Locator());
        return new() { ["source"] = Source, ["score"] = Score, ["metadata"] = metadata };
    }
}

/// <summary>A generator failed, timed out or broke its stream.</summary>
public sealed class LlmProviderException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Retrieval-augmented answering for /v1/run. <see cref="PrepareAsync"/> validates the corpus and the session's owner
/// (errors surface as plain HTTP errors) and starts storing the question; <see cref="StreamAsync"/> then emits
/// request.accepted → [debug.retrieval] → token.delta* → message.final → [audio.error] → done, or … → error → done.
/// The question's writes (session, user message, hash-chained audit event) run beside retrieval and generation, off the
/// path to the first token, and message.final waits for them: an answer is never final for a question that was not
/// stored (if storing fails, the stream ends with error). The assistant message is persisted only after message.final; a
/// failed or cancelled run leaves none.
/// </summary>
public sealed class RunService(
    ICorpusStore corpora,
    ISessionStore sessions,
    IAuditLog audit,
    SearchService search,
    Authorization.DocumentAuthorizer authorizer,
    IChatClient chat,
    IOptions<RunOptions> runOptions,
    IOptions<LlmOptions> llmOptions,
    TimeProvider clock,
    ILogger<RunService> logger)
{
    public const string SystemPrompt =
        "You are NexusRAG, an assistant that answers questions from a document collection. " +
        "Answer using only the numbered context blocks below. Cite every block you use with its number in square brackets, " +
        "like [1] or [2][3]; when a block names its page, slide or rows, add them after the number, like [2] (p. 3). If the context does not contain the answer, say plainly that the documents do not cover it.";

    public async Task<RunContext> PrepareAsync(Principal principal, RunRequest request, string requestId, CancellationToken ct)
    {
        var corpus = await corpora.GetAsync(principal.TenantId, request.CorpusId, ct).ConfigureAwait(false)
                     ?? throw NexusException.NotFound("corpus", request.CorpusId);
        var topK = request.TopK ?? Corpora.ProviderConfig.TopKDefault(corpus.ProviderConfigJson);
        IReadOnlyList<MessageInfo> history;
        var auditMeta = new Dictionary<string, object?>
        {
            ["corpus_id"] = request.CorpusId, ["top_k"] = topK, ["audio"] = request.Audio, ["message_chars"] = request.Message.Length,
            ["surface"] = request.Surface,
        };
        if (request.History is { } turns)
        {
            // Stateless: the caller sends the conversation; nothing is stored but the audit event.
            var now = clock.GetUtcNow().UtcDateTime;
            history = turns.Select(t => new MessageInfo("", principal.TenantId, request.SessionId, t.Role, t.Content, null, now)).ToList();
            auditMeta["history_turns"] = turns.Count;
            var invoked = new AuditEntry(principal.TenantId, "run.invoked", "success", principal.ActorType, principal.ActorId,
                "corpus", request.CorpusId, requestId, auditMeta);
            return new RunContext(principal, request, requestId, history, corpus, topK)
            {
                Persisted = Store(() => audit.AppendAsync(invoked, CancellationToken.None), requestId),
            };
        }
        // Session ids are unique across tenants: another tenant's session is refused before the stream opens.
        var owner = await sessions.OwnerAsync(request.SessionId, ct).ConfigureAwait(false);
        if (owner is not null && owner != principal.TenantId) throw SessionMismatch(request.SessionId);
        var keep = runOptions.Value.HistoryTurns;
        history = owner is null || keep == 0
            ? []
            : await sessions.LastMessagesAsync(principal.TenantId, request.SessionId, keep * 2, ct).ConfigureAwait(false);
        var question = new MessageInfo(Identifiers.NewId("msg"), principal.TenantId, request.SessionId, MessageRoles.User,
            request.Message, JsonSerializer.Serialize(new Dictionary<string, object?> { ["request_id"] = requestId, ["corpus_id"] = request.CorpusId }),
            clock.GetUtcNow().UtcDateTime);
        // The message itself is never audited (seed redaction policy): only who asked what corpus, in which session.
        var audited = new AuditEntry(principal.TenantId, "run.invoked", "success", "api_key", principal.ApiKeyId ?? principal.Actor,
            "session", request.SessionId, requestId, auditMeta);
        // Stored from here on, beside retrieval (after the history was read, so the question is not part of its own history).
        // The client leaving does not stop it: the question was received.
        var persisted = Store(async () =>
        {
            var opened = await sessions.OpenAsync(principal.TenantId, request.SessionId, request.CorpusId, CancellationToken.None).ConfigureAwait(false);
            if (opened == SessionOpenResult.OtherTenant) throw SessionMismatch(request.SessionId); // another tenant's first run won the race
            await sessions.AppendMessageAsync(question, CancellationToken.None).ConfigureAwait(false);
            await audit.AppendAsync(audited, CancellationToken.None).ConfigureAwait(false);
        }, requestId);
        return new RunContext(principal, request, requestId, history, corpus, topK) { Persisted = persisted };
    }

    private static NexusException SessionMismatch(string sessionId) =>
        NexusException.Conflict(ErrorCodes.SessionTenantMismatch, $"Session '{Text.Clip(sessionId, 64)}' belongs to another tenant; use another session_id",
            new Dictionary<string, object?> { ["session_id"] = sessionId });

    /// <summary>Runs a run's writes on the thread pool (off the request's path); a failure is logged even when no stream waits for it any more.</summary>
    private Task Store(Func<Task> writes, string requestId)
    {
        var task = Task.Run(writes);
        task.ContinueWith(t => logger.LogWarning(t.Exception!.GetBaseException(), "Run {RequestId}: storing the question failed", requestId),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    public async Task StreamAsync(RunContext run, Func<RunEvent, Task> emit, CancellationToken ct)
    {
        var r = run.Request;
        await emit(new RunAccepted(r.SessionId, r.CorpusId, run.TopK)).ConfigureAwait(false);
        var succeeded = false;
        try
        {
            var readable = await authorizer.ReadableAsync(run.Principal, r.CorpusId, ct).ConfigureAwait(false); // a forbidden chunk is never retrieved
            var retrieved = await search.SearchAsync(run.Corpus, new SearchRequest(r.CorpusId, r.Message, run.TopK, SearchMode.Hybrid, null, readable), ct)
                .ConfigureAwait(false);
            var results = retrieved.Results;
            if (runOptions.Value.DebugEvents)
            {
                await emit(new RetrievalDebug(results.Select(x =>
                    new RetrievedItem(x.Chunk.Id, x.Chunk.DocumentId, x.Chunk.ChunkIndex, x.Hit.Score, x.Hit.LexicalRank, x.Hit.VectorRank)).ToList()))
                    .ConfigureAwait(false);
            }

            var locations = results.Select(x => Ingestion.ChunkLocation.FromMetadata(x.Chunk.MetadataJson)).ToList();
            var blocks = results.Select((x, i) => new ContextBlock(i + 1, x.Chunk.Text, $"document://{x.Chunk.DocumentId}", x.Hit.Score,
                locations[i]?.Locator(), locations[i]?.HeadingPath)).ToList();
            var llm = llmOptions.Value;
            var options = new ChatOptions
            {
                MaxOutputTokens = Math.Min(r.MaxOutputTokens ?? llm.MaxOutputTokens, llm.MaxOutputTokens),
                Temperature = (float)(r.Temperature ?? llm.Temperature),
                AdditionalProperties = new AdditionalPropertiesDictionary { [ChatKeys.Context] = blocks },
            };
            var answer = new StringBuilder();
            var prompt = BuildPrompt(blocks, run.History, r.Message, r.Instructions);
            UsageDetails? reported = null;
            try
            {
                await foreach (var update in chat.GetStreamingResponseAsync(prompt, options, ct).ConfigureAwait(false))
                {
                    foreach (var u in update.Contents.OfType<UsageContent>()) reported = u.Details;
                    var delta = update.Text;
                    if (string.IsNullOrEmpty(delta)) continue;
                    answer.Append(delta);
                    await emit(new AnswerDelta(delta)).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (ex is LlmProviderException) throw;
                throw new LlmProviderException($"the answer generator failed: {ex.GetType().Name}: {Text.Clip(ex.Message, 300)}", ex);
            }

            var citations = results.Select((x, i) =>
                new Citation(i + 1, x.Chunk.Id, x.Chunk.DocumentId, x.Chunk.ChunkIndex, x.Chunk.StartOffset, x.Chunk.EndOffset, x.Hit.Score, locations[i])).ToList();
            var text = answer.ToString();
            var usage = reported is { InputTokenCount: { } pin, OutputTokenCount: { } pout }
                ? new RunUsage((int)pin, (int)pout, Estimated: false)
                : new RunUsage(RunUsage.Estimate(prompt.Sum(m => m.Text.Length)), RunUsage.Estimate(text.Length), Estimated: true);
            await run.Persisted.WaitAsync(ct).ConfigureAwait(false); // the question is stored before its answer is final
            await emit(new AnswerFinal(text, citations, retrieved.IndexVersion) { Usage = usage }).ConfigureAwait(false);
            // The answer exists once message.final is out: keep it even if the client leaves now (stateless runs keep nothing).
            if (!r.Stateless)
            {
                await sessions.AppendMessageAsync(new MessageInfo(Identifiers.NewId("msg"), run.Principal.TenantId, r.SessionId, MessageRoles.Assistant, text,
                    JsonSerializer.Serialize(new Dictionary<string, object?> { ["request_id"] = run.RequestId, ["citations"] = citations.Select(c => c.ToSeedShape()).ToList() }),
                    clock.GetUtcNow().UtcDateTime), CancellationToken.None).ConfigureAwait(false);
            }
            succeeded = true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            logger.LogInformation("Run {RequestId}: client went away; generation cancelled", run.RequestId);
            throw;
        }
        catch (Exception ex)
        {
            var (code, message, kind) = ex switch
            {
                NexusException a => (a.Code, a.Message, a.Kind),
                LlmProviderException => (ErrorCodes.LlmProviderError, ex.Message, ErrorKind.UpstreamFailure),
                _ => (ErrorCodes.InternalError, "The run failed unexpectedly", ErrorKind.Internal),
            };
            logger.LogWarning(ex, "Run {RequestId} failed: {Code}", run.RequestId, code);
            await emit(new RunFailed(code, message, kind)).ConfigureAwait(false);
        }

        if (succeeded && r.Audio)
        {
            await emit(new AudioFailed("TTS_DISABLED", "Audio output is not enabled on this server (TTS_PROVIDER=none)")).ConfigureAwait(false);
        }
        await emit(new RunCompleted()).ConfigureAwait(false);
    }

    /// <summary>
    /// System message with the numbered context (and the caller's own instructions after it), then the last turns of the
    /// conversation, then the question.
    /// </summary>
    public static List<ChatMessage> BuildPrompt(IReadOnlyList<ContextBlock> blocks, IReadOnlyList<MessageInfo> history, string message, string? instructions = null)
    {
        var system = new StringBuilder(SystemPrompt);
        if (!string.IsNullOrWhiteSpace(instructions)) system.Append("\n\nInstructions from the caller:\n").Append(instructions.Trim());
        system.Append("\n\nContext:\n");
        if (blocks.Count == 0) system.Append("(no documents matched the question)\n");
        foreach (var b in blocks)
        {
            system.Append('[').Append(b.Number).Append("] (").Append(b.Source);
            if (b.Locator is not null) system.Append(", ").Append(b.Locator);
            if (b.HeadingPath is not null) system.Append(", section: ").Append(b.HeadingPath);
            system.Append(")\n").Append(b.Text.Trim()).Append("\n\n");
        }
        var messages = new List<ChatMessage> { new(ChatRole.System, system.ToString().TrimEnd()) };
        foreach (var m in history)
            messages.Add(new ChatMessage(m.Role == MessageRoles.Assistant ? ChatRole.Assistant : ChatRole.User, m.Content));
        messages.Add(new ChatMessage(ChatRole.User, message));
        return messages;
    }
}
