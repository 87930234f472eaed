using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using NexusRag.Core.Errors;

namespace NexusRag.Server.Http;

/// <summary>
/// Strict JSON request bodies: the media type must be JSON (415), the body must parse (400 <c>INVALID_JSON</c>),
/// be an object, carry no <c>tenant_id</c> (400 <c>TENANT_ID_NOT_ALLOWED</c>) and no unknown fields
/// (400 <c>UNKNOWN_FIELD</c>); values of the wrong type → 422 <c>VALIDATION_ERROR</c> naming the field.
/// </summary>
public static class JsonBody
{
    public static async Task<T> ReadAsync<T>(HttpRequest request, bool allowEmpty = false) where T : new()
    {
        if (allowEmpty && request.ContentLength == 0) return new T();
        if (allowEmpty && !request.HasJsonContentType() && request.ContentLength is null && string.IsNullOrEmpty(request.ContentType)) return new T();
        var doc = await ReadObjectAsync(request, allowEmpty).ConfigureAwait(false);
        if (doc is null) return new T();
        using (doc) return Bind<T>(doc.RootElement);
    }

    /// <summary>
    /// Binds a JSON object strictly (the rules above: no <c>tenant_id</c>, no unknown fields, the right types), for request
    /// bodies and for other transports' arguments (MCP tool calls), so both answer the same codes.
    /// </summary>
    public static T Bind<T>(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, "A JSON object is required");
        var info = (JsonTypeInfo<T>)ApiJson.Options.GetTypeInfo(typeof(T));
        var known = info.Properties.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var unknown = new List<string>();
        foreach (var prop in root.EnumerateObject())
        {
            if (prop.Name.Equals("tenant_id", StringComparison.OrdinalIgnoreCase))
                throw new NexusException(ErrorKind.BadRequest, ErrorCodes.TenantIdNotAllowed, "tenant_id must not be sent; the tenant comes from the API key");
            if (!known.Contains(prop.Name)) unknown.Add(Text.Clip(prop.Name));
        }
        if (unknown.Count > 0)
        {
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.UnknownField, $"Unknown field(s): {string.Join(", ", unknown.Take(10))}",
                new Dictionary<string, object?> { ["fields"] = unknown.Take(50).ToArray(), ["allowed"] = known.Order().ToArray() });
        }

        try
        {
            return root.Deserialize(info) ?? throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, "A JSON object is required");
        }
        catch (JsonException ex)
        {
            var path = string.IsNullOrEmpty(ex.Path) ? "body" : ex.Path.TrimStart('$', '.');
            throw NexusException.Validation(path, "has the wrong type");
        }
    }

    /// <summary>
    /// A JSON object body, parsed but not bound (for wire formats whose clients send fields this server ignores, such as
    /// OpenAI's): 415 without a JSON media type, 400 <c>INVALID_JSON</c> when empty, malformed or not an object; null
    /// for an empty body when <paramref name="allowEmpty"/>.
    /// </summary>
    public static async Task<JsonDocument?> ReadObjectAsync(HttpRequest request, bool allowEmpty = false)
    {
        if (!request.HasJsonContentType())
        {
            throw new NexusException(ErrorKind.UnsupportedMediaType, ErrorCodes.UnsupportedMediaType, "Content-Type must be application/json",
                new Dictionary<string, object?> { ["content_type"] = request.ContentType is null ? null : Text.Clip(request.ContentType) });
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted).ConfigureAwait(false);
        if (buffer.Length == 0)
        {
            if (allowEmpty) return null;
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, "Request body is empty; a JSON object is required");
        }

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, "Malformed JSON body",
                new Dictionary<string, object?> { ["line"] = ex.LineNumber, ["position"] = ex.BytePositionInLine });
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.InvalidJson, "Request body must be a JSON object");
        }
        return doc;
    }
}
