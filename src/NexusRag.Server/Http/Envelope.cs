using System.Text.Json;
using System.Text.Json.Serialization;

namespace NexusRag.Server.Http;

public sealed record Meta(string RequestId, string ApiVersion = "v1");

/// <summary>Success envelope: <c>{data, meta}</c>.</summary>
public sealed record Envelope<T>(T Data, Meta Meta);

public sealed record ErrorBody(string Code, string Message, object? Details);

/// <summary>Error envelope: <c>{error{code,message,details}, meta}</c>.</summary>
public sealed record ErrorEnvelope(ErrorBody Error, Meta Meta);

public sealed record PageInfo(string? NextCursor, bool HasMore);

public sealed record PagedItems<T>(IReadOnlyList<T> Items, PageInfo Page);

public static class ApiJson
{
    public static void Configure(JsonSerializerOptions o)
    {
        o.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        o.Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping;
        o.DictionaryKeyPolicy = null;
        o.DefaultIgnoreCondition = JsonIgnoreCondition.Never;
        o.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
    }

    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        Configure(o);
        o.MakeReadOnly(populateMissingResolver: true);
        return o;
    }
}

public static class ApiResults
{
    public static Meta MetaFor(HttpContext ctx) => new(RequestIdMiddleware.Get(ctx));

    public static IResult Ok<T>(HttpContext ctx, T data, int status = StatusCodes.Status200OK) =>
        TypedResults.Json(new Envelope<T>(data, MetaFor(ctx)), ApiJson.Options, statusCode: status);

    public static async Task WriteErrorAsync(HttpContext ctx, int status, string code, string message, object? details)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        if (ctx.GetEndpoint()?.Metadata.GetMetadata<OpenAiErrorShape>() is not null)
        {
            await JsonSerializer.SerializeAsync(ctx.Response.Body, OpenAiErrorShape.Body(status, code, message, details), ApiJson.Options, ctx.RequestAborted)
                .ConfigureAwait(false);
            return;
        }
        await JsonSerializer.SerializeAsync(ctx.Response.Body, new ErrorEnvelope(new ErrorBody(code, message, details), MetaFor(ctx)),
            ApiJson.Options, ctx.RequestAborted).ConfigureAwait(false);
    }
}

public sealed record DeletedDto(string Id, bool Deleted);

/// <summary>
/// Endpoint metadata: errors on this route take OpenAI's shape, <c>{"error":{"message","type","param","code"}}</c>, with the
/// same status codes as everywhere else (the OpenAI-compatible routes, so OpenAI's clients raise their typed errors).
/// <c>code</c> is OpenAI's where one exists (<c>invalid_api_key</c>, <c>model_not_found</c>, <c>rate_limit_exceeded</c>,
/// <c>insufficient_quota</c>), otherwise this API's stable code; <c>param</c> names the offending field when there is one.
/// </summary>
public sealed record OpenAiErrorShape
{
    public static object Body(int status, string code, string message, object? details)
    {
        var fields = details as IReadOnlyDictionary<string, object?>;
        string? param = null;
        if (fields?.GetValueOrDefault("fields") is IReadOnlyDictionary<string, string[]> invalid && invalid.Count > 0) param = invalid.Keys.First();
        if (fields?.GetValueOrDefault("param") is string p) param = p;
        var openAiCode = code switch
        {
            Core.Errors.ErrorCodes.Unauthorized or Core.Errors.ErrorCodes.RevokedKey or Core.Errors.ErrorCodes.ExpiredKey or Core.Errors.ErrorCodes.InactiveKey => "invalid_api_key",
            Core.Errors.ErrorCodes.RateLimited => "rate_limit_exceeded",
            Core.Errors.ErrorCodes.QuotaExceeded => "insufficient_quota",
            Core.Errors.ErrorCodes.NotFound when fields?.GetValueOrDefault("resource") is "model" => "model_not_found",
            _ => code,
        };
        var type = status switch
        {
            401 => "authentication_error",
            402 => "insufficient_quota",
            403 => "permission_error",
            429 => "rate_limit_error",
            >= 500 => "server_error",
            _ => "invalid_request_error",
        };
        return new Dictionary<string, object?>
        {
            ["error"] = new Dictionary<string, object?> { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = openAiCode },
        };
    }
}
