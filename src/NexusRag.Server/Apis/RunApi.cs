using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using NexusRag.Core.Auth;
using NexusRag.Core.Chat;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Services;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class RunRequestBody
{
    public string? SessionId { get; set; }
    public string? CorpusId { get; set; }
    public string? Message { get; set; }
    public int? TopK { get; set; }
    public bool? Audio { get; set; }
}

public sealed record MessageDto(string Id, string SessionId, string Role, string Content, JsonElement? Metadata, DateTime CreatedAt);

public static class RunApi
{
    public static IEndpointRouteBuilder MapRunApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/run", Run).WithTags("Run").WithAuditCategory("run").RequireRole(Role.Reader).WithRateClass(RouteClasses.Run).WithQuotaCost(3).RequireNotKilled(KillSwitches.Run, "Answer generation").WithMetadata(new Bulkhead(Bulkhead.Run))
            .Accepts<RunRequestBody>("application/json").Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .WithSummary("Answer a message from a corpus, streamed as server-sent events with citations.");
        var sessions = app.MapGroup("/v1/sessions").WithTags("Sessions").WithAuditCategory("run");
        sessions.MapGet("/{id}/messages", Messages).RequireRole(Role.Reader).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<MessageDto>>>();
        return app;
    }

    private static async Task Run(HttpContext ctx, RunService runs, IOptions<RunOptions> options, Entitlements entitlements,
        Core.Observability.NexusInstrumentation telemetry, Hosting.ShutdownCoordinator shutdown)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var body = await JsonBody.ReadAsync<RunRequestBody>(ctx.Request);
        var o = options.Value;
        var errors = new Dictionary<string, string[]>();
        if (!Identifiers.IsValid(body.SessionId)) errors["session_id"] = [body.SessionId is null ? "is required" : Identifiers.Rule];
        if (string.IsNullOrWhiteSpace(body.CorpusId)) errors["corpus_id"] = ["is required"];
        var message = body.Message?.Trim() ?? "";
        if (message.Length == 0) errors["message"] = ["must be a non-empty string"];
        else if (message.Length > o.MaxMessageChars) errors["message"] = [$"must be at most {o.MaxMessageChars} characters"];
        if (body.TopK is { } k && (k < 1 || k > o.MaxTopK)) errors["top_k"] = [$"must be between 1 and {o.MaxTopK}"];
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var principal = ctx.GetPrincipal();
        if (body.Audio == true) await entitlements.EnsureAsync(principal.TenantId, Plans.Tts, ctx.RequestAborted); // audio needs feature.tts
        var requestId = RequestIdMiddleware.Get(ctx);
        var sse = new SseWriter(ctx.Response, requestId, body.SessionId!);

        // A reconnect cannot resume a generation: say so and end, without running or persisting anything.
        if (ctx.Request.Headers.ContainsKey("Last-Event-ID"))
        {
            sse.Start();
            await sse.WriteAsync("resume.unsupported", new Dictionary<string, object?>
            {
                ["message"] = "This stream cannot be resumed; send the request again without Last-Event-ID",
                ["last_event_id"] = Text.Clip(ctx.Request.Headers["Last-Event-ID"].ToString(), 64),
            }, ctx.RequestAborted);
            await sse.WriteAsync("done", new Dictionary<string, object?>(), ctx.RequestAborted);
            return;
        }

        var run = await runs.PrepareAsync(principal, new RunRequest(body.SessionId!, body.CorpusId!, message, body.TopK, body.Audio == true),
            requestId, ctx.RequestAborted); // 404 / 409 as JSON, before the stream opens

        sse.Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        // Generation stops when the client leaves or when the shutdown grace runs out (then the stream says why and ends).
        using var generation = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted, shutdown.GraceExpired);
        var heartbeat = HeartbeatAsync(sse, TimeSpan.FromSeconds(o.HeartbeatSeconds), stop.Token);
        var firstToken = true;
        telemetry.RunActiveStreams.Add(1);
        try
        {
            await runs.StreamAsync(run, e =>
            {
                if (e is AnswerDelta)
                {
                    if (firstToken)
                    {
                        firstToken = false;
                        telemetry.RunTimeToFirstToken.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
                    }
                    telemetry.RunTokens.Add(1);
                }
                var (type, data) = SseRunEvents.Map(e);
                return sse.WriteAsync(type, data, ctx.RequestAborted);
            }, generation.Token);
        }
        catch (Exception ex) when (ctx.RequestAborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
        {
            // The client left; generation was cancelled with it.
        }
        catch (OperationCanceledException) when (shutdown.GraceExpired.IsCancellationRequested)
        {
            await sse.WriteAsync("error", new Dictionary<string, object?>
            {
                ["code"] = ErrorCodes.ShuttingDown, ["message"] = "The server is shutting down; send the request again",
            }, ctx.RequestAborted);
            await sse.WriteAsync("done", new Dictionary<string, object?>(), ctx.RequestAborted);
        }
        finally
        {
            telemetry.RunActiveStreams.Add(-1);
            await stop.CancelAsync();
            await heartbeat;
        }
    }

    private static async Task HeartbeatAsync(SseWriter sse, TimeSpan every, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                await Task.Delay(every, ct);
                await sse.HeartbeatAsync(ct);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException) { }
    }

    private static async Task<IResult> Messages(HttpContext ctx, string id, ISessionStore sessions, int? limit)
    {
        var tenant = ctx.GetPrincipal().TenantId;
        if (limit is < 1 or > 500) throw NexusException.Validation("limit", "must be between 1 and 500");
        if (!await sessions.ExistsAsync(tenant, id, ctx.RequestAborted)) throw NexusException.NotFound("session", id);
        var items = await sessions.LastMessagesAsync(tenant, id, limit ?? 100, ctx.RequestAborted);
        return ApiResults.Ok(ctx, items.Select(m =>
        {
            JsonElement? meta = null;
            if (m.MetadataJson is { } json) { using var doc = JsonDocument.Parse(json); meta = doc.RootElement.Clone(); }
            return new MessageDto(m.Id, m.SessionId, m.Role, m.Content, meta, m.CreatedAt);
        }).ToList());
    }
}

/// <summary>The seed's SSE event names and data objects for the run pipeline's typed events.</summary>
public static class SseRunEvents
{
    public static (string Type, object Data) Map(RunEvent e) => e switch
    {
        RunAccepted a => ("request.accepted", new Dictionary<string, object?> { ["session_id"] = a.SessionId, ["corpus_id"] = a.CorpusId, ["top_k"] = a.TopK }),
        RetrievalDebug d => ("debug.retrieval", new Dictionary<string, object?>
        {
            ["results"] = d.Results.Select(x => new Dictionary<string, object?>
            {
                ["chunk_id"] = x.ChunkId, ["document_id"] = x.DocumentId, ["chunk_index"] = x.ChunkIndex,
                ["score"] = x.Score, ["lexical_rank"] = x.LexicalRank, ["vector_rank"] = x.VectorRank,
            }).ToList(),
        }),
        AnswerDelta t => ("token.delta", new Dictionary<string, object?> { ["delta"] = t.Delta }),
        AnswerFinal f => ("message.final", new Dictionary<string, object?>
        {
            ["text"] = f.Text, ["citations"] = f.Citations.Select(c => c.ToSeedShape()).ToList(), ["index_version"] = f.IndexVersion,
        }),
        AudioFailed a => ("audio.error", new Dictionary<string, object?> { ["code"] = a.Code, ["message"] = a.Message }),
        RunFailed f => ("error", new Dictionary<string, object?> { ["code"] = f.Code, ["message"] = f.Message }),
        RunCompleted => ("done", new Dictionary<string, object?>()),
        _ => throw new ArgumentOutOfRangeException(nameof(e), e.GetType().Name, "unmapped run event"),
    };
}

/// <summary>
/// Writes the seed's SSE frames: <c>event: &lt;type&gt;</c>, <c>id: &lt;seq&gt;</c> and
/// <c>data: {type, request_id, session_id, seq, data}</c>; heartbeats carry <c>{type, ts, request_id, seq}</c>.
/// Seq is monotonic across all events of the stream; writes are serialized.
/// </summary>
public sealed class SseWriter(HttpResponse response, string requestId, string sessionId)
{
    private readonly SemaphoreSlim _lock = new(1, 1);
    private long _seq;

    public void Start()
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no";
        response.HttpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    public Task WriteAsync(string type, object data, CancellationToken ct) =>
        WriteFrameAsync(type, seq => new Dictionary<string, object?>
        {
            ["type"] = type, ["request_id"] = requestId, ["session_id"] = sessionId, ["seq"] = seq, ["data"] = data,
        }, ct);

    public Task HeartbeatAsync(CancellationToken ct) =>
        WriteFrameAsync("heartbeat", seq => new Dictionary<string, object?>
        {
            ["type"] = "heartbeat", ["ts"] = DateTime.UtcNow.ToString("O"), ["request_id"] = requestId, ["seq"] = seq,
        }, ct);

    private async Task WriteFrameAsync(string type, Func<long, Dictionary<string, object?>> payload, CancellationToken ct)
    {
        await _lock.WaitAsync(ct);
        try
        {
            var seq = ++_seq;
            var json = JsonSerializer.Serialize(payload(seq), ApiJson.Options);
            var frame = $"event: {type}\nid: {seq}\ndata: {json}\n\n";
            await response.Body.WriteAsync(Encoding.UTF8.GetBytes(frame), ct);
            await response.Body.FlushAsync(ct);
        }
        finally { _lock.Release(); }
    }
}
