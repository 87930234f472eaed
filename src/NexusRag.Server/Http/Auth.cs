using Microsoft.Extensions.Options;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Model;
using NexusRag.Core.Ports;
using NexusRag.Core.Services;
using NexusRag.Server.Hosting;

namespace NexusRag.Server.Http;

/// <summary>Endpoint metadata: the lowest role allowed to call the endpoint.</summary>
public sealed record RequiredRole(Role Role);

/// <summary>Endpoint metadata: no authentication (health, OpenAPI).</summary>
public sealed record PublicEndpoint;

public static class AuthEndpointExtensions
{
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, Role role) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiredRole(role));

    public static TBuilder AllowPublic<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new PublicEndpoint());

    private const string PrincipalKey = "nexusrag.principal";

    public static Principal GetPrincipal(this HttpContext ctx) =>
        ctx.Items[PrincipalKey] as Principal ?? throw new InvalidOperationException("endpoint reached without a principal");

    public static Principal? TryGetPrincipal(this HttpContext ctx) => ctx.Items[PrincipalKey] as Principal;

    internal static void SetPrincipal(this HttpContext ctx, Principal principal) => ctx.Items[PrincipalKey] = principal;
}

/// <summary>
/// Authenticates <c>Authorization: Bearer nrgk_…</c> keys and enforces the endpoint's <see cref="RequiredRole"/>.
/// Runs after routing so it sees endpoint metadata. <c>AUTH_DEV_BYPASS=true</c> (never in prod) takes
/// <c>X-Tenant-Id</c> and <c>X-Role</c> (default admin) instead; <c>AUTH_ENABLED=false</c> (never in prod)
/// does the same and defaults the tenant to <c>t1</c>.
/// </summary>
public sealed class ApiKeyAuthMiddleware(RequestDelegate next, IOptions<NexusRagOptions> options, ApiKeyService keys,
    IIdentityStore identity, IAuditLog audit, TimeProvider clock, ILogger<ApiKeyAuthMiddleware> logger)
{
    private static readonly TimeSpan TouchInterval = TimeSpan.FromMinutes(1);

    public async Task InvokeAsync(HttpContext ctx)
    {
        var endpoint = ctx.GetEndpoint();
        if (endpoint is null || endpoint.Metadata.GetMetadata<PublicEndpoint>() is not null
            || endpoint.Metadata.GetMetadata<RequiredRole>() is not { } required)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }

        var principal = await AuthenticateAsync(ctx).ConfigureAwait(false);
        if (!principal.HasAtLeast(required.Role))
        {
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "rbac.forbidden", "failure", "api_key", principal.ApiKeyId ?? principal.Actor,
                "route", $"{ctx.Request.Method} {endpoint.DisplayName}", RequestIdMiddleware.Get(ctx),
                new Dictionary<string, object?> { ["role"] = principal.Role.ToWire(), ["required_role"] = required.Role.ToWire() }),
                ctx.RequestAborted).ConfigureAwait(false);
            throw new ApiException(403, ErrorCodes.Forbidden, $"This operation requires the {required.Role.ToWire()} role",
                new Dictionary<string, object?> { ["required_role"] = required.Role.ToWire(), ["role"] = principal.Role.ToWire() });
        }
        ctx.SetPrincipal(principal);
        await next(ctx).ConfigureAwait(false);
    }

    private async Task<Principal> AuthenticateAsync(HttpContext ctx)
    {
        var opts = options.Value;
        var tenantHeader = ctx.Request.Headers["X-Tenant-Id"].ToString();
        if (!opts.IsProd && (!opts.AuthEnabled || (opts.AuthDevBypass && tenantHeader.Length > 0)))
        {
            var tenant = tenantHeader.Length > 0 ? tenantHeader : "t1";
            if (!Identifiers.IsValid(tenant)) throw Unauthorized(ErrorCodes.Unauthorized, "X-Tenant-Id is not a valid tenant id");
            var roleHeader = ctx.Request.Headers["X-Role"].ToString();
            var role = Role.Admin;
            if (roleHeader.Length > 0 && !Roles.TryParse(roleHeader, out role))
                throw Unauthorized(ErrorCodes.Unauthorized, "X-Role must be reader, editor or admin");
            return new Principal(tenant, role, null, "dev-bypass");
        }

        var header = ctx.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
        {
            throw Unauthorized(ErrorCodes.Unauthorized, "Missing API key: send Authorization: Bearer <api_key>");
        }
        var presented = header[7..].Trim();
        var (result, key) = await keys.VerifyAsync(presented, ctx.RequestAborted).ConfigureAwait(false);
        switch (result)
        {
            case KeyCheck.Valid:
                var now = clock.GetUtcNow().UtcDateTime;
                if (key!.LastUsedAt is null || now - key.LastUsedAt > TouchInterval)
                {
                    // Once a minute per key at most (with last_used_at): auditing every request would double the writes.
                    await identity.TouchApiKeyAsync(key.Id, now, ctx.RequestAborted).ConfigureAwait(false);
                    await audit.AppendAsync(new AuditEntry(key.TenantId, "auth.access.success", "success", "api_key", key.Id, "api_key", key.Id,
                        RequestIdMiddleware.Get(ctx)), ctx.RequestAborted).ConfigureAwait(false);
                }
                return new Principal(key.TenantId, key.Role, key.Id, key.Name);
            case KeyCheck.Expired:
                await AuditFailure(ctx, key!.TenantId, key.Id, "expired").ConfigureAwait(false);
                throw Unauthorized(ErrorCodes.ExpiredKey, "API key has expired");
            case KeyCheck.Revoked:
                await AuditFailure(ctx, key!.TenantId, key.Id, "revoked").ConfigureAwait(false);
                throw Unauthorized(ErrorCodes.RevokedKey, "API key has been revoked");
            default:
                await AuditFailure(ctx, "_unknown", null, "invalid").ConfigureAwait(false);
                throw Unauthorized(ErrorCodes.Unauthorized, "Invalid API key");
        }
    }

    private async Task AuditFailure(HttpContext ctx, string tenantId, string? keyId, string reason)
    {
        try
        {
            await audit.AppendAsync(new AuditEntry(tenantId, "auth.access.failure", "failure", "api_key", keyId, "route",
                ctx.Request.Path.Value?[..Math.Min(ctx.Request.Path.Value.Length, 200)], RequestIdMiddleware.Get(ctx),
                new Dictionary<string, object?> { ["reason"] = reason }), ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Could not audit an authentication failure");
        }
    }

    private static ApiException Unauthorized(string code, string message) => new(401, code, message);
}
