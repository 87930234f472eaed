using System.Text.Json;
using NexusRag.Core.Auth;
using NexusRag.Core.Corpora;
using NexusRag.Core.Errors;
using NexusRag.Core.Pagination;
using NexusRag.Core.Services;
using NexusRag.Storage.Stores;

namespace NexusRag.Tests.Unit;

public class CursorCodecTests
{
    private readonly CursorCodec _codec = new("secret-one");

    [Fact]
    public void Round_trips_a_position()
    {
        var pos = new KeysetPosition(new DateTime(2026, 1, 2, 3, 4, 5, 678, DateTimeKind.Utc).AddTicks(9), "doc-1|x");
        Assert.Equal(pos, _codec.Decode("scope", _codec.Encode("scope", pos)));
    }

    [Fact]
    public void Rejects_tampering_other_scopes_other_secrets_and_garbage()
    {
        var cursor = _codec.Encode("scope", new KeysetPosition(DateTime.UtcNow, "doc-1"));
        var tampered = (cursor[0] == 'A' ? "B" : "A") + cursor[1..];
        foreach (var (scope, value, codec) in new[]
        {
            ("scope", tampered, _codec), ("other-scope", cursor, _codec), ("scope", cursor, new CursorCodec("secret-two")),
            ("scope", "garbage", _codec), ("scope", "a.b", _codec), ("scope", "%%%.###", _codec), ("scope", new string('x', 5000), _codec),
        })
        {
            var ex = Assert.Throws<NexusException>(() => codec.Decode(scope, value));
            Assert.Equal(ErrorCodes.InvalidCursor, ex.Code);
            Assert.Equal(ErrorKind.BadRequest, ex.Kind);
        }
    }
}

public class ProviderConfigTests
{
    private static JsonElement Json(string s) => JsonDocument.Parse(s).RootElement;

    [Fact]
    public void Empty_object_normalizes_to_local_with_top_k_5() =>
        Assert.Equal("""{"retrieval":{"provider":"local","top_k_default":5}}""", ProviderConfig.Normalize(Json("{}")));

    [Fact]
    public void Keeps_explicit_values_and_extra_fields() =>
        Assert.Equal("""{"retrieval":{"provider":"local","top_k_default":8},"note":"x"}""",
            ProviderConfig.Normalize(Json("""{"retrieval":{"provider":"local","top_k_default":8},"note":"x"}""")));

    [Fact]
    public void Unknown_provider_is_refused_naming_the_known_ones()
    {
        var ex = Assert.Throws<NexusException>(() => ProviderConfig.Normalize(Json("""{"retrieval":{"provider":"aws_bedrock_kb"}}""")));
        Assert.Equal(ErrorKind.BadRequest, ex.Kind);
        Assert.Equal(ErrorCodes.UnknownProvider, ex.Code);
        Assert.Contains("local", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("""{"retrieval":[]}""")]
    [InlineData("""{"retrieval":{"provider":5}}""")]
    [InlineData("""{"retrieval":{"top_k_default":0}}""")]
    [InlineData("""{"retrieval":{"top_k_default":"5"}}""")]
    public void Malformed_configs_are_validation_errors(string json) =>
        Assert.Equal(ErrorCodes.ValidationError, Assert.Throws<NexusException>(() => ProviderConfig.Normalize(Json(json))).Code);
}

public class ApiKeyFormatTests
{
    [Fact]
    public void Generated_keys_parse_and_hash_consistently()
    {
        var g = ApiKeys.Generate();
        Assert.StartsWith("nrgk_", g.Plaintext, StringComparison.Ordinal);
        Assert.Equal(g.Prefix, ApiKeys.TryGetPrefix(g.Plaintext));
        Assert.Equal(g.Hash, ApiKeys.Hash(g.Plaintext));
        Assert.DoesNotContain(g.Plaintext, g.Hash, StringComparison.Ordinal);
        Assert.NotEqual(g.Plaintext, ApiKeys.Generate().Plaintext);
    }

    [Theory]
    [InlineData("")]
    [InlineData("nrgk_")]
    [InlineData("sk-abcdef")]
    [InlineData("nrgk_ABCDEFGHIJ_abcdefghijklmnopqrstuvwxyz234567")]
    [InlineData("nrgk_abcdefghij-abcdefghijklmnopqrstuvwxyz234567")]
    public void Malformed_keys_have_no_prefix(string candidate) => Assert.Null(ApiKeys.TryGetPrefix(candidate));

    [Theory]
    [InlineData("30d", 30 * 24 * 60)]
    [InlineData("12h", 12 * 60)]
    [InlineData("45m", 45)]
    public void Durations_parse(string text, int minutes) => Assert.Equal(TimeSpan.FromMinutes(minutes), ApiKeyService.ParseDuration(text));

    [Theory]
    [InlineData("0d")]
    [InlineData("-3d")]
    [InlineData("3w")]
    [InlineData("d")]
    [InlineData("99999999999999d")]
    public void Bad_durations_are_refused(string text) => Assert.Throws<NexusException>(() => ApiKeyService.ParseDuration(text));
}

public class RedactionTests
{
    [Fact]
    public void Sensitive_keys_are_redacted_recursively_and_case_insensitively()
    {
        var redacted = EfAuditLog.Redact(new Dictionary<string, object?>
        {
            ["API_KEY"] = "nrgk_x", ["Authorization"] = "Bearer x", ["refresh_token"] = "t", ["text"] = "raw", ["count"] = 3,
            ["nested"] = new Dictionary<string, object?> { ["password"] = "p", ["id"] = "ok" },
        });
        Assert.Equal("[REDACTED]", redacted["API_KEY"]);
        Assert.Equal("[REDACTED]", redacted["Authorization"]);
        Assert.Equal("[REDACTED]", redacted["refresh_token"]);
        Assert.Equal("[REDACTED]", redacted["text"]);
        Assert.Equal(3, redacted["count"]);
        var nested = Assert.IsType<Dictionary<string, object?>>(redacted["nested"]);
        Assert.Equal("[REDACTED]", nested["password"]);
        Assert.Equal("ok", nested["id"]);
    }
}
