using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Server.Http;

namespace NexusRag.Server.Auth;

/// <summary>
/// The authorization policies every endpoint picks from. Tenant roles are ordered (reader &lt; editor &lt; admin) and
/// never held by the platform operator; operator policies admit only operator keys. Document ACLs and ABAC (a later
/// issue) become further requirements and handlers here.
/// </summary>
public static class Policies
{
    public const string Reader = "tenant:reader";
    public const string Editor = "tenant:editor";
    public const string Admin = "tenant:admin";
    /// <summary>The platform operator only (plans, overrides, quota limits, global kill switches and canaries).</summary>
    public const string Operator = "platform:operator";
    /// <summary>A tenant admin (its own tenant; handlers check the path) or the operator (any tenant).</summary>
    public const string AdminOrOperator = "tenant:admin|platform:operator";

    public static string For(Role role) => role switch { Role.Reader => Reader, Role.Editor => Editor, _ => Admin };

    public static IServiceCollection AddNexusRagAuth(this IServiceCollection services)
    {
        // The only scheme (and so the default). UseAuthentication runs after routing, the request id and the error envelope;
        // the handler ignores requests without an endpoint or to public endpoints.
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<ApiKeyAuthenticationOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, _ => { });
        services.AddAuthorizationBuilder()
            .AddPolicy(Reader, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new PrincipalRequirement(Role.Reader, false)))
            .AddPolicy(Editor, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new PrincipalRequirement(Role.Editor, false)))
            .AddPolicy(Admin, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new PrincipalRequirement(Role.Admin, false)))
            .AddPolicy(AdminOrOperator, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new PrincipalRequirement(Role.Admin, true)))
            .AddPolicy(Operator, p => p.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).AddRequirements(new PrincipalRequirement(null, true)));
        services.AddSingleton<IAuthorizationHandler, PrincipalRequirementHandler>();
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, EnvelopeAuthorizationResultHandler>();
        return services;
    }
}

/// <summary>
/// Admits a tenant principal holding at least <see cref="TenantRole"/> (null: no tenant principal) and, when
/// <see cref="AllowOperator"/>, the platform operator.
/// </summary>
public sealed record PrincipalRequirement(Role? TenantRole, bool AllowOperator) : IAuthorizationRequirement
{
    public string Describe() => (TenantRole, AllowOperator) switch
    {
        (null, _) => "operator",
        ({ } r, true) => $"{r.ToWire()} or operator",
        ({ } r, false) => r.ToWire(),
    };
}

public sealed class PrincipalRequirementHandler : AuthorizationHandler<PrincipalRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, PrincipalRequirement requirement)
    {
        if (context.User.Identity is NexusIdentity { Principal: var p }
            && ((p.IsOperator && requirement.AllowOperator) || (requirement.TenantRole is { } role && p.HasAtLeast(role))))
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

/// <summary>
/// Writes authorization outcomes in the seed's envelope: 401 with the authentication failure's code, 403
/// <c>FORBIDDEN</c> with the required and held role (audited as <c>rbac.forbidden</c> in the caller's tenant).
/// </summary>
public sealed class EnvelopeAuthorizationResultHandler(IAuditLog audit) : IAuthorizationMiddlewareResultHandler
{
    public async Task HandleAsync(RequestDelegate next, HttpContext ctx, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (result.Succeeded)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        if (result.Challenged || ctx.User.Identity is not NexusIdentity { Principal: var principal }) throw AuthenticationFailureFeature.Unauthorized(ctx);
        var required = policy.Requirements.OfType<PrincipalRequirement>().Select(r => r.Describe()).FirstOrDefault() ?? "another role";
        var held = principal.IsOperator ? "operator" : principal.Role.ToWire();
        var endpoint = ctx.GetEndpoint();
        await audit.AppendAsync(new AuditEntry(principal.TenantId, "rbac.forbidden", "failure", principal.ActorType, principal.ActorId,
            "route", $"{ctx.Request.Method} {endpoint?.DisplayName}", RequestIdMiddleware.Get(ctx),
            new Dictionary<string, object?>
            {
                ["role"] = held, ["required_role"] = required, ["category"] = endpoint?.Metadata.GetMetadata<AuditCategory>()?.Name,
            }), ctx.RequestAborted).ConfigureAwait(false);
        var message = principal.IsOperator
            ? "The platform operator key does not act inside a tenant; use a tenant API key"
            : $"This operation requires the {required} role";
        throw new NexusException(ErrorKind.Forbidden, ErrorCodes.Forbidden, message, new Dictionary<string, object?> { ["required_role"] = required, ["role"] = held });
    }
}
