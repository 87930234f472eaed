using System.Text.Json;
using System.Text.Json.Nodes;
using NexusRag.Core.Errors;

namespace NexusRag.Core.Corpora;

/// <summary>
/// Normalizes and validates <c>provider_config_json</c>. <c>{}</c> becomes the local provider with
/// <c>top_k_default</c> 5. An unknown provider is refused (no silent fallback: "defaults raise").
/// </summary>
public static class ProviderConfig
{
    public const string LocalProvider = "local";
    public static readonly string[] KnownProviders = [LocalProvider];
    public const int DefaultTopK = 5;

    public static string Normalize(JsonElement? input)
    {
        if (input is null || input.Value.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            return Default();
        if (input.Value.ValueKind != JsonValueKind.Object)
            throw NexusException.Validation("provider_config_json", "must be a JSON object");

        var root = JsonNode.Parse(input.Value.GetRawText())!.AsObject();
        if (!root.TryGetPropertyValue("retrieval", out var retrievalNode) || retrievalNode is null)
        {
            root["retrieval"] = new JsonObject();
            retrievalNode = root["retrieval"];
        }
        if (retrievalNode is not JsonObject retrieval)
            throw NexusException.Validation("provider_config_json.retrieval", "must be a JSON object");

        var provider = LocalProvider;
        if (retrieval.TryGetPropertyValue("provider", out var p) && p is not null)
        {
            if (p.GetValueKind() != JsonValueKind.String)
                throw NexusException.Validation("provider_config_json.retrieval.provider", "must be a string");
            provider = p.GetValue<string>();
        }
        if (!KnownProviders.Contains(provider, StringComparer.Ordinal))
        {
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.UnknownProvider,
                $"Unknown retrieval provider '{Text.Clip(provider, 64)}'; known providers: {string.Join(", ", KnownProviders)}",
                new Dictionary<string, object?> { ["provider"] = Text.Clip(provider, 64), ["known_providers"] = KnownProviders });
        }
        retrieval["provider"] = provider;

        var topK = DefaultTopK;
        if (retrieval.TryGetPropertyValue("top_k_default", out var t) && t is not null)
        {
            if (t.GetValueKind() != JsonValueKind.Number || !t.AsValue().TryGetValue(out int parsed) || parsed is < 1 or > 50)
                throw NexusException.Validation("provider_config_json.retrieval.top_k_default", "must be an integer between 1 and 50");
            topK = parsed;
        }
        retrieval["top_k_default"] = topK;
        return root.ToJsonString();
    }

    /// <summary>The corpus's <c>retrieval.top_k_default</c> (<see cref="DefaultTopK"/> when absent).</summary>
    public static int TopKDefault(string providerConfigJson)
    {
        using var doc = JsonDocument.Parse(providerConfigJson);
        return doc.RootElement.TryGetProperty("retrieval", out var r) && r.TryGetProperty("top_k_default", out var k)
               && k.TryGetInt32(out var n) && n >= 1 ? n : DefaultTopK;
    }

    public static string Default() => Normalize(JsonDocument.Parse("{}").RootElement);

}
