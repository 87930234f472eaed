using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace NexusRag.Tests.Infrastructure;

/// <summary>
/// A local HTTP server on a real loopback port speaking the OpenAI embeddings protocol (<c>POST /v1/embeddings</c>,
/// float or base64 encoding, <c>dimensions</c>, error objects). Vectors are a deterministic function of the input
/// text. <see cref="Behavior"/> injects faults: 5xx answers, slowness, garbage bodies, wrong vector counts.
/// </summary>
public sealed class FakeOpenAiServer : IAsyncDisposable
{
    public enum Mode { Normal, ServerError, Slow, Garbage, WrongCount, BreakMidStream, StallMidStream }

    /// <summary>The chat answer streamed in pieces (one SSE chunk per piece).</summary>
    public string[] ChatPieces { get; set; } = ["The answer", " is in", " the documents", " [1]."];
    /// <summary>Delay between streamed pieces.</summary>
    public int PieceDelayMs { get; set; }
    /// <summary>Every chat request's messages as (role, content).</summary>
    public ConcurrentQueue<List<(string Role, string Content)>> ChatRequests { get; } = new();
    /// <summary>The generation settings each chat request carried (max_completion_tokens or max_tokens, temperature).</summary>
    public ConcurrentQueue<(int? MaxTokens, double? Temperature)> ChatSettings { get; } = new();
    /// <summary>Usage the fake reports when a streamed request asks for it (stream_options.include_usage), as OpenAI does.</summary>
    public (int Prompt, int Completion) ReportedUsage { get; set; } = (321, 12);
    /// <summary>Chat streams whose client went away before the end.</summary>
    public int ChatStreamsAborted;

    private readonly WebApplication _app;
    public ConcurrentQueue<(int Inputs, string Model, int? Dimensions, string? Authorization)> Requests { get; } = new();
    public Mode Behavior { get; set; } = Mode.Normal;
    /// <summary>How many requests fail (in ServerError mode) before answers are normal again; -1 = all.</summary>
    public int FailuresLeft { get; set; } = -1;
    public int SlowMs { get; set; } = 5_000;
    public string BaseUrl { get; }

    private FakeOpenAiServer(WebApplication app, string baseUrl) => (_app, BaseUrl) = (app, baseUrl);

    public static async Task<FakeOpenAiServer> StartAsync()
    {
        FakeOpenAiServer? self = null;
        var (app, address) = await LoopbackServer.StartAsync(a =>
        {
            a.MapPost("/v1/embeddings", async (HttpContext ctx) => await self!.HandleAsync(ctx));
            a.MapPost("/v1/chat/completions", async (HttpContext ctx) => await self!.HandleChatAsync(ctx));
        });
        self = new FakeOpenAiServer(app, address + "/v1");
        return self;
    }

    /// <summary>The vector this server returns for a text: deterministic, unit-free (the client normalizes).</summary>
    public static float[] VectorFor(string text, int dims)
    {
        var v = new float[dims];
        foreach (var word in text.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries))
            v[(int)((uint)StableHash(word.Trim('.', ',', '?', '!')) % dims)] += 1;
        v[0] += 0.01f;
        return v;
    }

    private static int StableHash(string s)
    {
        unchecked
        {
            var h = (int)2166136261;
            foreach (var c in s) h = (h ^ c) * 16777619;
            return h;
        }
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
        var root = doc.RootElement;
        var inputs = root.GetProperty("input").ValueKind == JsonValueKind.Array
            ? root.GetProperty("input").EnumerateArray().Select(e => e.GetString()!).ToList()
            : [root.GetProperty("input").GetString()!];
        int? dims = root.TryGetProperty("dimensions", out var d) && d.ValueKind == JsonValueKind.Number ? d.GetInt32() : null;
        var model = root.GetProperty("model").GetString()!;
        Requests.Enqueue((inputs.Count, model, dims, ctx.Request.Headers.Authorization.ToString()));

        switch (Behavior)
        {
            case Mode.ServerError when FailuresLeft != 0:
                if (FailuresLeft > 0) FailuresLeft--;
                ctx.Response.StatusCode = (int)HttpStatusCode.ServiceUnavailable;
                await ctx.Response.WriteAsJsonAsync(new { error = new { message = "overloaded", type = "server_error", code = (string?)null } });
                return;
            case Mode.Slow:
                await Task.Delay(SlowMs, ctx.RequestAborted);
                break;
            case Mode.Garbage:
                ctx.Response.ContentType = "application/json";
                await ctx.Response.WriteAsync("{\"object\":\"list\",\"data\":[{\"embedding\":\"%%%not-base64");
                return;
        }

        var size = dims ?? 8;
        var base64 = root.TryGetProperty("encoding_format", out var f) && f.GetString() == "base64";
        var count = Behavior == Mode.WrongCount ? Math.Max(inputs.Count - 1, 0) : inputs.Count;
        var data = inputs.Take(count).Select((text, i) =>
        {
            var v = VectorFor(text, size);
            object embedding = base64 ? Convert.ToBase64String(System.Runtime.InteropServices.MemoryMarshal.AsBytes(v.AsSpan()).ToArray()) : v;
            return new Dictionary<string, object> { ["object"] = "embedding", ["index"] = i, ["embedding"] = embedding };
        }).ToList();
        await ctx.Response.WriteAsJsonAsync(new Dictionary<string, object>
        {
            ["object"] = "list", ["data"] = data, ["model"] = model,
            ["usage"] = new Dictionary<string, int> { ["prompt_tokens"] = inputs.Sum(i => i.Length / 4 + 1), ["total_tokens"] = inputs.Sum(i => i.Length / 4 + 1) },
        });
    }

    private async Task HandleChatAsync(HttpContext ctx)
    {
        using var doc = await JsonDocument.ParseAsync(ctx.Request.Body);
        var root = doc.RootElement;
        ChatRequests.Enqueue(root.GetProperty("messages").EnumerateArray()
            .Select(m => (m.GetProperty("role").GetString()!, m.GetProperty("content").ValueKind == JsonValueKind.String
                ? m.GetProperty("content").GetString()!
                : string.Concat(m.GetProperty("content").EnumerateArray().Select(p => p.TryGetProperty("text", out var t) ? t.GetString() : "")))).ToList());
        var model = root.GetProperty("model").GetString()!;
        int? maxTokens = root.TryGetProperty("max_completion_tokens", out var mct) && mct.ValueKind == JsonValueKind.Number ? mct.GetInt32()
            : root.TryGetProperty("max_tokens", out var mt) && mt.ValueKind == JsonValueKind.Number ? mt.GetInt32() : null;
        double? temperature = root.TryGetProperty("temperature", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetDouble() : null;
        ChatSettings.Enqueue((maxTokens, temperature));
        var includeUsage = root.TryGetProperty("stream_options", out var so) && so.ValueKind == JsonValueKind.Object
            && so.TryGetProperty("include_usage", out var iu) && iu.ValueKind == JsonValueKind.True;
        switch (Behavior)
        {
            case Mode.ServerError when FailuresLeft != 0:
                if (FailuresLeft > 0) FailuresLeft--;
                ctx.Response.StatusCode = 500;
                await ctx.Response.WriteAsJsonAsync(new { error = new { message = "internal error", type = "server_error" } });
                return;
            case Mode.Slow:
                await Task.Delay(SlowMs, ctx.RequestAborted);
                break;
        }
        ctx.Response.ContentType = "text/event-stream";
        async Task Chunk(object delta, string? finish)
        {
            var json = JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["id"] = "chatcmpl-1", ["object"] = "chat.completion.chunk", ["created"] = 1_700_000_000, ["model"] = model,
                ["choices"] = new[] { new Dictionary<string, object?> { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish } },
            });
            await ctx.Response.WriteAsync($"data: {json}\n\n", ctx.RequestAborted);
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
        }
        try
        {
            await Chunk(new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "" }, null);
            for (var i = 0; i < ChatPieces.Length; i++)
            {
                if (PieceDelayMs > 0) await Task.Delay(PieceDelayMs, ctx.RequestAborted);
                await Chunk(new Dictionary<string, object?> { ["content"] = ChatPieces[i] }, null);
                if (i == 1 && Behavior == Mode.BreakMidStream)
                {
                    await Task.Delay(300, ctx.RequestAborted); // let the client read what was sent, then cut the connection
                    ctx.Abort();
                    return;
                }
                if (i == 1 && Behavior == Mode.StallMidStream) await Task.Delay(SlowMs, ctx.RequestAborted);
            }
            await Chunk(new Dictionary<string, object?>(), "stop");
            if (includeUsage)
            {
                var usage = JsonSerializer.Serialize(new Dictionary<string, object?>
                {
                    ["id"] = "chatcmpl-1", ["object"] = "chat.completion.chunk", ["created"] = 1_700_000_000, ["model"] = model, ["choices"] = Array.Empty<object>(),
                    ["usage"] = new Dictionary<string, int>
                    {
                        ["prompt_tokens"] = ReportedUsage.Prompt, ["completion_tokens"] = ReportedUsage.Completion, ["total_tokens"] = ReportedUsage.Prompt + ReportedUsage.Completion,
                    },
                });
                await ctx.Response.WriteAsync($"data: {usage}\n\n", ctx.RequestAborted);
            }
            await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref ChatStreamsAborted);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
