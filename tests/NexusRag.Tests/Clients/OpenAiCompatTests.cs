using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Role = NexusRag.Core.Auth.Role;
using NexusRag.Tests.Infrastructure;
using NexusRag.Tests.Run;
using OpenAI;
using OpenAI.Chat;

namespace NexusRag.Tests.Clients;

/// <summary>
/// The OpenAI-compatible routes through the real pipeline, driven by OpenAI's official .NET library (what a .NET user's
/// code would call) and by raw HTTP where the wire matters: extension fields, the stream's frames and OpenAI's error shape.
/// </summary>
public sealed class OpenAiCompatTests
{
    private const string Question = "What are the release gates for Agent 2.0?";

    private static OpenAIClient Sdk(NexusAppFactory app, string key) =>
        new(new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = new Uri("http://localhost/v1"), Transport = new HttpClientPipelineTransport(app.CreateClient()), RetryPolicy = new ClientRetryPolicy(0),
        });

    /// <summary>Asserts OpenAI's error shape (and nothing of the API's envelope); returns the error object.</summary>
    private static async Task<JsonElement> AssertOpenAiErrorAsync(HttpResponseMessage resp, int status, string code, string type)
    {
        var body = await resp.Content.ReadAsStringAsync();
        Assert.True((int)resp.StatusCode == status, $"expected {status}, got {(int)resp.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        Assert.Equal(["error"], doc.RootElement.EnumerateObject().Select(p => p.Name));
        var error = doc.RootElement.GetProperty("error").Clone();
        Assert.Equal(["message", "type", "param", "code"], error.EnumerateObject().Select(p => p.Name));
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.True(resp.Headers.Contains("X-Request-Id"));
        return error;
    }

    [Fact]
    public async Task Models_are_the_tenants_corpora_and_chat_completions_answer_with_citations_like_run()
    {
        using var app = new NexusAppFactory();
        var admin = await McpServerTests.SeedAsync(app, "t1");
        await app.SetPlanAsync("t1", "enterprise");
        var key = await app.CreateKeyAsync("t1", Role.Reader);
        var sdk = Sdk(app, key);

        var models = (await sdk.GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Equal(["docs"], models.Select(m => m.Id));
        Assert.Equal("extractive", models.Single().OwnedBy);
        Assert.Equal("docs", (await sdk.GetOpenAIModelClient().GetModelAsync("docs")).Value.Id);

        ChatCompletion completion = (await sdk.GetChatClient("docs").CompleteChatAsync([new UserChatMessage(Question)])).Value;
        var (_, frames) = await SseClient.RunAsync(admin, new { session_id = "compare", corpus_id = "docs", message = Question });
        var runFinal = frames.Single(f => f.Event == "message.final").Payload;
        Assert.Equal(runFinal.GetProperty("text").GetString(), completion.Content.Single().Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal("docs", completion.Model);
        Assert.True(completion.Usage.TotalTokenCount > 0);

        // The citations extension field on the message: the run's citations.
        var raw = app.ClientWithKey(key);
        var resp = await raw.PostAsJsonAsync("/v1/chat/completions", new { model = "docs", messages = new[] { new { role = "user", content = Question } } });
        var body = await resp.JsonAsync();
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(runFinal.GetProperty("citations").GetRawText(), message.GetProperty("citations").GetRawText());
        Assert.Equal("document://t1-gates", message.GetProperty("citations")[0].GetProperty("source").GetString());
        Assert.True(body.GetProperty("usage").GetProperty("estimated").GetBoolean()); // the extractive generator counts nothing itself

        // Stateless: the caller owns the conversation, so nothing is stored; the run is audited with its surface.
        var events = (await (await admin.GetAsync("/v1/audit/events?event_type=run.invoked&limit=50")).DataAsync()).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(2, events.Count(e => e.GetProperty("metadata").GetProperty("surface").GetString() == "openai.chat.completions"));
        Assert.Single(events, e => e.GetProperty("metadata").GetProperty("surface").GetString() == "run");
    }

    [Fact]
    public async Task Streamed_completions_carry_the_same_text_then_citations_usage_and_done()
    {
        using var app = new NexusAppFactory();
        await McpServerTests.SeedAsync(app, "t1");
        var key = await app.CreateKeyAsync("t1", Role.Reader);
        var chat = Sdk(app, key).GetChatClient("docs");
        var whole = (await chat.CompleteChatAsync([new UserChatMessage(Question)])).Value.Content.Single().Text;

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage(Question)]))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(whole, streamed.ToString());
        Assert.Equal(ChatFinishReason.Stop, finish);

        // The frames on the wire: role first, content deltas, a last chunk with finish_reason and citations, usage, [DONE].
        var raw = app.ClientWithKey(key);
        using var req = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = JsonContent.Create(new { model = "docs", stream = true, stream_options = new { include_usage = true }, messages = new[] { new { role = "user", content = Question } } }),
        };
        using var resp = await raw.SendAsync(req, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", resp.Content.Headers.ContentType?.MediaType);
        var data = (await resp.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(f => Assert.Single(f.Split('\n'), l => l.StartsWith("data: ", StringComparison.Ordinal))["data: ".Length..]).ToList();
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data[..^1].Select(d => JsonDocument.Parse(d).RootElement.Clone()).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var last = chunks[^2];
        Assert.Equal("stop", last.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal("document://t1-gates", last.GetProperty("citations")[0].GetProperty("source").GetString());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.True(chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32() > 0);
        Assert.Equal(whole, string.Concat(chunks[1..^2].Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString())));
    }

    [Fact]
    public async Task History_instructions_max_tokens_and_temperature_reach_the_generator_and_its_usage_comes_back()
    {
        await using var llm = await FakeOpenAiServer.StartAsync();
        using var app = new NexusAppFactory(new() { ["LLM_PROVIDER"] = "openai", ["OPENAI_BASE_URL"] = llm.BaseUrl, ["LLM_MODEL"] = "gpt-test", ["OPENAI_API_KEY"] = "sk-x" });
        await McpServerTests.SeedAsync(app, "t1");
        var chat = Sdk(app, await app.CreateKeyAsync("t1", Role.Reader)).GetChatClient("docs");
        var completion = (await chat.CompleteChatAsync(
            [
                new SystemChatMessage("Answer in one sentence."),
                new UserChatMessage("What is served at noon?"),
                new AssistantChatMessage("Lunch is served from noon [1]."),
                new UserChatMessage("And who signs off on launches?"),
            ], new ChatCompletionOptions { MaxOutputTokenCount = 77, Temperature = 0.7f })).Value;

        Assert.Equal("The answer is in the documents [1].", completion.Content.Single().Text);
        Assert.Equal("openai:gpt-test", (await Sdk(app, await app.CreateKeyAsync("t1", Role.Reader)).GetOpenAIModelClient().GetModelsAsync()).Value.Single().OwnedBy);
        var prompt = llm.ChatRequests.Last();
        Assert.Equal(["system", "user", "assistant", "user"], prompt.Select(m => m.Role));
        Assert.Contains("Instructions from the caller:\nAnswer in one sentence.", prompt[0].Content);
        Assert.Contains("[1] (document://t1-gates", prompt[0].Content); // the corpus's context, retrieved for the last question
        Assert.Equal("What is served at noon?", prompt[1].Content);
        Assert.Equal("Lunch is served from noon [1].", prompt[2].Content);
        Assert.Equal("And who signs off on launches?", prompt[3].Content);
        var (maxTokens, temperature) = llm.ChatSettings.Last();
        Assert.Equal(77, maxTokens);
        Assert.Equal(0.7, temperature!.Value, 3);
        Assert.Equal(321, completion.Usage.InputTokenCount); // what the generator reported, not an estimate
        Assert.Equal(12, completion.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task Embeddings_use_the_corpus_embedder_in_float_and_base64()
    {
        using var app = new NexusAppFactory();
        var admin = await McpServerTests.SeedAsync(app, "t1");
        var key = await app.CreateKeyAsync("t1", Role.Reader);
        var sdk = Sdk(app, key);

        var embeddings = (await sdk.GetEmbeddingClient("docs").GenerateEmbeddingsAsync(["release gates", "lunch at noon"])).Value; // the SDK asks for base64
        Assert.Equal(2, embeddings.Count);
        var corpus = await (await admin.GetAsync("/v1/corpora/docs")).DataAsync();
        var dims = corpus.GetProperty("embedding").GetProperty("dimensions").GetInt32();
        Assert.All(embeddings, e => Assert.Equal(dims, e.ToFloats().Length));

        var raw = app.ClientWithKey(key);
        var asFloats = await (await raw.PostAsJsonAsync("/v1/embeddings", new { model = "docs", input = new[] { "release gates", "lunch at noon" }, encoding_format = "float" })).JsonAsync();
        for (var i = 0; i < 2; i++)
            Assert.Equal(asFloats.GetProperty("data")[i].GetProperty("embedding").EnumerateArray().Select(v => v.GetSingle()), embeddings[i].ToFloats().ToArray());
        Assert.Equal(0, asFloats.GetProperty("data")[0].GetProperty("index").GetInt32());
        Assert.True(asFloats.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 0);

        // The corpus's vectors are these: a search vector leg ranks with the same embedder.
        var byName = await (await raw.PostAsJsonAsync("/v1/embeddings", new { model = corpus.GetProperty("embedding").GetProperty("provider").GetString(), input = "release gates", encoding_format = "float" })).JsonAsync();
        Assert.Equal(asFloats.GetProperty("data")[0].GetProperty("embedding").GetRawText(), byName.GetProperty("data")[0].GetProperty("embedding").GetRawText());

        var wrongDims = await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/embeddings", new { model = "docs", input = "x", dimensions = dims + 1 }), 422, "VALIDATION_ERROR", "invalid_request_error");
        Assert.Equal("dimensions", wrongDims.GetProperty("param").GetString());
        var tokens = await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/embeddings", new { model = "docs", input = new[] { 1, 2, 3 } }), 422, "VALIDATION_ERROR", "invalid_request_error");
        Assert.Equal("input", tokens.GetProperty("param").GetString());
        await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/embeddings", new { model = "no-such-model", input = "x" }), 404, "model_not_found", "invalid_request_error");
    }

    [Fact]
    public async Task Errors_take_openai_shape_with_the_api_status_codes()
    {
        using var app = new NexusAppFactory();
        await McpServerTests.SeedAsync(app, "t1");
        var key = await app.CreateKeyAsync("t1", Role.Reader);
        var raw = app.ClientWithKey(key);
        object Ask(string model) => new { model, messages = new[] { new { role = "user", content = Question } } };

        var missing = await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/chat/completions", Ask("nope")), 404, "model_not_found", "invalid_request_error");
        Assert.Equal("model", missing.GetProperty("param").GetString());
        await AssertOpenAiErrorAsync(await raw.GetAsync("/v1/models/nope"), 404, "model_not_found", "invalid_request_error");
        var noMessages = await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/chat/completions", new { model = "docs", messages = Array.Empty<object>() }), 422, "VALIDATION_ERROR", "invalid_request_error");
        Assert.Equal("messages", noMessages.GetProperty("param").GetString());
        await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/chat/completions", new { model = "docs", messages = new[] { new { role = "assistant", content = "hi" } } }), 422, "VALIDATION_ERROR", "invalid_request_error");
        await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/chat/completions", new { model = "docs", temperature = 3, messages = new[] { new { role = "user", content = "hi" } } }), 422, "VALIDATION_ERROR", "invalid_request_error");
        await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/chat/completions", new { model = "docs", n = 2, messages = new[] { new { role = "user", content = "hi" } } }), 422, "VALIDATION_ERROR", "invalid_request_error");
        await AssertOpenAiErrorAsync(await raw.PostAsJsonAsync("/v1/chat/completions", new { model = "docs", messages = new[] { new { role = "tool", content = "hi" } } }), 422, "VALIDATION_ERROR", "invalid_request_error");
        await AssertOpenAiErrorAsync(await raw.PostAsync("/v1/chat/completions", new StringContent("{not json", Encoding.UTF8, "application/json")), 400, "INVALID_JSON", "invalid_request_error");
        await AssertOpenAiErrorAsync(await raw.PostAsync("/v1/chat/completions", new StringContent("hello", Encoding.UTF8, "text/plain")), 415, "UNSUPPORTED_MEDIA_TYPE", "invalid_request_error");
        await AssertOpenAiErrorAsync(await app.CreateClient().GetAsync("/v1/models"), 401, "invalid_api_key", "authentication_error");
        await AssertOpenAiErrorAsync(await app.ClientWithKey("nrgk_not_a_key").PostAsJsonAsync("/v1/chat/completions", Ask("docs")), 401, "invalid_api_key", "authentication_error");

        // The official client raises its typed error with OpenAI's status.
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Sdk(app, key).GetChatClient("nope").CompleteChatAsync([new UserChatMessage(Question)]));
        Assert.Equal(404, ex.Status);
        Assert.Contains("model_not_found", ex.Message);

        // The rest of the API keeps its own envelope.
        await (await raw.GetAsync("/v1/corpora/nope")).AssertErrorAsync(404, "NOT_FOUND");
    }

    [Fact]
    public async Task Chat_costs_three_quota_units_is_run_rate_limited_and_obeys_the_run_kill_switch()
    {
        using var app = new NexusAppFactory(new Dictionary<string, string?>
        {
            ["RATE_LIMIT_ENABLED"] = "true", ["NexusRag:RateLimit:Run:Key:Rps"] = "0.001", ["NexusRag:RateLimit:Run:Key:Burst"] = "2",
        });
        var admin = await McpServerTests.SeedAsync(app, "t1");
        var op = await app.OperatorAsync();
        await (await op.PatchAsJsonAsync("/v1/admin/quotas/t1", new { daily_requests_limit = 1000, hard_cap_enabled = true })).DataAsync();
        var raw = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        async Task<long> UsedAsync() => (await (await op.GetAsync("/v1/admin/usage/t1?period=day")).DataAsync()).GetProperty("used").GetInt64();
        object Ask() => new { model = "docs", messages = new[] { new { role = "user", content = Question } } };

        var before = await UsedAsync();
        (await raw.PostAsJsonAsync("/v1/chat/completions", Ask())).EnsureSuccessStatusCode();
        Assert.Equal(3, await UsedAsync() - before);
        (await raw.PostAsJsonAsync("/v1/chat/completions", Ask())).EnsureSuccessStatusCode();
        var limited = await raw.PostAsJsonAsync("/v1/chat/completions", Ask());
        await AssertOpenAiErrorAsync(limited, 429, "rate_limit_exceeded", "rate_limit_error");
        Assert.Equal("run", limited.Headers.GetValues("X-RateLimit-Route-Class").Single());
        (await raw.GetAsync("/v1/models")).EnsureSuccessStatusCode(); // read class: not the run bucket

        await (await admin.PatchAsJsonAsync("/v1/self-serve/killswitches", new { kill_switches = new Dictionary<string, bool> { ["kill.run"] = true } })).DataAsync();
        var other = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader, "fresh-bucket"));
        await AssertOpenAiErrorAsync(await other.PostAsJsonAsync("/v1/chat/completions", Ask()), 503, "FEATURE_DISABLED", "server_error");
    }

    [Fact]
    public async Task Another_tenant_cannot_see_or_use_a_corpus_and_acls_filter_the_context()
    {
        using var app = new NexusAppFactory();
        var admin = await McpServerTests.SeedAsync(app, "t1");
        await McpServerTests.SeedAsync(app, "t2", "theirs");
        await (await admin.PostAsJsonAsync("/v1/documents/text", new
        {
            corpus_id = "docs", document_id = "secret", text = "The release gates secret codename is Bluebird.", labels = new { sensitivity = "high" },
        })).DataAsync(202);
        await admin.WaitForDocumentAsync("secret");
        await (await admin.PostAsJsonAsync("/v1/admin/authz/policies", McpServerTests.DenyHighSensitivity)).DataAsync(201);

        var other = app.ClientWithKey(await app.CreateKeyAsync("t2", Role.Admin));
        var models = await (await other.GetAsync("/v1/models")).JsonAsync();
        Assert.Equal(["theirs"], models.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()));
        await AssertOpenAiErrorAsync(await other.GetAsync("/v1/models/docs"), 404, "model_not_found", "invalid_request_error");
        await AssertOpenAiErrorAsync(await other.PostAsJsonAsync("/v1/chat/completions", new { model = "docs", messages = new[] { new { role = "user", content = Question } } }),
            404, "model_not_found", "invalid_request_error");
        await AssertOpenAiErrorAsync(await other.PostAsJsonAsync("/v1/embeddings", new { model = "docs", input = "x" }), 404, "model_not_found", "invalid_request_error");

        var reader = app.ClientWithKey(await app.CreateKeyAsync("t1", Role.Reader));
        var answer = await (await reader.PostAsJsonAsync("/v1/chat/completions", new
        {
            model = "docs", top_k = 10, messages = new[] { new { role = "user", content = "What is the release gates secret codename?" } },
        })).JsonAsync();
        var message = answer.GetProperty("choices")[0].GetProperty("message");
        Assert.DoesNotContain("Bluebird", message.GetProperty("content").GetString());
        Assert.NotEmpty(message.GetProperty("citations").EnumerateArray());
        Assert.DoesNotContain(message.GetProperty("citations").EnumerateArray(), c => c.GetProperty("metadata").GetProperty("document_id").GetString() == "secret");
    }
}
