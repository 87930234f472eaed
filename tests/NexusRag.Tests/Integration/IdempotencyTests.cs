using System.Net;
using System.Net.Http.Json;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>The seed's "Idempotency" behaviour on the in-process store and on Redis.</summary>
public class IdempotencyTests
{
    private static NexusAppFactory App(string impl) => new(impl == "redis"
        ? new() { ["REDIS_URL"] = $"redis://{Environment.GetEnvironmentVariable("NEXUSRAG_TEST_REDIS") ?? throw new InvalidOperationException("NEXUSRAG_TEST_REDIS is not set: run scripts/test.sh")}/0" }
        : null);

    private static HttpRequestMessage Post(string path, object body, string key)
    {
        var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        req.Headers.Add("Idempotency-Key", key);
        return req;
    }

    [Theory]
    [InlineData("inprocess")]
    [InlineData("redis")]
    public async Task Same_key_and_payload_replays_another_payload_conflicts_and_long_keys_are_invalid(string impl)
    {
        using var app = App(impl);
        var client = await app.AdminForTenantAsync("t1", corpus: null);
        var key = $"create-{Guid.NewGuid():N}";
        var first = await client.SendAsync(Post("/v1/corpora", new { id = "handbook", name = "Handbook" }, key));
        var firstBody = await first.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.False(first.Headers.Contains("Idempotency-Replayed"));

        var again = await client.SendAsync(Post("/v1/corpora", new { id = "handbook", name = "Handbook" }, key));
        Assert.Equal(HttpStatusCode.Created, again.StatusCode); // not 409 CORPUS_EXISTS: the stored response, not a second create
        Assert.Equal("true", again.Headers.GetValues("Idempotency-Replayed").Single());
        Assert.Equal(firstBody, await again.Content.ReadAsStringAsync());
        Assert.Equal("application/json; charset=utf-8", again.Content.Headers.ContentType!.ToString());

        var other = await client.SendAsync(Post("/v1/corpora", new { id = "handbook2" }, key));
        await other.AssertErrorAsync(409, "IDEMPOTENCY_KEY_CONFLICT");
        var tooLong = await client.SendAsync(Post("/v1/corpora", new { id = "x" }, new string('k', 129)));
        await tooLong.AssertErrorAsync(400, "IDEMPOTENCY_KEY_INVALID");
        Assert.Equal(HttpStatusCode.Created, (await client.SendAsync(Post("/v1/corpora", new { id = "k128" }, new string('k', 128)))).StatusCode);

        // Keys belong to a tenant: another tenant's identical request runs on its own.
        var bob = await app.AdminForTenantAsync("bob", corpus: null);
        var bobs = await bob.SendAsync(Post("/v1/corpora", new { id = "handbook", name = "Handbook" }, key));
        Assert.Equal(HttpStatusCode.Created, bobs.StatusCode);
        Assert.False(bobs.Headers.Contains("Idempotency-Replayed"));
    }

    [Theory]
    [InlineData("inprocess")]
    [InlineData("redis")]
    public async Task Concurrent_requests_with_one_key_execute_once(string impl)
    {
        using var app = App(impl);
        var client = await app.AdminForTenantAsync("t1");
        var key = $"ingest-{Guid.NewGuid():N}";
        var body = new { corpus_id = "docs", text = "Exactly once, please.", filename = "once.txt" }; // no document_id: each execution would mint a new one
        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => Task.Run(async () =>
        {
            var resp = await client.SendAsync(Post("/v1/documents/text", body, key));
            return (resp.StatusCode, Replayed: resp.Headers.Contains("Idempotency-Replayed"), Body: await resp.Content.ReadAsStringAsync());
        })));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Accepted, r.StatusCode));
        Assert.Single(responses, r => !r.Replayed);
        var documentIds = responses.Select(r => System.Text.Json.JsonDocument.Parse(r.Body).RootElement.GetProperty("data").GetProperty("document_id").GetString()).Distinct().ToList();
        Assert.Single(documentIds);
        var listed = await (await client.GetAsync("/v1/documents?corpus_id=docs")).DataAsync();
        Assert.Equal(1, listed.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task Reads_streams_and_failed_requests_are_not_kept()
    {
        using var app = App("inprocess");
        var client = await app.AdminForTenantAsync("t1", corpus: null);
        // A refused write is not stored: after fixing the cause, the same key runs again.
        var key = $"retry-{Guid.NewGuid():N}";
        var refused = await client.SendAsync(Post("/v1/documents/text", new { corpus_id = "later", text = "x" }, key));
        await refused.AssertErrorAsync(404, "NOT_FOUND");
        (await client.PostAsJsonAsync("/v1/corpora", new { id = "later" })).EnsureSuccessStatusCode();
        var retried = await client.SendAsync(Post("/v1/documents/text", new { corpus_id = "later", text = "x" }, key));
        Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
        Assert.False(retried.Headers.Contains("Idempotency-Replayed"));
        // GET ignores the header.
        var get = new HttpRequestMessage(HttpMethod.Get, "/v1/corpora");
        get.Headers.Add("Idempotency-Key", new string('k', 500));
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(get)).StatusCode);
    }
}
