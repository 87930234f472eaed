using System.ComponentModel.DataAnnotations;

namespace NexusRag.Core.Chat;

/// <summary>
/// A retrieved chunk as the generator sees it: numbered [n] in the prompt and in the answer, with a short locator a
/// reader can follow (<c>p. 3</c>, <c>slide 2</c>, <c>Sales, rows 2–9</c>, or the heading path) when the document has one.
/// </summary>
public sealed record ContextBlock(int Number, string Text, string Source, double Score, string? Locator = null, string? HeadingPath = null);

/// <summary>Keys shared between the run service and generators.</summary>
public static class ChatKeys
{
    /// <summary><c>ChatOptions.AdditionalProperties</c> key holding the <see cref="ContextBlock"/> list of a run.</summary>
    public const string Context = "nexusrag.context";
}

public static class MessageRoles
{
    public const string User = "user";
    public const string Assistant = "assistant";
}

public sealed record MessageInfo(string Id, string TenantId, string SessionId, string Role, string Content, string? MetadataJson, DateTime CreatedAt);

public enum SessionOpenResult { Created, Existing, OtherTenant }

/// <summary>Chat sessions and their messages. Session ids are unique across tenants.</summary>
public interface ISessionStore
{
    /// <summary>Creates the session for the tenant, or confirms the tenant owns it; <see cref="SessionOpenResult.OtherTenant"/> otherwise.</summary>
    Task<SessionOpenResult> OpenAsync(string tenantId, string sessionId, string corpusId, CancellationToken ct);
    /// <summary>The tenant that owns the session (session ids are unique across tenants); null when there is none yet.</summary>
    Task<string?> OwnerAsync(string sessionId, CancellationToken ct);
    Task<bool> ExistsAsync(string tenantId, string sessionId, CancellationToken ct);
    Task AppendMessageAsync(MessageInfo message, CancellationToken ct);
    /// <summary>The last <paramref name="limit"/> messages of the session, oldest first.</summary>
    Task<IReadOnlyList<MessageInfo>> LastMessagesAsync(string tenantId, string sessionId, int limit, CancellationToken ct);
}

/// <summary>
/// Answer generation (section <c>NexusRag:Llm</c>; flat names <c>LLM_PROVIDER</c>, <c>LLM_MODEL</c>, <c>OPENAI_BASE_URL</c>,
/// <c>OPENAI_API_KEY</c>, <c>LLM_TIMEOUT_MS</c>, <c>LLM_MAX_RETRIES</c>, <c>LLM_MAX_OUTPUT_TOKENS</c>).
/// </summary>
public sealed class LlmOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Llm";
    public static readonly string[] Providers = ["extractive", "openai", "fake"];

    public string Provider { get; set; } = "extractive";
    public string? Model { get; set; }
    public string? BaseUrl { get; set; }
    public string? ApiKey { get; set; }
    /// <summary>Time allowed to the first byte of an answer, and between two streamed pieces of it.</summary>
    [Range(100, 600_000)] [FlatName("LLM_TIMEOUT_MS")] public int TimeoutMs { get; set; } = 30_000;
    [Range(0, 10)] [FlatName("LLM_MAX_RETRIES")] public int MaxRetries { get; set; } = 2;
    [Range(1, 32_000)] [FlatName("LLM_MAX_OUTPUT_TOKENS")] public int MaxOutputTokens { get; set; } = 800;
    [Range(0.0, 2.0)] public double Temperature { get; set; } = 0.2;
    /// <summary>Extractive generator: at most this many sentences in an answer.</summary>
    [Range(1, 20)] public int ExtractiveMaxSentences { get; set; } = 3;
    public List<string> ParseErrors { get; } = [];
}

/// <summary>/v1/run settings (section <c>NexusRag:Run</c>; <c>RUN_SSE_HEARTBEAT_S</c>, <c>RUN_HISTORY_TURNS</c>, <c>DEBUG_EVENTS</c>).</summary>
public sealed class RunOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Run";
    [Range(0.05, 3600)] [FlatName("RUN_SSE_HEARTBEAT_S")] public double HeartbeatSeconds { get; set; } = 10;
    /// <summary>How many earlier turns (user + assistant pairs) go into the prompt.</summary>
    [Range(0, 100)] [FlatName("RUN_HISTORY_TURNS")] public int HistoryTurns { get; set; } = 6;
    [Range(1, 50)] public int MaxTopK { get; set; } = 50;
    [Range(1, 100_000)] public int MaxMessageChars { get; set; } = 8_000;
    public bool DebugEvents { get; set; }
    public List<string> ParseErrors { get; } = [];
}
