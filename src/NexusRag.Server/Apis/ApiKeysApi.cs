using System.Text.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Services;
using NexusRag.Core.Transactions;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class CreateApiKeyRequest
{
    public string? Name { get; set; }
    public string? Role { get; set; }
    public string? ExpiresIn { get; set; }
}

public sealed class RotateApiKeyRequest
{
    /// <summary>Keep the old key working (until revoked) so deployments can switch over.</summary>
    public bool? KeepOldActive { get; set; }
}

public sealed record RotatedApiKeyDto(ApiKeyDto Key, string ApiKey, string PreviousKeyId, bool PreviousKeyActive);

public sealed class PatchApiKeyRequest
{
    public bool? Active { get; set; }
}

/// <summary>A key as listed: never its secret or hash.</summary>
public sealed record ApiKeyDto(string Id, string TenantId, string Name, string Role, string Prefix, bool Active,
    DateTime CreatedAt, DateTime? ExpiresAt, DateTime? RevokedAt, DateTime? LastUsedAt)
{
    public static ApiKeyDto From(ApiKeyInfo k) =>
        new(k.Id, k.TenantId, k.Name, k.Role.ToWire(), k.Prefix, k.RevokedAt is null, k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt);
}

/// <summary>The plaintext key is in this response and nowhere else, ever.</summary>
public sealed record CreatedApiKeyDto(ApiKeyDto Key, string ApiKey);

/// <summary>
/// API key lifecycle (seed "Tenant Self-Serve API" and the admin API): tenant admins create, list and revoke their
/// tenant's keys; <c>PATCH /v1/admin/api-keys/{id}</c> deactivates or reactivates one. Always within the caller's tenant.
/// </summary>
public static class ApiKeysApi
{
    public static IEndpointRouteBuilder MapApiKeysApi(this IEndpointRouteBuilder app)
    {
        var self = app.MapGroup("/v1/self-serve/api-keys").WithTags("API keys").WithAuditCategory("self-serve");
        self.MapPost("/", Create).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency().Accepts<CreateApiKeyRequest>("application/json").Produces<Envelope<CreatedApiKeyDto>>(201);
        self.MapGet("/", List).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<ApiKeyDto>>>();
        self.MapPost("/{id}/rotate", Rotate).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<RotateApiKeyRequest>("application/json").Produces<Envelope<RotatedApiKeyDto>>(201);
        self.MapPost("/{id}/revoke", Revoke).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency().Produces<Envelope<ApiKeyDto>>();
        var admin = app.MapGroup("/v1/admin/api-keys").WithTags("API keys").WithAuditCategory("auth");
        admin.MapGet("/", AdminList).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<ApiKeyDto>>>();
        admin.MapPatch("/{id}", Patch).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency().Accepts<PatchApiKeyRequest>("application/json").Produces<Envelope<ApiKeyDto>>();
        return app;
    }

    private static async Task<IResult> Create(HttpContext ctx, ApiKeyService keys, IAuditLog audit, IUnitOfWork uow)
    {
        var body = await JsonBody.ReadAsync<CreateApiKeyRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(body.Name) || body.Name.Length > 200) errors["name"] = ["must be 1-200 characters"];
        if (!Roles.TryParse(body.Role ?? "", out var role)) errors["role"] = ["must be reader, editor or admin"];
        TimeSpan? expires = null;
        if (body.ExpiresIn is { } e)
        {
            try { expires = ApiKeyService.ParseDuration(e); }
            catch (NexusException) { errors["expires_in"] = ["must be a duration such as 30d, 12h or 45m"]; }
        }
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var p = ctx.GetPrincipal();
        var created = await uow.RunAsync(async ct =>
        {
            var c = await keys.CreateAsync(p.TenantId, role, body.Name!, expires, p.ActorId, ct);
            await ctx.AuditAsync(audit, "selfserve.api_key.created", "api_key", c.Key.Id, new() { ["role"] = role.ToWire(), ["name"] = c.Key.Name });
            return c;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, new CreatedApiKeyDto(ApiKeyDto.From(created.Key), created.Plaintext), StatusCodes.Status201Created);
    }

    private static async Task<IResult> List(HttpContext ctx, IIdentityStore store, IAuditLog audit)
    {
        var items = await store.ListApiKeysAsync(ctx.GetPrincipal().TenantId, ctx.RequestAborted);
        await ctx.AuditAsync(audit, "selfserve.api_key.listed", "api_key", null, new() { ["count"] = items.Count });
        return ApiResults.Ok(ctx, items.Select(ApiKeyDto.From).ToList());
    }

    private static async Task<IResult> Rotate(HttpContext ctx, string id, ApiKeyService keys)
    {
        var body = await JsonBody.ReadAsync<RotateApiKeyRequest>(ctx.Request, allowEmpty: true);
        var principal = ctx.GetPrincipal();
        var rotated = await keys.RotateAsync(principal.TenantId, id, body.KeepOldActive ?? false, principal.ActorType, principal.ActorId,
            RequestIdMiddleware.Get(ctx), ctx.RequestAborted) ?? throw NexusException.NotFound("api_key", id);
        return ApiResults.Ok(ctx, new RotatedApiKeyDto(ApiKeyDto.From(rotated.Created.Key), rotated.Created.Plaintext, rotated.Previous.Id, rotated.PreviousActive),
            StatusCodes.Status201Created);
    }

    private static async Task<IResult> Revoke(HttpContext ctx, string id, ApiKeyService keys, IAuditLog audit, IUnitOfWork uow)
    {
        var key = await uow.RunAsync(async ct =>
        {
            var k = await keys.SetActiveAsync(ctx.GetPrincipal().TenantId, id, false, ct) ?? throw NexusException.NotFound("api_key", id);
            await ctx.AuditAsync(audit, "selfserve.api_key.revoked", "api_key", k.Id, new());
            return k;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, ApiKeyDto.From(key));
    }

    private static async Task<IResult> AdminList(HttpContext ctx, IIdentityStore store, string? tenant_id)
    {
        var tenant = ctx.GetPrincipal().TenantId;
        // Tenant isolation is absolute: another tenant's keys are not visible, not even as "forbidden".
        if (tenant_id is not null && tenant_id != tenant) throw NexusException.NotFound("tenant", tenant_id);
        var items = await store.ListApiKeysAsync(tenant, ctx.RequestAborted);
        return ApiResults.Ok(ctx, items.Select(ApiKeyDto.From).ToList());
    }

    private static async Task<IResult> Patch(HttpContext ctx, string id, ApiKeyService keys, IAuditLog audit, IUnitOfWork uow)
    {
        var body = await JsonBody.ReadAsync<PatchApiKeyRequest>(ctx.Request);
        if (body.Active is not { } active) throw NexusException.Validation("active", "is required (true or false)");
        var key = await uow.RunAsync(async ct =>
        {
            var k = await keys.SetActiveAsync(ctx.GetPrincipal().TenantId, id, active, ct) ?? throw NexusException.NotFound("api_key", id);
            await ctx.AuditAsync(audit, active ? "auth.api_key.reactivated" : "auth.api_key.revoked", "api_key", k.Id, new() { ["active"] = active });
            return k;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, ApiKeyDto.From(key));
    }
}
