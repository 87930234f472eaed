using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using NexusRag.Tests.Infrastructure;

namespace NexusRag.Tests.Integration;

/// <summary>Table-driven hostile input over every endpoint: always a 4xx envelope with a stable code, never a 500.</summary>
public sealed class BadInputTests : IClassFixture<BadInputTests.Fixture>
{
    public sealed class Fixture : IAsyncLifetime
    {
        public NexusAppFactory App { get; } = new(new() { ["MAX_REQUEST_BODY_BYTES"] = "65536", ["MAX_UPLOAD_BYTES"] = "65536" });
        public HttpClient Admin { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            Admin = await App.AdminForTenantAsync("bad", "c1");
            await App.SetPlanAsync("bad", "pro"); // provider-config patches need feature.corpora_patch_provider_config
            await Admin.IngestTextAsync("c1", "A document to poke at.", "doc-1");
            await Admin.WaitForDocumentAsync("doc-1");
        }

        public Task DisposeAsync()
        {
            App.Dispose();
            return Task.CompletedTask;
        }
    }

    private readonly Fixture _f;
    public BadInputTests(Fixture f) => _f = f;

    public static readonly string[] JsonEndpoints = ["POST /v1/corpora", "PATCH /v1/corpora/c1", "POST /v1/documents/text", "POST /v1/documents/doc-1/reindex"];

    public static TheoryData<string> JsonEndpointData() => new(JsonEndpoints);

    private HttpRequestMessage Req(string endpoint, HttpContent? content)
    {
        var parts = endpoint.Split(' ');
        return new HttpRequestMessage(new HttpMethod(parts[0]), parts[1]) { Content = content };
    }

    private async Task<HttpResponseMessage> Send(string endpoint, string body, string contentType = "application/json") =>
        await _f.Admin.SendAsync(Req(endpoint, new StringContent(body, Encoding.UTF8, contentType)));

    [Theory]
    [MemberData(nameof(JsonEndpointData))]
    public async Task Malformed_json_is_400_INVALID_JSON(string endpoint)
    {
        foreach (var body in new[] { "{", "{\"a\":}", "not json", "{\"corpus_id\": \"c1\",}", "[1,2", "\"unterminated" })
            await (await Send(endpoint, body)).AssertErrorAsync(400, "INVALID_JSON");
        foreach (var body in new[] { "[]", "42", "\"text\"", "null" })
            await (await Send(endpoint, body)).AssertErrorAsync(400, "INVALID_JSON");
    }

    [Theory]
    [MemberData(nameof(JsonEndpointData))]
    public async Task Wrong_content_types_are_415(string endpoint)
    {
        foreach (var type in new[] { "text/plain", "application/xml", "application/x-www-form-urlencoded" })
            await (await Send(endpoint, "{\"name\":\"x\"}", type)).AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
    }

    [Theory]
    [MemberData(nameof(JsonEndpointData))]
    public async Task Unknown_fields_are_400(string endpoint) =>
        await (await Send(endpoint, "{\"surprise\": 1}")).AssertErrorAsync(400, "UNKNOWN_FIELD");

    [Theory]
    [MemberData(nameof(JsonEndpointData))]
    public async Task Oversized_bodies_are_413(string endpoint)
    {
        var big = "{\"text\":\"" + new string('a', 70_000) + "\"}";
        await (await Send(endpoint, big)).AssertErrorAsync(413, "PAYLOAD_TOO_LARGE");
        // Chunked (no Content-Length) bodies are cut off at the cap too.
        var chunked = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(big)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        var req = Req(endpoint, chunked);
        req.Headers.TransferEncodingChunked = true;
        await (await _f.Admin.SendAsync(req)).AssertErrorAsync(413, "PAYLOAD_TOO_LARGE");
    }

    [Fact]
    public async Task Oversized_upload_is_413()
    {
        var form = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" } };
        form.Add(new ByteArrayContent(new byte[100_000]), "file", "big.txt");
        await (await _f.Admin.PostAsync("/v1/documents", form)).AssertErrorAsync(413, "PAYLOAD_TOO_LARGE");
    }

    [Theory]
    [InlineData("POST /v1/corpora", "{\"id\": 5}")]
    [InlineData("POST /v1/corpora", "{\"provider_config_json\": \"x\"}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": 5}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": \"x\", \"overwrite\": \"yes\"}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": \"x\", \"chunk_size_chars\": 1.5}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": \"x\", \"metadata\": [1]}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\"}")]
    [InlineData("POST /v1/documents/text", "{\"text\": \"x\"}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": \"   \"}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": \"x\", \"chunk_size_chars\": 100, \"chunk_overlap_chars\": 100}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": \"x\", \"chunk_size_chars\": -5}")]
    [InlineData("POST /v1/documents/text", "{\"corpus_id\": \"c1\", \"text\": \"x\", \"chunk_size_chars\": 2147483647}")]
    [InlineData("POST /v1/documents/doc-1/reindex", "{\"chunk_size_chars\": 300, \"chunk_overlap_chars\": 300}")]
    [InlineData("POST /v1/documents/doc-1/reindex", "{\"chunk_overlap_chars\": -1}")]
    [InlineData("PATCH /v1/corpora/c1", "{}")]
    [InlineData("PATCH /v1/corpora/c1", "{\"name\": \"\"}")]
    public async Task Invalid_values_are_422_VALIDATION_ERROR_naming_the_field(string endpoint, string body)
    {
        var resp = await Send(endpoint, body);
        await resp.AssertErrorAsync(422, "VALIDATION_ERROR");
        var details = (await resp.JsonAsync()).GetProperty("error").GetProperty("details");
        Assert.True(details.GetProperty("fields").EnumerateObject().Any());
    }

    [Fact]
    public async Task Unknown_provider_is_400_naming_known_providers()
    {
        var resp = await Send("PATCH /v1/corpora/c1", "{\"provider_config_json\": {\"retrieval\": {\"provider\": \"gcp_vertex\"}}}");
        await resp.AssertErrorAsync(400, "UNKNOWN_RETRIEVAL_PROVIDER");
        Assert.Contains("local", (await resp.JsonAsync()).GetProperty("error").GetProperty("details").GetProperty("known_providers").EnumerateArray().Select(e => e.GetString()));
    }

    public static TheoryData<string> HostileIds() => new()
    {
        "..%2F..%2Fetc%2Fpasswd", "..", "%2e%2e", new string('x', 10_000), "h%C3%A9llo-%E2%9C%93", "%F0%9F%92%A9", "'%20OR%20'1'='1", "x%22%3B%20DROP%20TABLE%20documents%3B--",
        "a%0Ab", "-leading-dash", "%7Bbraces%7D", "a%2Fb",
    };

    [Theory]
    [MemberData(nameof(HostileIds))]
    public async Task Hostile_ids_in_paths_are_404_never_500(string id)
    {
        foreach (var (method, path, body) in new (string, string, string?)[]
        {
            ("GET", $"/v1/corpora/{id}", null), ("PATCH", $"/v1/corpora/{id}", "{\"name\":\"x\"}"), ("DELETE", $"/v1/corpora/{id}", null),
            ("GET", $"/v1/documents/{id}", null), ("GET", $"/v1/documents/{id}/chunks", null), ("DELETE", $"/v1/documents/{id}", null),
            ("POST", $"/v1/documents/{id}/reindex", "{}"),
        })
        {
            var req = new HttpRequestMessage(new HttpMethod(method), path);
            if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
            var resp = await _f.Admin.SendAsync(req);
            var status = (int)resp.StatusCode;
            Assert.True(status is 400 or 404 or 414, $"{method} {path[..Math.Min(80, path.Length)]} → {status}");
            await resp.AssertErrorAsync(status);
        }
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("h\u00e9llo")]
    [InlineData("' OR '1'='1")]
    [InlineData("")]
    public async Task Hostile_ids_in_bodies_are_422(string id)
    {
        await (await _f.Admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "c1", text = "x", document_id = id })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await _f.Admin.PostAsJsonAsync("/v1/corpora", new { id })).AssertErrorAsync(422, "VALIDATION_ERROR");
        await (await _f.Admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = id, text = "x" })).AssertErrorAsync(422, "VALIDATION_ERROR");
    }

    [Fact]
    public async Task A_10000_character_body_id_is_422() =>
        await (await _f.Admin.PostAsJsonAsync("/v1/corpora", new { id = new string('c', 10_000) })).AssertErrorAsync(422, "VALIDATION_ERROR");

    [Theory]
    [InlineData("limit=0")]
    [InlineData("limit=-1")]
    [InlineData("limit=101")]
    [InlineData("limit=99999999999999999999")]
    [InlineData("limit=abc")]
    [InlineData("limit=1.5")]
    [InlineData("status=bogus")]
    [InlineData("corpus_id=..%2F..")]
    public async Task Bad_list_parameters_are_422(string query) =>
        await (await _f.Admin.GetAsync("/v1/documents?" + query)).AssertErrorAsync(422, "VALIDATION_ERROR");

    [Theory]
    [InlineData("cursor=garbage")]
    [InlineData("cursor=YWJj.ZGVm")]
    [InlineData("cursor=%00%00")]
    public async Task Bad_cursors_are_400_INVALID_CURSOR(string query) =>
        await (await _f.Admin.GetAsync("/v1/documents?" + query)).AssertErrorAsync(400, "INVALID_CURSOR");

    [Fact]
    public async Task Unknown_query_parameters_are_400() =>
        await (await _f.Admin.GetAsync("/v1/documents?tenant=bad")).AssertErrorAsync(400, "UNKNOWN_FIELD");

    [Fact]
    public async Task Upload_without_multipart_is_415_and_with_bad_parts_422()
    {
        await (await _f.Admin.PostAsync("/v1/documents", new StringContent("{}", Encoding.UTF8, "application/json"))).AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
        var noFile = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" } };
        await (await _f.Admin.PostAsync("/v1/documents", noFile)).AssertErrorAsync(422, "VALIDATION_ERROR");
        var badOverwrite = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" }, { new StringContent("perhaps"), "overwrite" } };
        badOverwrite.Add(new StringContent("x"), "file", "x.txt");
        await (await _f.Admin.PostAsync("/v1/documents", badOverwrite)).AssertErrorAsync(422, "VALIDATION_ERROR");
        var extra = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" }, { new StringContent("1"), "mystery" } };
        extra.Add(new StringContent("x"), "file", "x.txt");
        await (await _f.Admin.PostAsync("/v1/documents", extra)).AssertErrorAsync(400, "UNKNOWN_FIELD");
    }

    [Fact]
    public async Task Malformed_multipart_is_400()
    {
        var content = new StringContent("--xyz\r\nContent-Disposition: form-data; name=\"corpus_id\"\r\n\r\nc1\r\n--x", Encoding.UTF8);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse("multipart/form-data; boundary=xyz");
        var status = await (await _f.Admin.PostAsync("/v1/documents", content)).AssertErrorAsync(400);
        Assert.Equal("BAD_REQUEST", status);
    }

    [Theory]
    [InlineData("application/pdf", "doc.pdf")]
    [InlineData("image/png", "x.png")]
    [InlineData("application/octet-stream", "blob.bin")]
    public async Task Unsupported_file_types_are_415(string type, string name)
    {
        var form = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" } };
        var file = new ByteArrayContent([1, 2, 3]);
        file.Headers.ContentType = new MediaTypeHeaderValue(type);
        form.Add(file, "file", name);
        await (await _f.Admin.PostAsync("/v1/documents", form)).AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
    }

    [Theory]
    [InlineData("text/plain", new byte[] { (byte)' ', (byte)'\n', (byte)'\t' })]
    [InlineData("application/json", new byte[] { (byte)'[', (byte)']' })]
    [InlineData("application/json", new byte[] { (byte)'{' })]
    public async Task Unextractable_files_are_422(string type, byte[] bytes)
    {
        var form = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" } };
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(type);
        form.Add(file, "file", "f");
        await (await _f.Admin.PostAsync("/v1/documents", form)).AssertErrorAsync(422, "VALIDATION_ERROR");
    }

    [Fact]
    public async Task Bytes_that_are_not_the_text_they_claim_are_415_naming_what_was_detected()
    {
        var form = new MultipartFormDataContent { { new StringContent("c1"), "corpus_id" } };
        var file = new ByteArrayContent([0xff, 0xfe, 0xfd]);
        file.Headers.ContentType = new MediaTypeHeaderValue("text/plain");
        form.Add(file, "file", "f.txt");
        var resp = await _f.Admin.PostAsync("/v1/documents", form);
        var body = await resp.Content.ReadAsStringAsync();
        await resp.AssertErrorAsync(415, "UNSUPPORTED_MEDIA_TYPE");
        Assert.Contains("\"detected\":\"application/octet-stream\"", body);
        Assert.Contains("\"declared\":\"text/plain\"", body);
    }

    [Fact]
    public async Task Unknown_routes_and_wrong_methods_get_envelopes()
    {
        await (await _f.Admin.GetAsync("/v1/nothing-here")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _f.Admin.GetAsync("/")).AssertErrorAsync(404, "NOT_FOUND");
        await (await _f.Admin.PutAsJsonAsync("/v1/corpora/c1", new { name = "x" })).AssertErrorAsync(405, "METHOD_NOT_ALLOWED");
        await (await _f.Admin.DeleteAsync("/v1/documents")).AssertErrorAsync(405, "METHOD_NOT_ALLOWED");
    }

    [Fact]
    public async Task Unknown_corpus_on_ingest_is_404() =>
        await (await _f.Admin.PostAsJsonAsync("/v1/documents/text", new { corpus_id = "nope", text = "x" })).AssertErrorAsync(404, "NOT_FOUND");

    [Fact]
    public async Task Nothing_bad_input_did_left_a_trace_in_the_data()
    {
        // Bad requests lose nothing: the seeded document is intact and no stray corpus or document exists.
        var doc = await (await _f.Admin.GetAsync("/v1/documents/doc-1")).DataAsync();
        Assert.Equal("succeeded", doc.GetProperty("status").GetString());
        var corpora = await (await _f.Admin.GetAsync("/v1/corpora")).DataAsync();
        Assert.DoesNotContain(corpora.EnumerateArray(), c => c.GetProperty("id").GetString()!.Contains("..", StringComparison.Ordinal));
    }
}
