using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Authorization;
using NexusRag.Core.Chat;
using NexusRag.Core.Corpora;
using NexusRag.Core.Documents;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Search;
using NexusRag.Core.Services;
using NexusRag.Server.Apis;
using NexusRag.Server.Auth;
using NexusRag.Server.Http;

namespace NexusRag.Server.Mcp;

/// <summary><c>ask</c>'s arguments.</summary>
public sealed class AskArgs
{
    public string? CorpusId { get; set; }
    public string? Question { get; set; }
    public int? TopK { get; set; }
}

/// <summary><c>get_document</c>'s arguments; <see cref="Content"/> is <c>chunks</c> (default) or <c>text</c>.</summary>
public sealed class GetDocumentArgs
{
    public string? DocumentId { get; set; }
    public string? Content { get; set; }
    public int? MaxChunks { get; set; }
}

/// <summary>
/// The MCP tools (<c>list_corpora</c>, <c>search</c>, <c>ask</c>, <c>get_document</c>) and resources
/// (<c>nexusrag://corpora/{corpus_id}</c>, <c>nexusrag://documents/{document_id}</c>) for the calling key's tenant, under
/// its document ACLs. Arguments are bound by the HTTP API's own rules (<see cref="JsonBody.Bind{T}"/>), so a bad one is a
/// tool error (<c>isError: true</c>) carrying the code the HTTP API would answer, in <c>structuredContent.error</c>.
/// Every call is audited as <c>mcp.tool.invoked</c>.
/// </summary>
public sealed class McpTools
{
    public const string ListCorpora = "list_corpora";
    public const string Search = "search";
    public const string Ask = "ask";
    public const string GetDocument = "get_document";
    /// <summary><c>get_document</c> with <c>content: text</c> returns at most this many characters.</summary>
    public const int MaxTextChars = 200_000;
    /// <summary>The run cost beyond the one unit the MCP request itself counted (a run costs 3, as <c>/v1/run</c>).</summary>
    public const int AskExtraQuotaUnits = 2;

    private readonly IHttpContextAccessor _http;
    private readonly ILogger<McpTools> _logger;

    public McpTools(IHttpContextAccessor http, IOptions<SearchOptions> search, IOptions<RunOptions> run, ILogger<McpTools> logger)
    {
        _http = http;
        _logger = logger;
        Definitions = BuildDefinitions(search.Value, run.Value);
    }

    public IList<Tool> Definitions { get; }

    public static IList<ResourceTemplate> Templates { get; } =
    [
        new() { UriTemplate = "nexusrag://corpora/{corpus_id}", Name = "corpus", MimeType = "application/json", Description = "A corpus: its settings and embedding model." },
        new() { UriTemplate = "nexusrag://documents/{document_id}", Name = "document", MimeType = "text/plain", Description = "A document's text (the original's for text files, else the extracted text)." },
    ];

    private static JsonElement Schema(object schema) => JsonSerializer.SerializeToElement(schema);

    private static IList<Tool> BuildDefinitions(SearchOptions search, RunOptions run)
    {
        var corpusId = new Dictionary<string, object> { ["type"] = "string", ["minLength"] = 1, ["maxLength"] = 128, ["description"] = "The corpus id (see list_corpora)." };
        var readOnly = new ToolAnnotations { ReadOnlyHint = true, DestructiveHint = false, OpenWorldHint = false, IdempotentHint = true };
        return
        [
            new Tool
            {
                Name = ListCorpora, Title = "List corpora", Annotations = readOnly,
                Description = "Lists the document corpora this API key may read: id, name, embedding model and active index version.",
                InputSchema = Schema(new { type = "object", properties = new { }, additionalProperties = false }),
            },
            new Tool
            {
                Name = Search, Title = "Search a corpus", Annotations = readOnly,
                Description = "Ranks a corpus's passages for a query (hybrid BM25 + vectors by default) and returns them with their text, source document and scores.",
                InputSchema = Schema(new Dictionary<string, object>
                {
                    ["type"] = "object",
                    ["properties"] = new Dictionary<string, object>
                    {
                        ["corpus_id"] = corpusId,
                        ["query"] = new { type = "string", minLength = 1, maxLength = search.MaxQueryChars, description = "What to look for." },
                        ["top_k"] = new { type = "integer", minimum = 1, maximum = search.MaxTopK, description = "How many passages (default: the corpus's top_k_default)." },
                        ["mode"] = new Dictionary<string, object> { ["type"] = "string", ["enum"] = new[] { "hybrid", "lexical", "vector" }, ["default"] = "hybrid" },
                        ["filters"] = new Dictionary<string, object>
                        {
                            ["type"] = "object", ["additionalProperties"] = false,
                            ["description"] = "Only these documents, and/or documents whose metadata matches every key (a value, or any of a list).",
                            ["properties"] = new Dictionary<string, object>
                            {
                                ["document_ids"] = new { type = "array", items = new { type = "string" }, minItems = 1, maxItems = 1000 },
                                ["metadata"] = new Dictionary<string, object>
                                {
                                    ["type"] = "object",
                                    ["additionalProperties"] = new Dictionary<string, object>
                                    {
                                        ["anyOf"] = new object[]
                                        {
                                            new { type = new[] { "string", "number", "boolean" } },
                                            new { type = "array", minItems = 1, items = new { type = new[] { "string", "number", "boolean" } } },
                                        },
                                    },
                                },
                            },
                        },
                        ["explain"] = new { type = "boolean", description = "Add each passage's lexical and vector ranks and scores." },
                    },
                    ["required"] = new[] { "corpus_id", "query" },
                    ["additionalProperties"] = false,
                }),
            },
            new Tool
            {
                Name = Ask, Title = "Ask a corpus", Annotations = new ToolAnnotations { ReadOnlyHint = true, DestructiveHint = false, OpenWorldHint = false, IdempotentHint = false },
                Description = "Answers a question from a corpus's documents only, citing passages as [1], [2] …; the sources follow the answer. " +
                              "Sends progress notifications while it retrieves and writes when the call carries a progress token.",
                InputSchema = Schema(new Dictionary<string, object>
                {
                    ["type"] = "object",
                    ["properties"] = new Dictionary<string, object>
                    {
                        ["corpus_id"] = corpusId,
                        ["question"] = new { type = "string", minLength = 1, maxLength = run.MaxMessageChars },
                        ["top_k"] = new { type = "integer", minimum = 1, maximum = run.MaxTopK, description = "How many passages to ground the answer on." },
                    },
                    ["required"] = new[] { "corpus_id", "question" },
                    ["additionalProperties"] = false,
                }),
            },
            new Tool
            {
                Name = GetDocument, Title = "Get a document", Annotations = readOnly,
                Description = "A document's metadata with its chunks (content: chunks, the default) or its whole text (content: text).",
                InputSchema = Schema(new Dictionary<string, object>
                {
                    ["type"] = "object",
                    ["properties"] = new Dictionary<string, object>
                    {
                        ["document_id"] = new { type = "string", minLength = 1, maxLength = 128 },
                        ["content"] = new Dictionary<string, object> { ["type"] = "string", ["enum"] = new[] { "chunks", "text" }, ["default"] = "chunks" },
                        ["max_chunks"] = new { type = "integer", minimum = 1, maximum = 1000, @default = 100 },
                    },
                    ["required"] = new[] { "document_id" },
                    ["additionalProperties"] = false,
                }),
            },
        ];
    }

    public async ValueTask<CallToolResult> CallAsync(RequestContext<CallToolRequestParams> request, CancellationToken ct)
    {
        var name = request.Params?.Name;
        if (name is not (ListCorpora or Search or Ask or GetDocument))
            throw new McpProtocolException($"Unknown tool '{Text.Clip(name ?? "", 64)}'", McpErrorCode.InvalidParams);
        var ctx = _http.HttpContext ?? throw new InvalidOperationException("MCP tool call outside an HTTP request");
        var principal = ctx.GetPrincipal();
        var services = ctx.RequestServices;
        var args = JsonSerializer.SerializeToElement(request.Params!.Arguments ?? new Dictionary<string, JsonElement>());
        var started = Stopwatch.GetTimestamp();
        string? errorCode = null;
        try
        {
            return name switch
            {
                ListCorpora => await ListCorporaAsync(principal, JsonBody.Bind<EmptyArgs>(args), services, ct),
                Search => await SearchAsync(principal, JsonBody.Bind<SearchRequestBody>(args), services, ct),
                Ask => await AskAsync(request, ctx, principal, JsonBody.Bind<AskArgs>(args), services, ct),
                _ => await GetDocumentAsync(principal, JsonBody.Bind<GetDocumentArgs>(args), services, ct),
            };
        }
        catch (NexusException ex)
        {
            errorCode = ex.Code;
            return Error(ex.Code, ex.Message, ex.Details, ErrorEnvelopeMiddleware.StatusOf(ex.Kind));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            errorCode = "CANCELLED";
            throw;
        }
        catch (Exception ex) when (Storage.DatabaseErrors.IsUnavailable(ex))
        {
            errorCode = ErrorCodes.DbUnavailable;
            return Error(ErrorCodes.DbUnavailable, "The database is unavailable; retry shortly", null, 503);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "MCP tool {Tool} failed", name);
            errorCode = ErrorCodes.InternalError;
            return Error(ErrorCodes.InternalError, "Internal server error", null, 500);
        }
        finally
        {
            var audit = services.GetRequiredService<IAuditLog>();
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "mcp.tool.invoked", errorCode is null ? "success" : "failure", principal.ActorType,
                principal.ActorId, "mcp_tool", name, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?>
                {
                    ["tool"] = name, ["error_code"] = errorCode, ["duration_ms"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1),
                }), CancellationToken.None);
        }
    }

    /// <summary><c>list_corpora</c> takes no arguments (any is an unknown field).</summary>
    public sealed class EmptyArgs;

    /// <summary>A tool error: <c>CODE: message</c> as text, and <c>{error: {code, message, details, status}}</c> as structured content.</summary>
    private static CallToolResult Error(string code, string message, object? details, int status) => new()
    {
        IsError = true,
        Content = [new TextContentBlock { Text = $"{code}: {message}" }],
        StructuredContent = JsonSerializer.SerializeToElement(new Dictionary<string, object?>
        {
            ["error"] = new Dictionary<string, object?> { ["code"] = code, ["message"] = message, ["details"] = details, ["status"] = status },
        }, ApiJson.Options),
    };

    private static CallToolResult Ok(string text, object structured) => new()
    {
        Content = [new TextContentBlock { Text = text }],
        StructuredContent = JsonSerializer.SerializeToElement(structured, ApiJson.Options),
    };

    private static async Task<CallToolResult> ListCorporaAsync(Principal principal, EmptyArgs _, IServiceProvider services, CancellationToken ct)
    {
        var corpora = await services.GetRequiredService<ICorpusStore>().ListAsync(principal.TenantId, ct);
        var items = corpora.Select(c => new Dictionary<string, object?>
        {
            ["id"] = c.Id, ["name"] = c.Name, ["active_index_version"] = c.ActiveIndexVersion,
            ["embedding"] = c.Embedding?.ToString(), ["created_at"] = c.CreatedAt,
        }).ToList();
        var text = items.Count == 0 ? "No corpora." : string.Join("\n", corpora.Select(c => $"{c.Id}: {c.Name}"));
        return Ok(text, new Dictionary<string, object?> { ["corpora"] = items });
    }

    private static async Task<CallToolResult> SearchAsync(Principal principal, SearchRequestBody body, IServiceProvider services, CancellationToken ct)
    {
        var result = await SearchApi.ExecuteAsync(principal, body, services.GetRequiredService<SearchService>(),
            services.GetRequiredService<IOptions<SearchOptions>>().Value, services.GetRequiredService<DocumentAuthorizer>(), ct);
        var text = new StringBuilder();
        if (result.Results.Count == 0) text.Append("No passages matched.");
        for (var i = 0; i < result.Results.Count; i++)
        {
            var r = result.Results[i];
            text.Append('[').Append(i + 1).Append("] ").Append(r.Source).Append(" (chunk ").Append(r.ChunkIndex).Append(", score ")
                .Append(r.Score.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture)).Append(")\n").Append(r.Text.Trim()).Append("\n\n");
        }
        return Ok(text.ToString().TrimEnd(), result);
    }

    private static async Task<CallToolResult> AskAsync(RequestContext<CallToolRequestParams> request, HttpContext ctx, Principal principal, AskArgs args,
        IServiceProvider services, CancellationToken ct)
    {
        var run = services.GetRequiredService<IOptions<RunOptions>>().Value;
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(args.CorpusId)) errors["corpus_id"] = ["is required"];
        var question = args.Question?.Trim() ?? "";
        if (question.Length == 0) errors["question"] = ["must be a non-empty string"];
        else if (question.Length > run.MaxMessageChars) errors["question"] = [$"must be at most {run.MaxMessageChars} characters"];
        if (args.TopK is { } k && (k < 1 || k > run.MaxTopK)) errors["top_k"] = [$"must be between 1 and {run.MaxTopK}"];
        if (errors.Count > 0) throw NexusException.Validation(errors);

        // What /v1/run's endpoint metadata enforces, for a run inside an MCP request: kill switch and bulkhead first.
        await services.GetRequiredService<RolloutGate>().EnsureEnabledAsync(KillSwitches.Run, "Answer generation", principal.TenantId, ct);
        var bulkheads = services.GetRequiredService<Bulkheads>();
        if (!bulkheads.TryEnter(Bulkhead.Run))
            throw new NexusException(ErrorKind.Unavailable, ErrorCodes.ServiceBusy, $"This replica is at its run concurrency limit ({bulkheads.Limit(Bulkhead.Run)}); retry shortly");
        try
        {
            // What /v1/run's endpoint metadata charges, through the same mechanism as the middlewares: the run class, a run's cost.
            var charges = services.GetRequiredService<RequestCharges>();
            var requestId = RequestIdMiddleware.Get(ctx);
            if ((await charges.RateLimitAsync(principal, RouteClasses.Run, requestId, "mcp", "tools/call ask", ct)).Decision is { Allowed: false } refused)
                throw RequestCharges.Refusal(refused, RouteClasses.Run);
            await charges.ChargeQuotaAsync(principal, AskExtraQuotaUnits, requestId, ct);
            var runs = services.GetRequiredService<RunService>();
            var prepared = await runs.PrepareAsync(principal, new RunRequest("mcp-" + Guid.CreateVersion7().ToString("N"), args.CorpusId!, question, args.TopK, false)
            {
                History = [], Surface = "mcp",
            }, RequestIdMiddleware.Get(ctx), ct);

            var token = request.Params?.ProgressToken;
            var progress = 0;
            async Task Notify(string message)
            {
                if (token is null) return;
                await request.Server.NotifyProgressAsync(token.Value, new ProgressNotificationValue { Progress = ++progress, Message = message }, cancellationToken: ct);
            }
            AnswerFinal? final = null;
            RunFailed? failed = null;
            var deltas = 0;
            await runs.StreamAsync(prepared, async e =>
            {
                switch (e)
                {
                    case RunAccepted: await Notify("retrieving passages"); break;
                    case AnswerDelta:
                        if (deltas++ % 32 == 0) await Notify(deltas == 1 ? "writing the answer" : $"writing the answer ({deltas} pieces)");
                        break;
                    case AnswerFinal f: final = f; break;
                    case RunFailed f: failed = f; break;
                }
            }, ct);
            if (failed is not null || final is null)
                throw new NexusException(failed?.Kind ?? ErrorKind.Internal, failed?.Code ?? ErrorCodes.InternalError, failed?.Message ?? "The run ended without an answer");
            await Notify("done");

            var text = new StringBuilder(final.Text.Trim());
            if (final.Citations.Count > 0) text.Append("\n\nSources:");
            foreach (var c in final.Citations)
            {
                text.Append("\n[").Append(c.N).Append("] ").Append(c.Source);
                if (c.Location?.Locator() is { } at) text.Append(", ").Append(at);
                text.Append(" (chunk ").Append(c.ChunkIndex).Append(')');
            }
            return Ok(text.ToString(), new Dictionary<string, object?>
            {
                ["answer"] = final.Text, ["citations"] = final.Citations.Select(c => c.ToSeedShape()).ToList(), ["index_version"] = final.IndexVersion,
                ["usage"] = final.Usage is { } u ? OpenAiApi.UsageObject(u) : null,
            });
        }
        finally
        {
            bulkheads.Exit(Bulkhead.Run);
        }
    }

    private static async Task<CallToolResult> GetDocumentAsync(Principal principal, GetDocumentArgs args, IServiceProvider services, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(args.DocumentId)) errors["document_id"] = ["is required"];
        var content = args.Content ?? "chunks";
        if (content is not ("chunks" or "text")) errors["content"] = ["must be chunks or text"];
        if (args.MaxChunks is { } m && m is < 1 or > 1000) errors["max_chunks"] = ["must be between 1 and 1000"];
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var (doc, chunks, text, truncated) = await ReadDocumentAsync(principal, args.DocumentId!, content == "text", services, ct);
        var structured = new Dictionary<string, object?> { ["document"] = DocumentDto.From(doc) };
        var header = $"{doc.Id} ({doc.Filename ?? doc.ContentType}, {doc.Status}, {doc.NumChunks} chunks) in corpus {doc.CorpusId}";
        if (text is not null)
        {
            structured["text"] = text;
            structured["truncated"] = truncated;
            return Ok(header + "\n\n" + text, structured);
        }
        var shown = chunks.Take(args.MaxChunks ?? 100).ToList();
        structured["chunks"] = shown.Select(ChunkDto.From).ToList();
        structured["truncated"] = shown.Count < chunks.Count;
        return Ok(header + "\n\n" + string.Join("\n\n", shown.Select(c => $"[chunk {c.ChunkIndex}]\n{c.Text.Trim()}")), structured);
    }

    /// <summary>A readable document (404 otherwise, as over HTTP), its chunks, and with <paramref name="wholeText"/> its text.</summary>
    private static async Task<(DocumentInfo Doc, IReadOnlyList<ChunkInfo> Chunks, string? Text, bool Truncated)> ReadDocumentAsync(
        Principal principal, string documentId, bool wholeText, IServiceProvider services, CancellationToken ct)
    {
        var documents = services.GetRequiredService<DocumentService>();
        var doc = await documents.GetAsync(principal, documentId, ct);
        var chunks = (await services.GetRequiredService<IDocumentStore>().GetChunksAsync(doc.TenantId, doc.Id, ct)).OrderBy(c => c.ChunkIndex).ToList();
        if (!wholeText) return (doc, chunks, null, false);
        if (IsText(doc.ContentType))
        {
            var (_, stream) = await documents.OpenOriginalAsync(principal, doc.Id, ct);
            await using (stream)
            {
                using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
                var buffer = new char[MaxTextChars + 1];
                var n = await reader.ReadBlockAsync(buffer, ct);
                return (doc, chunks, new string(buffer, 0, Math.Min(n, MaxTextChars)), n > MaxTextChars);
            }
        }
        // The extracted text, put back together from the chunks (they overlap: each adds what lies past the previous end).
        var text = new StringBuilder();
        var end = 0;
        foreach (var c in chunks.OrderBy(c => c.StartOffset))
        {
            if (c.EndOffset <= end) continue;
            var skip = Math.Clamp(end - c.StartOffset, 0, c.Text.Length);
            if (text.Length > 0 && c.StartOffset > end) text.Append('\n');
            text.Append(c.Text, skip, c.Text.Length - skip);
            end = c.EndOffset;
            if (text.Length > MaxTextChars) break;
        }
        var truncated = text.Length > MaxTextChars;
        return (doc, chunks, truncated ? text.ToString(0, MaxTextChars) : text.ToString(), truncated);
    }

    private static bool IsText(string contentType) =>
        contentType.StartsWith("text/", StringComparison.OrdinalIgnoreCase) || contentType is "application/json" or "application/x-ndjson";

    public async ValueTask<ListResourcesResult> ListResourcesAsync(RequestContext<ListResourcesRequestParams> request, CancellationToken ct)
    {
        var ctx = _http.HttpContext ?? throw new InvalidOperationException("MCP request outside an HTTP request");
        var corpora = await ctx.RequestServices.GetRequiredService<ICorpusStore>().ListAsync(ctx.GetPrincipal().TenantId, ct);
        return new ListResourcesResult
        {
            Resources = corpora.Select(c => new Resource
            {
                Uri = $"nexusrag://corpora/{c.Id}", Name = c.Id, Title = c.Name, MimeType = "application/json", Description = $"Corpus {c.Name}",
            }).ToList(),
        };
    }

    public async ValueTask<ReadResourceResult> ReadResourceAsync(RequestContext<ReadResourceRequestParams> request, CancellationToken ct)
    {
        var ctx = _http.HttpContext ?? throw new InvalidOperationException("MCP request outside an HTTP request");
        var principal = ctx.GetPrincipal();
        var uri = request.Params?.Uri ?? "";
        try
        {
            if (uri.StartsWith("nexusrag://corpora/", StringComparison.Ordinal))
            {
                var id = Uri.UnescapeDataString(uri["nexusrag://corpora/".Length..]);
                var corpus = Identifiers.IsValid(id) ? await ctx.RequestServices.GetRequiredService<ICorpusStore>().GetAsync(principal.TenantId, id, ct) : null;
                if (corpus is null) throw NexusException.NotFound("corpus", id);
                return new ReadResourceResult
                {
                    Contents = [new TextResourceContents { Uri = uri, MimeType = "application/json", Text = JsonSerializer.Serialize(CorpusDto.From(corpus), ApiJson.Options) }],
                };
            }
            if (uri.StartsWith("nexusrag://documents/", StringComparison.Ordinal))
            {
                var id = Uri.UnescapeDataString(uri["nexusrag://documents/".Length..]);
                var (_, _, text, _) = await ReadDocumentAsync(principal, id, wholeText: true, ctx.RequestServices, ct);
                return new ReadResourceResult { Contents = [new TextResourceContents { Uri = uri, MimeType = "text/plain", Text = text ?? "" }] };
            }
        }
        catch (NexusException ex) when (ex.Kind == ErrorKind.NotFound)
        {
            throw new McpProtocolException($"Resource not found: {Text.Clip(uri, 200)}", McpErrorCode.ResourceNotFound);
        }
        throw new McpProtocolException($"Resource not found: {Text.Clip(uri, 200)}", McpErrorCode.ResourceNotFound);
    }
}
