using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Services;
using NexusRag.Server.Hosting;
using NexusRag.Server.Http;

namespace NexusRag.Server.Auth;

public sealed class ApiKeyAuthenticationOptions : AuthenticationSchemeOptions;

/// <summary>
/// The <c>ApiKey</c> scheme: <c>Authorization: Bearer nrgk_…</c> → a <see cref="NexusIdentity"/> carrying the
/// <see cref="Principal"/> (tenant, role, key id, operator flag) and the same facts as claims. <c>AUTH_DEV_BYPASS=true</c>
/// (never in prod) takes <c>X-Tenant-Id</c> and <c>X-Role</c> (default admin) instead; <c>AUTH_ENABLED=false</c> (never in
/// prod) does the same and defaults the tenant to <c>t1</c>. A failure keeps its seed error code
/// (<c>AUTH_UNAUTHORIZED</c>, <c>AUTH_EXPIRED_KEY</c>, <c>AUTH_REVOKED_KEY</c>) for the challenge, which writes the envelope.
/// Runs only for endpoints whose policy names this scheme (public endpoints never look at the header).
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<ApiKeyAuthenticationOptions> schemeOptions, ILoggerFactory loggerFactory, UrlEncoder encoder,
    IOptions<NexusRagOptions> options, ApiKeyService keys, IAuditLog audit)
    : AuthenticationHandler<ApiKeyAuthenticationOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        // Public endpoints and unknown routes never look at the Authorization header (nor audit a bad one).
        if (Context.GetEndpoint() is not { } endpoint || endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Authorization.IAllowAnonymous>() is not null)
            return AuthenticateResult.NoResult();
        var opts = options.Value;
        var tenantHeader = Request.Headers["X-Tenant-Id"].ToString();
        if (!opts.IsProd && (!opts.AuthEnabled || (opts.AuthDevBypass && tenantHeader.Length > 0)))
        {
            var tenant = tenantHeader.Length > 0 ? tenantHeader : "t1";
            if (!Identifiers.IsValid(tenant)) return Failure(ErrorCodes.Unauthorized, "X-Tenant-Id is not a valid tenant id");
            var roleHeader = Request.Headers["X-Role"].ToString();
            var role = Role.Admin;
            if (roleHeader.Length > 0 && !Roles.TryParse(roleHeader, out role)) return Failure(ErrorCodes.Unauthorized, "X-Role must be reader, editor or admin");
            return Success(new Principal(tenant, role, null, "dev-bypass"));
        }

        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= 7)
            return Failure(ErrorCodes.Unauthorized, "Missing API key: send Authorization: Bearer <api_key>");
        var (result, key) = await keys.VerifyAsync(header[7..].Trim(), Context.RequestAborted).ConfigureAwait(false);
        switch (result)
        {
            case KeyCheck.Valid when key is not null:
                // Once a minute per key at most (with last_used_at): auditing every request would double the writes.
                if (await keys.TouchIfDueAsync(key, Context.RequestAborted).ConfigureAwait(false))
                {
                    await audit.AppendAsync(new AuditEntry(key.TenantId, "auth.access.success", "success", key.IsOperator ? "operator" : "api_key", key.Id,
                        "api_key", key.Id, RequestIdMiddleware.Get(Context)), Context.RequestAborted).ConfigureAwait(false);
                }
                return Success(new Principal(key.TenantId, key.Role, key.Id, key.Name, key.IsOperator));
            case KeyCheck.Expired:
                await AuditFailure(key!.TenantId, key.Id, "expired").ConfigureAwait(false);
                return Failure(ErrorCodes.ExpiredKey, "API key has expired");
            case KeyCheck.Revoked:
                await AuditFailure(key!.TenantId, key.Id, "revoked").ConfigureAwait(false);
                return Failure(ErrorCodes.RevokedKey, "API key has been revoked");
            case KeyCheck.Inactive:
                await AuditFailure(key!.TenantId, key.Id, "inactive").ConfigureAwait(false);
                return Failure(ErrorCodes.InactiveKey, "API key has not been used for too long (AUTH_API_KEY_INACTIVE_DAYS); an admin can rotate it or create a new one");
            default:
                await AuditFailure("_unknown", null, "invalid").ConfigureAwait(false);
                return Failure(ErrorCodes.Unauthorized, "Invalid API key");
        }
    }

    /// <summary>401 in the seed's envelope with the code the authentication failure recorded.</summary>
    protected override Task HandleChallengeAsync(AuthenticationProperties properties) => throw AuthenticationFailureFeature.Unauthorized(Context);

    private AuthenticateResult Success(Principal principal) =>
        AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new NexusIdentity(principal, SchemeName)), SchemeName));

    private AuthenticateResult Failure(string code, string message)
    {
        Context.Features.Set(new AuthenticationFailureFeature(code, message));
        return AuthenticateResult.Fail(message);
    }

    private async Task AuditFailure(string tenantId, string? keyId, string reason)
    {
        try
        {
            var path = Request.Path.Value ?? "";
            await audit.AppendAsync(new AuditEntry(tenantId, "auth.access.failure", "failure", "api_key", keyId, "route",
                path[..Math.Min(path.Length, 200)], RequestIdMiddleware.Get(Context),
                new Dictionary<string, object?> { ["reason"] = reason }), Context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Logger.LogWarning(ex, "Could not audit an authentication failure");
        }
    }
}

/// <summary>Why authentication failed, kept for the challenge (a seed error code and message).</summary>
public sealed record AuthenticationFailureFeature(string Code, string Message)
{
    /// <summary>The 401 for this request: the recorded failure, or "authentication required".</summary>
    public static NexusException Unauthorized(HttpContext ctx)
    {
        var f = ctx.Features.Get<AuthenticationFailureFeature>() ?? new AuthenticationFailureFeature(ErrorCodes.Unauthorized, "Authentication required");
        return new NexusException(ErrorKind.Unauthorized, f.Code, f.Message);
    }
}

/// <summary>The authenticated identity: claims for the framework, the typed <see cref="Principal"/> for our code.</summary>
public sealed class NexusIdentity : ClaimsIdentity
{
    public const string TenantClaim = "nexusrag:tenant";
    public const string RoleClaim = "nexusrag:role";
    public const string KeyIdClaim = "nexusrag:key_id";
    public const string OperatorClaim = "nexusrag:operator";

    public Principal Principal { get; }

    public NexusIdentity(Principal principal, string authenticationType)
        : base(ClaimsOf(principal), authenticationType, ClaimTypes.Name, RoleClaim)
    {
        Principal = principal;
    }

    private static IEnumerable<Claim> ClaimsOf(Principal p)
    {
        yield return new Claim(ClaimTypes.Name, p.Actor);
        yield return new Claim(TenantClaim, p.TenantId);
        if (p.ApiKeyId is { } id) yield return new Claim(KeyIdClaim, id);
        if (p.IsOperator) yield return new Claim(OperatorClaim, "true");
        else yield return new Claim(RoleClaim, p.Role.ToWire());
    }
}
