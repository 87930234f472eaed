using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;

namespace NexusRag.Server.Http;

public static class RequestAudit
{
    /// <summary>Appends an audit event for the calling principal and this request.</summary>
    public static Task AuditAsync(this HttpContext ctx, IAuditLog audit, string eventType, string? resourceType, string? resourceId,
        Dictionary<string, object?>? metadata = null, string outcome = "success")
        => ctx.AuditForAsync(audit, ctx.GetPrincipal().TenantId, eventType, resourceType, resourceId, metadata, outcome);

    /// <summary>Appends an audit event to <paramref name="tenantId"/>'s chain (an operator acting on a tenant is recorded there).</summary>
    public static Task AuditForAsync(this HttpContext ctx, IAuditLog audit, string tenantId, string eventType, string? resourceType, string? resourceId,
        Dictionary<string, object?>? metadata = null, string outcome = "success")
    {
        var p = ctx.GetPrincipal();
        return audit.AppendAsync(new AuditEntry(tenantId, eventType, outcome, p.ActorType, p.ActorId, resourceType, resourceId,
            RequestIdMiddleware.Get(ctx), metadata), ctx.RequestAborted);
    }

    /// <summary>
    /// The tenant a tenant-or-operator endpoint acts on: a tenant principal only ever its own (any other is 404, not even
    /// "forbidden": it does not exist here); the operator any existing tenant.
    /// </summary>
    public static async Task<string> TenantInScopeAsync(this HttpContext ctx, string tenantId, IIdentityStore identity)
    {
        var p = ctx.GetPrincipal();
        if (!p.IsOperator) return ctx.OwnTenant(tenantId);
        if (!Core.Services.Identifiers.IsValid(tenantId) || !await identity.TenantExistsAsync(tenantId, ctx.RequestAborted).ConfigureAwait(false))
            throw NexusException.NotFound("tenant", tenantId);
        return tenantId;
    }

    /// <summary>The caller's own tenant id; any other is 404 (another tenant is not even "forbidden": it does not exist here).</summary>
    public static string OwnTenant(this HttpContext ctx, string tenantId) =>
        tenantId == ctx.GetPrincipal().TenantId ? tenantId : throw NexusException.NotFound("tenant", tenantId);
}
