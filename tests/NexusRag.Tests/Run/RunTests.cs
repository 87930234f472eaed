using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using NexusRag.Core.Auth;
using NexusRag.Core.Chat;
using NexusRag.Generation;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Run;

public class RunTests
{
    private const string Gates = "Agent 2.0 release gates: every change needs green integration tests. The security review must sign off before launch.";
    private const string Lunch = "The cafeteria serves lunch from noon. Vegetarian options are available every day.";

    private static async Task<HttpClient> SeededAsync(NexusAppFactory app, string tenant = "t1")
    {
        var client = await app.AdminForTenantAsync(tenant);
        await client.IngestTextAsync("docs", Gates, "gates");
        await client.IngestTextAsync("docs", Lunch, "lunch");
        await client.WaitForDocumentAsync("gates");
        await client.WaitForDocumentAsync("lunch");
        return client;
    }

    private static async Task<JsonElement> MessagesAsync(HttpClient client, string session) =>
        await (await client.GetAsync($"/v1/sessions/{session}/messages")).DataAsync();

    [Fact]
    public async Task The_stream_follows_the_protocol_and_the_extractive_answer_cites_retrieved_chunks()
    {
        using var app = new NexusAppFactory();
        var client = await SeededAsync(app);
        var (resp, frames) = await SseClient.RunAsync(client, new { session_id = "s1", corpus_id = "docs", message = "What are the release gates for Agent 2.0?", top_k = 5 });

        Assert.Equal("text/event-stream", resp.Content.Headers.ContentType?.MediaType);
        var requestId = resp.Headers.GetValues("X-Request-Id").Single();
        var types = frames.Select(f => f.Event).ToList();
        Assert.Equal("request.accepted", types[0]);
        Assert.Equal(["message.final", "done"], types[^2..]);
        Assert.All(types[1..^2], t => Assert.Equal("token.delta", t));
        Assert.True(types.Count > 4);
        Assert.Equal(Enumerable.Range(1, frames.Count).Select(i => (long)i), frames.Select(f => f.Id)); // id = seq, monotonic
        foreach (var f in frames)
        {
            Assert.Equal(f.Event, f.Type);
            Assert.Equal(f.Id, f.Data.GetProperty("seq").GetInt64());
            Assert.Equal(requestId, f.Data.GetProperty("request_id").GetString());
            Assert.Equal("s1", f.Data.GetProperty("session_id").GetString());
        }

        var final = frames[^2].Payload;
        var text = final.GetProperty("text").GetString()!;
        Assert.Equal(text, string.Concat(frames.Where(f => f.Event == "token.delta").Select(f => f.Payload.GetProperty("delta").GetString())));
        var citations = final.GetProperty("citations").EnumerateArray().ToList();
        Assert.NotEmpty(citations);
        Assert.Equal("document://gates", citations[0].GetProperty("source").GetString());
        Assert.Contains("release gates", text);
        // Every [n] points at a citation, and the sentence before it comes from that citation's chunk.
        var chunkText = new Dictionary<string, string> { ["gates"] = Gates, ["lunch"] = Lunch };
        var cited = Regex.Matches(text, @"(?<sentence>[^\[\]]+?)\s*\[(?<n>\d+)\]");
        Assert.NotEmpty(cited);
        foreach (Match m in cited)
        {
            var n = int.Parse(m.Groups["n"].Value);
            Assert.InRange(n, 1, citations.Count);
            var citation = citations[n - 1];
            Assert.Equal(n, citation.GetProperty("metadata").GetProperty("n").GetInt32());
            var doc = citation.GetProperty("metadata").GetProperty("document_id").GetString()!;
            Assert.Contains(m.Groups["sentence"].Value.Trim(), chunkText[doc]);
        }

        var messages = await MessagesAsync(client, "s1");
        Assert.Equal(["user", "assistant"], messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()));
        Assert.Equal(text, messages[1].GetProperty("content").GetString());
        Assert.Equal(requestId, messages[1].GetProperty("metadata").GetProperty("request_id").GetString());
        Assert.Equal(citations.Count, messages[1].GetProperty("metadata").GetProperty("citations").GetArrayLength());
    }

    [Fact]
    public async Task Nothing_relevant_is_said_plainly_and_audio_is_refused_until_tts_exists()
    {
        using var app = new NexusAppFactory(new() { ["DEBUG_EVENTS"] = "true" });
        var client = await SeededAsync(app);
        // On the default (free) plan audio is not even offered: 403 before any stream.
        var (free, _) = await SseClient.RunAsync(client, new { session_id = "s2", corpus_id = "docs", message = "gluons", audio = true });
        await free.AssertErrorAsync(403, "FEATURE_NOT_ENABLED");
        Assert.Equal("feature.tts", (await free.JsonAsync()).GetProperty("error").GetProperty("details").GetProperty("feature_key").GetString());
        await app.SetPlanAsync("t1", "pro");
        var (_, frames) = await SseClient.RunAsync(client, new { session_id = "s2", corpus_id = "docs", message = "quantum chromodynamics gluons", audio = true });
        Assert.Equal(["request.accepted", "debug.retrieval"], frames.Take(2).Select(f => f.Event));
        Assert.Equal(["message.final", "audio.error", "done"], frames.TakeLast(3).Select(f => f.Event));
        Assert.Equal(ExtractiveChatClient.NothingFound, frames[^3].Payload.GetProperty("text").GetString());
        Assert.Equal("TTS_DISABLED", frames[^2].Payload.GetProperty("code").GetString());
    }

    [Fact]
    public async Task The_fake_provider_streams_the_seed_style_answer()
    {
        using var app = new NexusAppFactory(new() { ["LLM_PROVIDER"] = "fake" });
        var client = await SeededAsync(app);
        var (_, frames) = await SseClient.RunAsync(client, new { session_id = "s3", corpus_id = "docs", message = "release gates?" });
        Assert.Equal("This is a fake answer to: release gates? [1]", frames.Single(f => f.Event == "message.final").Payload.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Last_event_id_answers_resume_unsupported_and_runs_nothing()
    {
        using var app = new NexusAppFactory();
        var client = await SeededAsync(app);
        var (_, frames) = await SseClient.RunAsync(client, new { session_id = "s4", corpus_id = "docs", message = "gates" }, lastEventId: "7");
        Assert.Equal(["resume.unsupported", "done"], frames.Select(f => f.Event));
        Assert.Equal([1L, 2L], frames.Select(f => f.Id));
        await (await client.GetAsync("/v1/sessions/s4/messages")).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task History_reaches_the_openai_prompt_after_the_numbered_context()
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        using var app = new NexusAppFactory(new() { ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test", ["OPENAI_API_KEY"] = "sk-x" });
        var client = await SeededAsync(app);
        var (_, first) = await SseClient.RunAsync(client, new { session_id = "h1", corpus_id = "docs", message = "What are the release gates?" });
        Assert.Equal("The answer is in the documents [1].", first.Single(f => f.Event == "message.final").Payload.GetProperty("text").GetString());
        await SseClient.RunAsync(client, new { session_id = "h1", corpus_id = "docs", message = "And who signs off?" });

        var prompt = llm.ChatRequests.Last();
        Assert.Equal("system", prompt[0].Role);
        Assert.Contains(RunService.SystemPrompt, prompt[0].Content);
        Assert.Contains("[1] (document://gates)", prompt[0].Content);
        Assert.Equal([("user", "What are the release gates?"), ("assistant", "The answer is in the documents [1]."), ("user", "And who signs off?")], prompt[1..]);
    }

    [Theory]
    [InlineData(FakeOpenAiServer.Mode.ServerError)]
    [InlineData(FakeOpenAiServer.Mode.Slow)]
    [InlineData(FakeOpenAiServer.Mode.BreakMidStream)]
    [InlineData(FakeOpenAiServer.Mode.StallMidStream)]
    public async Task A_failing_provider_ends_with_error_then_done_and_persists_no_answer(FakeOpenAiServer.Mode mode)
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        llm.Behavior = mode;
        llm.SlowMs = 6_000;
        using var app = new NexusAppFactory(new()
        {
            ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test",
            ["LLM_TIMEOUT_MS"] = "1500", ["LLM_MAX_RETRIES"] = "1",
        });
        var client = await SeededAsync(app);
        var (_, frames) = await SseClient.RunAsync(client, new { session_id = "e1", corpus_id = "docs", message = "release gates" });
        Assert.Equal("request.accepted", frames[0].Event);
        Assert.Equal(["error", "done"], frames.TakeLast(2).Select(f => f.Event));
        Assert.DoesNotContain(frames, f => f.Event == "message.final");
        Assert.Equal("LLM_PROVIDER_ERROR", frames[^2].Payload.GetProperty("code").GetString());
        Assert.False(string.IsNullOrWhiteSpace(frames[^2].Payload.GetProperty("message").GetString()));
        if (mode is FakeOpenAiServer.Mode.BreakMidStream or FakeOpenAiServer.Mode.StallMidStream)
            Assert.Contains(frames, f => f.Event == "token.delta"); // it had started answering
        if (mode == FakeOpenAiServer.Mode.ServerError) Assert.Equal(2, llm.ChatRequests.Count); // retried once

        var messages = await MessagesAsync(client, "e1");
        Assert.Equal(["user"], messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()));
    }

    [Fact]
    public async Task Heartbeats_arrive_during_a_slow_answer_and_share_the_seq()
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        llm.PieceDelayMs = 250;
        using var app = new NexusAppFactory(new()
        {
            ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test", ["RUN_SSE_HEARTBEAT_S"] = "0.1",
        });
        var client = await SeededAsync(app);
        var (_, frames) = await SseClient.RunAsync(client, new { session_id = "hb", corpus_id = "docs", message = "release gates" });
        var heartbeats = frames.Where(f => f.Event == "heartbeat").ToList();
        Assert.True(heartbeats.Count >= 2, string.Join(",", frames.Select(f => f.Event)));
        Assert.All(heartbeats, h => Assert.True(DateTime.TryParse(h.Data.GetProperty("ts").GetString(), out _)));
        Assert.Equal(Enumerable.Range(1, frames.Count).Select(i => (long)i), frames.Select(f => f.Id));
        Assert.Equal("done", frames[^1].Event);
    }

    [Fact]
    public async Task A_client_disconnect_cancels_generation_and_persists_no_answer()
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        llm.ChatPieces = Enumerable.Range(0, 40).Select(i => $" word{i}").ToArray();
        llm.PieceDelayMs = 100;
        using var app = new NexusAppFactory(new() { ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test" });
        var client = await SeededAsync(app);

        using var cts = new CancellationTokenSource();
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/run") { Content = JsonContent.Create(new { session_id = "dc", corpus_id = "docs", message = "release gates" }) };
        var resp = await client.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        using (var reader = new StreamReader(await resp.Content.ReadAsStreamAsync(cts.Token)))
        {
            string? line;
            while ((line = await reader.ReadLineAsync(cts.Token)) is not null && line != "event: token.delta") { }
            Assert.Equal("event: token.delta", line);
            await cts.CancelAsync();
        }
        resp.Dispose();

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Volatile.Read(ref llm.ChatStreamsAborted) == 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(1, Volatile.Read(ref llm.ChatStreamsAborted)); // the provider call was cancelled, not left running
        var messages = await MessagesAsync(client, "dc");
        Assert.Equal(["user"], messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()));
    }

    [Fact]
    public async Task Another_tenant_cannot_use_the_corpus_the_session_or_its_history()
    {
        using var app = new NexusAppFactory();
        var alice = await SeededAsync(app, "alice");
        await SseClient.RunAsync(alice, new { session_id = "alice-s", corpus_id = "docs", message = "gates" });
        var bob = await app.AdminForTenantAsync("bob", corpus: "bobdocs");

        var (foreignCorpus, _) = await SseClient.RunAsync(bob, new { session_id = "bob-s", corpus_id = "docs", message = "gates" });
        await foreignCorpus.AssertErrorAsync(404, "NOT_FOUND");
        var (foreignSession, _) = await SseClient.RunAsync(bob, new { session_id = "alice-s", corpus_id = "bobdocs", message = "gates" });
        await foreignSession.AssertErrorAsync(409, "SESSION_TENANT_MISMATCH");
        await (await bob.GetAsync("/v1/sessions/alice-s/messages")).AssertErrorAsync(404, "NOT_FOUND");
        Assert.Equal(2, (await MessagesAsync(alice, "alice-s")).GetArrayLength()); // Bob's attempts added nothing
        await (await bob.GetAsync("/v1/sessions/bob-s/messages")).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task Two_tenants_racing_for_a_new_session_id_never_both_get_an_answer_and_the_loser_stores_nothing()
    {
        // The owner check comes before the stream; the session itself is stored beside retrieval, so the loser of a race
        // for a new id is refused either with 409 or, when both passed the check, with an error event instead of
        // message.final. Either way one tenant owns the session and only its question and answer are in it.
        using var app = new NexusAppFactory();
        var alice = await SeededAsync(app, "alice");
        var bob = await SeededAsync(app, "bob");
        for (var i = 0; i < 12; i++)
        {
            var session = $"race-{i}";
            var runs = await Task.WhenAll(new[] { alice, bob }.Select(c => SseClient.RunAsync(c, new { session_id = session, corpus_id = "docs", message = "What are the release gates?" })));
            var answered = runs.Select(r => r.Frames.Any(f => f.Event == "message.final")).ToList();
            Assert.Equal(1, answered.Count(a => a));
            var (loserResponse, loserFrames) = runs[answered.IndexOf(false)];
            if (loserResponse.IsSuccessStatusCode)
            {
                var error = Assert.Single(loserFrames, f => f.Event == "error");
                Assert.Equal("SESSION_TENANT_MISMATCH", error.Payload.GetProperty("code").GetString());
                Assert.Equal("done", loserFrames[^1].Event);
            }
            else await loserResponse.AssertErrorAsync(409, "SESSION_TENANT_MISMATCH");
            var (winner, loser) = answered[0] ? (alice, bob) : (bob, alice);
            Assert.Equal(["user", "assistant"], (await MessagesAsync(winner, session)).EnumerateArray().Select(m => m.GetProperty("role").GetString()));
            await (await loser.GetAsync($"/v1/sessions/{session}/messages")).AssertErrorAsync(404, "NOT_FOUND");
        }
    }

    public static TheoryData<string, int, string> BadBodies => new()
    {
        { """{"session_id":"s","corpus_id":"docs","message":""}""", 422, "VALIDATION_ERROR" },
        { """{"session_id":"s","corpus_id":"docs"}""", 422, "VALIDATION_ERROR" },
        { """{"corpus_id":"docs","message":"hi"}""", 422, "VALIDATION_ERROR" },
        { """{"session_id":"no spaces","corpus_id":"docs","message":"hi"}""", 422, "VALIDATION_ERROR" },
        { """{"session_id":"s","corpus_id":"docs","message":"hi","top_k":0}""", 422, "VALIDATION_ERROR" },
        { """{"session_id":"s","corpus_id":"docs","message":"hi","top_k":51}""", 422, "VALIDATION_ERROR" },
        { """{"session_id":"s","corpus_id":"docs","message":"hi","stream":true}""", 400, "UNKNOWN_FIELD" },
        { """{"session_id":"s","corpus_id":"docs","message":"hi""", 400, "INVALID_JSON" },
        { """{"session_id":"s","corpus_id":"nope","message":"hi"}""", 404, "NOT_FOUND" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_input_gets_an_error_envelope_before_any_stream(string body, int status, string code)
    {
        using var app = new NexusAppFactory();
        var client = await app.AdminForTenantAsync("t1");
        var resp = await client.PostAsync("/v1/run", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        await resp.AssertErrorAsync(status, code);
        await (await client.GetAsync("/v1/sessions/s/messages")).AssertErrorAsync(404, "NOT_FOUND");
    }
}

public class ExtractiveTests
{
    [Fact]
    public void Picks_relevant_non_redundant_sentences_with_their_block_numbers()
    {
        using var e = new ExtractiveChatClient(maxSentences: 3);
        var blocks = new[]
        {
            new ContextBlock(1, "Deploys happen on Tuesdays. Deploys happen on Tuesdays only. The office has plants.", "document://a", 0.9),
            new ContextBlock(2, "Rollbacks need an approved deploy ticket.", "document://b", 0.5),
        };
        var answer = e.Compose("When do deploys happen and what do rollbacks need?", blocks);
        Assert.Contains("Rollbacks need an approved deploy ticket. [2]", answer);
        Assert.Single(Regex.Matches(answer, @"Deploys happen on Tuesdays( only)?\. \[1\]")); // one of the near-duplicates, not both
        Assert.DoesNotContain("plants", answer);
        Assert.StartsWith("Deploys", answer); // block order: [1] before [2]
        Assert.Equal(ExtractiveChatClient.NothingFound, e.Compose("zebra migration", blocks));
        // Markdown headings are not sentences of the answer.
        var withHeading = e.Compose("release gates", [new ContextBlock(1, "# Release gates\nEvery release gate must be green.", "document://r", 1)]);
        Assert.Equal("Every release gate must be green. [1]", withHeading);
        Assert.Equal(ExtractiveChatClient.NothingFound, e.Compose("deploys", []));
    }
}
