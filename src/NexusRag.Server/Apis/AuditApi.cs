using System.Globalization;
using System.Text.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Pagination;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed record AuditEventDto(
    long Id, string EventType, string Outcome, string? ActorType, string? ActorId, string? ResourceType, string? ResourceId,
    string? RequestId, JsonElement? Metadata, DateTime OccurredAt, long? ChainSeq, string? PrevHash, string? Hash);

public sealed record AuditVerificationDto(string TenantId, bool Ok, long Events, long? BrokenEventId, long? BrokenChainSeq, string? Reason);

public static class AuditApi
{
    private static readonly HashSet<string> EventParams = ["event_type", "outcome", "actor_id", "resource_type", "resource_id", "since", "until", "limit", "cursor"];

    public static IEndpointRouteBuilder MapAuditApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/audit/events", Events).WithTags("Audit").WithAuditCategory("audit").RequireRole(Role.Admin).WithRateClass(RouteClasses.Ops).RequireFeature(Core.Governance.Plans.AuditAccess)
            .Produces<Envelope<PagedItems<AuditEventDto>>>()
            .WithSummary("The tenant's audit events, newest first, with filters and cursor pagination.");
        app.MapGet("/v1/ops/audit/verify", Verify).WithTags("Audit").WithAuditCategory("ops").RequireRole(Role.Admin).WithRateClass(RouteClasses.Ops).RequireFeature(Core.Governance.Plans.OpsAdminAccess)
            .Produces<Envelope<AuditVerificationDto>>()
            .WithSummary("Walk the tenant's audit hash chain and name the first broken link.");
        return app;
    }

    private static async Task<IResult> Events(HttpContext ctx, IAuditLog audit, CursorCodec cursors)
    {
        var q = ctx.Request.Query;
        var unknown = q.Keys.Where(k => !EventParams.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new NexusException(ErrorKind.BadRequest, ErrorCodes.UnknownField, $"Unknown query parameter(s): {string.Join(", ", unknown.Take(10).Select(k => Text.Clip(k)))}",
                new Dictionary<string, object?> { ["allowed"] = EventParams.Order().ToArray() });
        var errors = new Dictionary<string, string[]>();
        var limit = 50;
        if (q["limit"].ToString() is { Length: > 0 } rawLimit
            && (!int.TryParse(rawLimit, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 200))
            errors["limit"] = ["must be an integer between 1 and 200"];
        DateTime? Time(string name)
        {
            if (q[name].ToString() is not { Length: > 0 } raw) return null;
            if (DateTime.TryParse(raw, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t)) return t;
            errors[name] = ["must be an ISO 8601 timestamp"];
            return null;
        }
        string? Str(string name) => q[name].ToString() is { Length: > 0 } v ? v : null;
        var (since, until) = (Time("since"), Time("until"));
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var tenant = ctx.GetPrincipal().TenantId;
        var filters = string.Join('|', EventParams.Where(p => p is not "cursor" and not "limit").Select(p => q[p].ToString()));
        var scope = $"audit|{tenant}|{filters}";
        (DateTime, long)? before = null;
        if (Str("cursor") is { } cursor)
        {
            var pos = cursors.Decode(scope, cursor);
            before = (pos.CreatedAt, long.Parse(pos.Id, CultureInfo.InvariantCulture));
        }
        await OpsViewed(ctx, audit, "audit.events");
        var (items, hasMore) = await audit.QueryAsync(new AuditQuery(tenant, Str("event_type"), Str("outcome"), Str("actor_id"),
            Str("resource_type"), Str("resource_id"), since, until, limit, before), ctx.RequestAborted);
        var next = hasMore && items.Count > 0
            ? cursors.Encode(scope, new KeysetPosition(items[^1].OccurredAt, items[^1].Id.ToString(CultureInfo.InvariantCulture)))
            : null;
        return ApiResults.Ok(ctx, new PagedItems<AuditEventDto>(items.Select(e =>
        {
            JsonElement? meta = null;
            if (e.MetadataJson is { } json) { using var doc = JsonDocument.Parse(json); meta = doc.RootElement.Clone(); }
            return new AuditEventDto(e.Id, e.EventType, e.Outcome, e.ActorType, e.ActorId, e.ResourceType, e.ResourceId, e.RequestId, meta,
                e.OccurredAt, e.ChainSeq, e.PrevHash, e.Hash);
        }).ToList(), new PageInfo(next, hasMore)));
    }

    private static Task OpsViewed(HttpContext ctx, IAuditLog audit, string what, Dictionary<string, object?>? meta = null) =>
        ctx.AuditAsync(audit, "ops.viewed", "ops", what, meta);

    private static async Task<IResult> Verify(HttpContext ctx, IAuditLog audit)
    {
        var v = await audit.VerifyAsync(ctx.GetPrincipal().TenantId, ctx.RequestAborted);
        await OpsViewed(ctx, audit, "audit.verify", new() { ["ok"] = v.Ok, ["events"] = v.Events });
        return ApiResults.Ok(ctx, new AuditVerificationDto(v.TenantId, v.Ok, v.Events, v.BrokenEventId, v.BrokenChainSeq, v.Reason));
    }
}
