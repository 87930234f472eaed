using Microsoft.AspNetCore.Authorization;
using NexusRag.Core.Auth;
using NexusRag.Server.Auth;

namespace NexusRag.Server.Http;

/// <summary>Endpoint metadata: no authentication (health, OpenAPI, docs).</summary>
public sealed record PublicEndpoint;

/// <summary>Endpoint metadata: the seed's rate-limit route class (<c>run</c>, <c>mutation</c>, <c>read</c>, <c>ops</c>).</summary>
public sealed record RateClass(string Name);

/// <summary>Endpoint metadata: usage-quota units one call costs (1 unless declared; <c>/v1/run</c> declares 3).</summary>
public sealed record QuotaCost(int Units);

/// <summary>Endpoint metadata: the endpoint honours <c>Idempotency-Key</c> (writes whose replay must not repeat the change).</summary>
public sealed record IdempotentWrite;

/// <summary>Endpoint metadata: the audit category of the area (named in <c>rbac.forbidden</c> events).</summary>
public sealed record AuditCategory(string Name);

/// <summary>Endpoint metadata: the body is a file upload, capped by <c>MAX_UPLOAD_BYTES</c> instead of the JSON body cap.</summary>
public sealed record FileUpload;

/// <summary>
/// Policy is declared on the endpoint, never derived from its URL: who may call it, its rate class, its quota cost,
/// whether it takes part in idempotency and its audit category. <see cref="EndpointPolicyCheck"/> refuses to start a
/// server with an endpoint that declares no authorization (or public marker) or, when authenticated, no rate class.
/// </summary>
public static class EndpointPolicyExtensions
{
    /// <summary>A tenant principal with at least this role.</summary>
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, Role role) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(Policies.For(role));

    /// <summary>The body is a file upload (<see cref="FileUpload"/>).</summary>
    public static TBuilder WithFileUpload<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new FileUpload());

    /// <summary>The platform operator only.</summary>
    public static TBuilder RequireOperator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(Policies.Operator);

    /// <summary>A tenant admin (for its own tenant) or the platform operator (any tenant).</summary>
    public static TBuilder RequireAdminOrOperator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireAuthorization(Policies.AdminOrOperator);

    public static TBuilder AllowPublic<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AllowAnonymous().WithMetadata(new PublicEndpoint());

    public static TBuilder WithRateClass<TBuilder>(this TBuilder builder, string routeClass) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RateClass(routeClass));

    public static TBuilder WithQuotaCost<TBuilder>(this TBuilder builder, int units) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new QuotaCost(units));

    public static TBuilder WithIdempotency<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new IdempotentWrite());

    public static TBuilder WithAuditCategory<TBuilder>(this TBuilder builder, string category) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AuditCategory(category));

    /// <summary>The authenticated caller (endpoints behind an authorization policy always have one).</summary>
    public static Principal GetPrincipal(this HttpContext ctx) =>
        TryGetPrincipal(ctx) ?? throw new InvalidOperationException("endpoint reached without a principal");

    public static Principal? TryGetPrincipal(this HttpContext ctx) => (ctx.User.Identity as NexusIdentity)?.Principal;
}

/// <summary>Fail closed: every endpoint must say who may call it, and an authenticated one how it is rate limited.</summary>
public static class EndpointPolicyCheck
{
    public static IReadOnlyList<string> Violations(IEnumerable<Endpoint> endpoints)
    {
        var problems = new List<string>();
        foreach (var e in endpoints.OfType<RouteEndpoint>())
        {
            var name = $"{string.Join(",", e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"])} {e.RoutePattern.RawText}";
            var isPublic = e.Metadata.GetMetadata<IAllowAnonymous>() is not null;
            var hasPolicy = e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => !string.IsNullOrEmpty(a.Policy));
            if (!isPublic && !hasPolicy) problems.Add($"{name} declares no authorization policy (RequireRole/RequireOperator/AllowPublic)");
            else if (!isPublic && e.Metadata.GetMetadata<RateClass>() is null) problems.Add($"{name} declares no rate class (WithRateClass)");
        }
        return problems;
    }
}
