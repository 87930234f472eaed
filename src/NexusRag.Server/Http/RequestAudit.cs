using NexusRag.Core.Errors;
using NexusRag.Core.Model;
using NexusRag.Core.Ports;

namespace NexusRag.Server.Http;

public static class RequestAudit
{
    /// <summary>Appends an audit event for the calling principal and this request.</summary>
    public static Task AuditAsync(this HttpContext ctx, IAuditLog audit, string eventType, string? resourceType, string? resourceId,
        Dictionary<string, object?>? metadata = null, string outcome = "success")
    {
        var p = ctx.GetPrincipal();
        return audit.AppendAsync(new AuditEntry(p.TenantId, eventType, outcome, "api_key", p.ApiKeyId ?? p.Actor, resourceType, resourceId,
            RequestIdMiddleware.Get(ctx), metadata), ctx.RequestAborted);
    }

    /// <summary>The caller's own tenant id; any other is 404 (another tenant is not even "forbidden": it does not exist here).</summary>
    public static string OwnTenant(this HttpContext ctx, string tenantId) =>
        tenantId == ctx.GetPrincipal().TenantId ? tenantId : throw ApiException.NotFound("tenant", tenantId);
}
