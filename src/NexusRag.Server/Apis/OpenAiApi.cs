using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Chat;
using NexusRag.Core.Corpora;
using NexusRag.Core.Embeddings;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Services;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

/// <summary>
/// OpenAI-compatible routes, so OpenAI's clients (and everything built on them) talk to a corpus: <c>GET /v1/models</c>
/// (one model per corpus of the key's tenant), <c>POST /v1/chat/completions</c> (model = corpus id; the last user message
/// is the question, earlier turns the history; grounded, cited answers) and <c>POST /v1/embeddings</c> (the corpus's
/// embedder, or an embedder by name). Request bodies follow OpenAI's wire format (fields these routes do not use are
/// ignored, as OpenAI's clients send many); errors take OpenAI's shape (<see cref="OpenAiErrorShape"/>).
/// </summary>
public static class OpenAiApi
{
    public static IEndpointRouteBuilder MapOpenAiApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1").WithTags("OpenAI-compatible").WithMetadata(new OpenAiErrorShape());
        g.MapGet("/models", Models).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).WithAuditCategory("run")
            .WithSummary("OpenAI models list: one model per corpus (id = corpus id), owned_by the configured generator.");
        g.MapGet("/models/{model}", Model).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).WithAuditCategory("run")
            .WithSummary("One corpus as an OpenAI model.");
        g.MapPost("/chat/completions", ChatCompletions).RequireRole(Role.Reader).WithRateClass(RouteClasses.Run).WithQuotaCost(3).WithAuditCategory("run")
            .RequireNotKilled(KillSwitches.Run, "Answer generation").WithMetadata(new Bulkhead(Bulkhead.Run))
            .WithSummary("OpenAI chat completions over a corpus (model = corpus id), streamed or not; citations in an extension field.");
        g.MapPost("/embeddings", Embeddings).RequireRole(Role.Reader).WithRateClass(RouteClasses.Run).WithAuditCategory("run")
            .WithSummary("OpenAI embeddings with a corpus's embedder (model = corpus id) or an embedder by name (hash, local, provider:model).");
        return app;
    }

    /// <summary>The model an OpenAI client names is a corpus this key can read; anything else is OpenAI's model_not_found.</summary>
    internal static NexusException ModelNotFound(string? model) =>
        new(ErrorKind.NotFound, ErrorCodes.NotFound, $"The model '{Text.Clip(model ?? "", 64)}' does not exist or this key cannot read it",
            new Dictionary<string, object?> { ["resource"] = "model", ["id"] = model, ["param"] = "model" });

    internal static string OwnedBy(IChatClient chat, LlmOptions llm) =>
        chat.GetService<ChatClientMetadata>()?.DefaultModelId is { Length: > 0 } m && llm.Provider == "openai" ? $"{llm.Provider}:{m}" : llm.Provider;

    private static Dictionary<string, object?> ModelObject(CorpusInfo c, string ownedBy) => new()
    {
        ["id"] = c.Id, ["object"] = "model", ["created"] = new DateTimeOffset(DateTime.SpecifyKind(c.CreatedAt, DateTimeKind.Utc)).ToUnixTimeSeconds(),
        ["owned_by"] = ownedBy, ["name"] = c.Name,
    };

    private static async Task<IResult> Models(HttpContext ctx, ICorpusStore corpora, IChatClient chat, IOptions<LlmOptions> llm)
    {
        var owner = OwnedBy(chat, llm.Value);
        var list = await corpora.ListAsync(ctx.GetPrincipal().TenantId, ctx.RequestAborted);
        return Results.Json(new Dictionary<string, object?> { ["object"] = "list", ["data"] = list.Select(c => ModelObject(c, owner)).ToList() }, ApiJson.Options);
    }

    private static async Task<IResult> Model(HttpContext ctx, string model, ICorpusStore corpora, IChatClient chat, IOptions<LlmOptions> llm)
    {
        var corpus = Identifiers.IsValid(model) ? await corpora.GetAsync(ctx.GetPrincipal().TenantId, model, ctx.RequestAborted) : null;
        return corpus is null ? throw ModelNotFound(model) : Results.Json(ModelObject(corpus, OwnedBy(chat, llm.Value)), ApiJson.Options);
    }

    private sealed record ChatRequest(string Model, string Question, List<ChatTurn> History, string? Instructions, bool Stream, bool IncludeUsage,
        int? MaxTokens, double? Temperature, int? TopK);

    private static ChatRequest ParseChat(JsonElement root, RunOptions run, LlmOptions llm)
    {
        var errors = new Dictionary<string, string[]>();
        var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString()! : null;
        if (string.IsNullOrWhiteSpace(model)) errors["model"] = ["is required: the id of a corpus (GET /v1/models)"];
        bool Flag(string name)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return false;
            if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
            errors[name] = ["must be a boolean"];
            return false;
        }
        int? Int(string name, int min, int max)
        {
            if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
            if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) && i >= min && i <= max) return i;
            errors[name] = [$"must be an integer between {min} and {max}"];
            return null;
        }
        var stream = Flag("stream");
        var includeUsage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object
            && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        var maxTokens = Int("max_completion_tokens", 1, llm.MaxOutputTokens) ?? Int("max_tokens", 1, llm.MaxOutputTokens);
        var topK = Int("top_k", 1, run.MaxTopK);
        if (root.TryGetProperty("n", out var n) && n.ValueKind != JsonValueKind.Null && !(n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out var one) && one == 1))
            errors["n"] = ["only n = 1 is supported"];
        double? temperature = null;
        if (root.TryGetProperty("temperature", out var t) && t.ValueKind != JsonValueKind.Null)
        {
            if (t.ValueKind == JsonValueKind.Number && t.GetDouble() is >= 0 and <= 2) temperature = t.GetDouble();
            else errors["temperature"] = ["must be a number between 0 and 2"];
        }
        if (root.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Array && tools.GetArrayLength() > 0)
            errors["tools"] = ["tool calling is not supported: the model answers from its corpus"];

        var turns = new List<ChatTurn>();
        var instructions = new List<string>();
        if (!root.TryGetProperty("messages", out var msgs) || msgs.ValueKind != JsonValueKind.Array || msgs.GetArrayLength() == 0)
            errors["messages"] = ["must be a non-empty array of {role, content}"];
        else
        {
            var i = 0;
            foreach (var msg in msgs.EnumerateArray())
            {
                var at = $"messages[{i++}]";
                var role = msg.ValueKind == JsonValueKind.Object && msg.TryGetProperty("role", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
                var content = msg.ValueKind == JsonValueKind.Object && msg.TryGetProperty("content", out var c) ? TextOf(c) : null;
                if (role is not ("system" or "developer" or "user" or "assistant")) { errors[$"{at}.role"] = ["must be one of system, developer, user, assistant"]; continue; }
                if (content is null) { errors[$"{at}.content"] = ["must be a string or an array of text parts"]; continue; }
                if (role is "system" or "developer") instructions.Add(content);
                else turns.Add(new ChatTurn(role == "user" ? MessageRoles.User : MessageRoles.Assistant, content));
            }
        }
        string question = "";
        if (errors.Count == 0)
        {
            if (turns.Count == 0 || turns[^1].Role != MessageRoles.User) errors["messages"] = ["the last user/assistant message must be the user's question"];
            else
            {
                question = turns[^1].Content.Trim();
                turns.RemoveAt(turns.Count - 1);
                if (question.Length == 0) errors["messages"] = ["the last user message must not be empty"];
                else if (question.Length > run.MaxMessageChars) errors["messages"] = [$"the last user message must be at most {run.MaxMessageChars} characters"];
            }
        }
        if (errors.Count > 0) throw NexusException.Validation(errors);
        // As /v1/run: the last RUN_HISTORY_TURNS turns (user + assistant pairs) go into the prompt.
        var keep = run.HistoryTurns * 2;
        var history = turns.Count > keep ? turns.GetRange(turns.Count - keep, keep) : turns;
        var joined = instructions.Count == 0 ? null : Text.Clip(string.Join("\n", instructions), run.MaxMessageChars);
        return new ChatRequest(model!, question, history, joined, stream, includeUsage, maxTokens, temperature, topK);
    }

    /// <summary>OpenAI message content: a string, or an array of parts of which only <c>text</c> parts are understood.</summary>
    private static string? TextOf(JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.String) return content.GetString();
        if (content.ValueKind != JsonValueKind.Array) return null;
        var text = new StringBuilder();
        foreach (var part in content.EnumerateArray())
        {
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.GetString() != "text"
                || !part.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String) return null;
            if (text.Length > 0) text.Append('\n');
            text.Append(t.GetString());
        }
        return text.ToString();
    }

    private static async Task ChatCompletions(HttpContext ctx, RunService runs, ICorpusStore corpora, IOptions<RunOptions> runOptions, IOptions<LlmOptions> llm,
        Hosting.ShutdownCoordinator shutdown, TimeProvider clock)
    {
        ChatRequest req;
        using (var doc = (await JsonBody.ReadObjectAsync(ctx.Request))!) req = ParseChat(doc.RootElement, runOptions.Value, llm.Value);
        var principal = ctx.GetPrincipal();
        if (!Identifiers.IsValid(req.Model) || await corpora.GetAsync(principal.TenantId, req.Model, ctx.RequestAborted) is null) throw ModelNotFound(req.Model);

        var id = "chatcmpl-" + Guid.CreateVersion7().ToString("N");
        var created = clock.GetUtcNow().ToUnixTimeSeconds();
        var requestId = RequestIdMiddleware.Get(ctx);
        var run = await runs.PrepareAsync(principal, new RunRequest(id, req.Model, req.Question, req.TopK, false)
        {
            History = req.History, Instructions = req.Instructions, MaxOutputTokens = req.MaxTokens, Temperature = req.Temperature,
            Surface = "openai.chat.completions",
        }, requestId, ctx.RequestAborted);

        using var generation = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, shutdown.GraceExpired);
        var stream = req.Stream ? new ChunkStream(ctx, id, created, req.Model) : null;
        var answer = new StringBuilder();
        AnswerFinal? final = null;
        RunFailed? failed = null;
        try
        {
            await runs.StreamAsync(run, async e =>
            {
                switch (e)
                {
                    case AnswerDelta d:
                        answer.Append(d.Delta);
                        if (stream is not null) await stream.DeltaAsync(d.Delta, ctx.RequestAborted);
                        break;
                    case AnswerFinal f:
                        final = f;
                        break;
                    case RunFailed f:
                        failed = f;
                        break;
                }
            }, generation.Token);
        }
        catch (Exception ex) when (ctx.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
        {
            return; // the client left; generation was cancelled with it
        }
        catch (OperationCanceledException) when (shutdown.GraceExpired.IsCancellationRequested)
        {
            failed = new RunFailed(ErrorCodes.ShuttingDown, "The server is shutting down; send the request again", ErrorKind.Unavailable);
        }

        if (failed is not null || final is null)
        {
            failed ??= new RunFailed(ErrorCodes.InternalError, "The run ended without an answer");
            if (stream is null || !stream.Started)
                throw new NexusException(failed.Kind, failed.Code, failed.Message); // nothing sent yet: a plain HTTP error in OpenAI's shape
            await stream.ErrorAsync(ErrorEnvelopeMiddleware.StatusOf(failed.Kind), failed.Code, failed.Message, ctx.RequestAborted);
            return;
        }

        var citations = final.Citations.Select(c => c.ToSeedShape()).ToList();
        var usage = final.Usage is { } u ? UsageObject(u) : null;
        if (stream is not null)
        {
            await stream.FinishAsync(citations, final.IndexVersion, req.IncludeUsage ? usage : null, ctx.RequestAborted);
            return;
        }
        var body = new Dictionary<string, object?>
        {
            ["id"] = id, ["object"] = "chat.completion", ["created"] = created, ["model"] = req.Model, ["system_fingerprint"] = null,
            ["choices"] = new[]
            {
                new Dictionary<string, object?>
                {
                    ["index"] = 0, ["finish_reason"] = "stop", ["logprobs"] = null,
                    ["message"] = new Dictionary<string, object?>
                    {
                        ["role"] = "assistant", ["content"] = final.Text, ["refusal"] = null, ["citations"] = citations,
                    },
                },
            },
            ["usage"] = usage, ["index_version"] = final.IndexVersion,
        };
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        await JsonSerializer.SerializeAsync(ctx.Response.Body, body, ApiJson.Options, ctx.RequestAborted);
    }

    /// <summary>OpenAI's <c>usage</c> object (also what the MCP <c>ask</c> tool reports).</summary>
    internal static Dictionary<string, object?> UsageObject(RunUsage u) => new()
    {
        ["prompt_tokens"] = u.PromptTokens, ["completion_tokens"] = u.CompletionTokens, ["total_tokens"] = u.TotalTokens, ["estimated"] = u.Estimated,
    };

    /// <summary>
    /// OpenAI's streaming format: <c>data: {chat.completion.chunk}</c> frames, a last chunk with <c>finish_reason</c> and
    /// the <c>citations</c> extension, an optional usage chunk, then <c>data: [DONE]</c>. Nothing is written before the
    /// first token, so a run that fails before it still gets a plain HTTP error.
    /// </summary>
    private sealed class ChunkStream(HttpContext ctx, string id, long created, string model)
    {
        public bool Started { get; private set; }

        private async Task StartAsync(CancellationToken ct)
        {
            if (Started) return;
            Started = true;
            var r = ctx.Response;
            r.StatusCode = 200;
            r.ContentType = "text/event-stream; charset=utf-8";
            r.Headers.CacheControl = "no-cache, no-transform";
            r.Headers["X-Accel-Buffering"] = "no";
            ctx.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            await WriteAsync(Chunk(new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "" }, null), ct);
        }

        private Dictionary<string, object?> Chunk(Dictionary<string, object?>? delta, string? finish) => new()
        {
            ["id"] = id, ["object"] = "chat.completion.chunk", ["created"] = created, ["model"] = model, ["system_fingerprint"] = null,
            ["choices"] = delta is null ? Array.Empty<object>() : new[]
            {
                new Dictionary<string, object?> { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish, ["logprobs"] = null },
            },
        };

        public async Task DeltaAsync(string text, CancellationToken ct)
        {
            await StartAsync(ct);
            await WriteAsync(Chunk(new Dictionary<string, object?> { ["content"] = text }, null), ct);
        }

        public async Task FinishAsync(List<Dictionary<string, object?>> citations, int indexVersion, Dictionary<string, object?>? usage, CancellationToken ct)
        {
            await StartAsync(ct);
            var last = Chunk(new Dictionary<string, object?>(), "stop");
            last["citations"] = citations;
            last["index_version"] = indexVersion;
            await WriteAsync(last, ct);
            if (usage is not null)
            {
                var u = Chunk(null, null);
                u["usage"] = usage;
                await WriteAsync(u, ct);
            }
            await WriteRawAsync("data: [DONE]\n\n", ct);
        }

        public async Task ErrorAsync(int status, string code, string message, CancellationToken ct)
        {
            await WriteAsync(OpenAiErrorShape.Body(status, code, message, null), ct);
            await WriteRawAsync("data: [DONE]\n\n", ct);
        }

        private Task WriteAsync(object payload, CancellationToken ct) =>
            WriteRawAsync("data: " + JsonSerializer.Serialize(payload, ApiJson.Options) + "\n\n", ct);

        private async Task WriteRawAsync(string frame, CancellationToken ct)
        {
            await ctx.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(frame), ct);
            await ctx.Response.Body.FlushAsync(ct);
        }
    }

    /// <summary>OpenAI's <c>encoding_format: base64</c>: the little-endian float32 bytes (what its clients ask for by default).</summary>
    private static string Base64(float[] v)
    {
        if (!BitConverter.IsLittleEndian)
        {
            var bytes = new byte[v.Length * 4];
            for (var i = 0; i < v.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), v[i]);
            return Convert.ToBase64String(bytes);
        }
        return Convert.ToBase64String(MemoryMarshal.AsBytes(v.AsSpan()));
    }

    /// <summary>At most this many inputs per embeddings request (OpenAI's own cap).</summary>
    public const int MaxEmbeddingInputs = 2048;

    private static async Task<IResult> Embeddings(HttpContext ctx, ICorpusStore corpora, IEmbedderRegistry registry, IAuditLog audit,
        IOptions<EmbeddingOptions> embeddingOptions, IOptions<RunOptions> runOptions)
    {
        string? model;
        List<string> inputs = [];
        bool base64;
        int? dimensions = null;
        var errors = new Dictionary<string, string[]>();
        using (var doc = (await JsonBody.ReadObjectAsync(ctx.Request))!)
        {
            var root = doc.RootElement;
            model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            if (string.IsNullOrWhiteSpace(model)) errors["model"] = ["is required: a corpus id, or an embedder name (hash, local, provider:model)"];
            var maxChars = runOptions.Value.MaxMessageChars * 4;
            if (!root.TryGetProperty("input", out var input)) errors["input"] = ["is required: a string or an array of strings"];
            else if (input.ValueKind == JsonValueKind.String) inputs.Add(input.GetString()!);
            else if (input.ValueKind == JsonValueKind.Array && input.GetArrayLength() is > 0 and <= MaxEmbeddingInputs
                     && input.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
                inputs.AddRange(input.EnumerateArray().Select(e => e.GetString()!));
            else errors["input"] = [$"must be a string or an array of 1-{MaxEmbeddingInputs} strings (token arrays are not supported)"];
            if (inputs.Any(s => s.Length == 0)) errors["input"] = ["must not contain empty strings"];
            else if (inputs.Any(s => s.Length > maxChars)) errors["input"] = [$"each input must be at most {maxChars} characters"];
            var format = root.TryGetProperty("encoding_format", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString() : "float";
            if (format is not ("float" or "base64")) errors["encoding_format"] = ["must be float or base64"];
            base64 = format == "base64";
            if (root.TryGetProperty("dimensions", out var d) && d.ValueKind != JsonValueKind.Null)
            {
                if (d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out var dim) && dim > 0) dimensions = dim;
                else errors["dimensions"] = ["must be a positive integer"];
            }
        }
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var principal = ctx.GetPrincipal();
        // A corpus of this tenant first (its recorded model, or what it will get), then an embedder this server runs.
        EmbeddingIdentity? identity = null;
        if (Identifiers.IsValid(model) && await corpora.GetAsync(principal.TenantId, model!, ctx.RequestAborted) is { } corpus)
            identity = corpus.Embedding ?? registry.Default;
        else
        {
            var parts = model!.Split(':', 2);
            identity = registry.Resolve(parts[0].Trim().ToLowerInvariant(), parts.Length > 1 ? parts[1] : null, dimensions);
        }
        if (identity is null) throw ModelNotFound(model);
        if (dimensions is { } want && want != identity.Dimensions)
            throw new NexusException(ErrorKind.Validation, ErrorCodes.ValidationError, $"The model '{Text.Clip(model!, 64)}' has {identity.Dimensions} dimensions, not {want}",
                new Dictionary<string, object?> { ["fields"] = new Dictionary<string, string[]> { ["dimensions"] = [$"must be {identity.Dimensions} for this model"] } });
        var generator = registry.Find(identity)
            ?? throw new NexusException(ErrorKind.Conflict, ErrorCodes.EmbeddingModelMismatch, $"This server cannot run the model {identity}");
        float[][] vectors;
        try
        {
            vectors = await EmbeddingBatches.EmbedAsync(generator, inputs, embeddingOptions.Value.BatchSize, identity.Dimensions, ctx.RequestAborted);
        }
        catch (EmbeddingProviderException ex)
        {
            throw new NexusException(ErrorKind.UpstreamFailure, ErrorCodes.EmbeddingProviderError, "The embedding provider failed: " + ex.Message);
        }
        var tokens = inputs.Sum(s => RunUsage.Estimate(s.Length));
        await ctx.AuditAsync(audit, "embeddings.created", "model", Text.Clip(model!, 128), new Dictionary<string, object?>
        {
            ["surface"] = "openai.embeddings", ["inputs"] = inputs.Count, ["embedding_model"] = identity.ToString(),
        });
        return Results.Json(new Dictionary<string, object?>
        {
            ["object"] = "list",
            ["data"] = vectors.Select((v, i) => new Dictionary<string, object?>
            {
                ["object"] = "embedding", ["index"] = i, ["embedding"] = base64 ? Base64(v) : v,
            }).ToList(),
            ["model"] = model, ["usage"] = new Dictionary<string, object?> { ["prompt_tokens"] = tokens, ["total_tokens"] = tokens },
        }, ApiJson.Options);
    }
}
