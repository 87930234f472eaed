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
        await JsonSerializer.SerializeAsync(ctx.Response.Body, new ErrorEnvelope(new ErrorBody(code, message, details), MetaFor(ctx)),
            ApiJson.Options, ctx.RequestAborted).ConfigureAwait(false);
    }
}

public sealed record DeletedDto(string Id, bool Deleted);
