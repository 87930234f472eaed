using System.Text.RegularExpressions;

namespace NexusRag.Server.Http;

/// <summary>Every response carries <c>X-Request-Id</c>, equal to <c>meta.request_id</c>. A sane incoming id is honoured.</summary>
public sealed partial class RequestIdMiddleware(RequestDelegate next)
{
    public const string Header = "X-Request-Id";
    private const string ItemKey = "nexusrag.request_id";

    [GeneratedRegex("^[A-Za-z0-9._:-]{1,128}$")]
    private static partial Regex Sane();

    public Task InvokeAsync(HttpContext ctx)
    {
        var incoming = ctx.Request.Headers[Header].ToString();
        var id = Sane().IsMatch(incoming) ? incoming : "req_" + Guid.CreateVersion7().ToString("N");
        ctx.Items[ItemKey] = id;
        ctx.TraceIdentifier = id;
        ctx.Response.Headers[Header] = id;
        return next(ctx);
    }

    public static string Get(HttpContext ctx) => ctx.Items[ItemKey] as string ?? ctx.TraceIdentifier;
}
