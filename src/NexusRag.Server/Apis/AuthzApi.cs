using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using NexusRag.Core;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.Authorization;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Core.Services;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class GrantRequest
{
    public string? PrincipalType { get; set; }
    public string? PrincipalId { get; set; }
    public string? Permission { get; set; }
    public DateTime? ExpiresAt { get; set; }
}

public sealed record GrantDto(string Id, string DocumentId, string PrincipalType, string PrincipalId, string Permission, DateTime? ExpiresAt,
    bool Active, DateTime CreatedAt, string CreatedBy)
{
    public static GrantDto From(DocumentGrant g, DateTime now) =>
        new(g.Id, g.DocumentId, g.PrincipalType, g.PrincipalId, g.Permission, g.ExpiresAt, g.IsActive(now), g.CreatedAt, g.CreatedBy);
}

public sealed class PolicyRequest
{
    public string? Name { get; set; }
    public string? Effect { get; set; }
    public string? ResourceType { get; set; }
    public string? Action { get; set; }
    public int? Priority { get; set; }
    public JsonElement? ConditionJson { get; set; }
    public bool? Enabled { get; set; }
}

public sealed record PolicyDto(string Id, string Name, string Effect, string ResourceType, string Action, int Priority, JsonElement ConditionJson,
    bool Enabled, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static PolicyDto From(AuthzPolicy p)
    {
        using var doc = JsonDocument.Parse(p.ConditionJson);
        return new(p.Id, p.Name, p.Effect, p.ResourceType, p.Action, p.Priority, doc.RootElement.Clone(), p.Enabled, p.CreatedAt, p.UpdatedAt);
    }
}

public sealed class SimulateRequest
{
    public string? ResourceType { get; set; }
    public string? Action { get; set; }
    public JsonElement? Principal { get; set; }
    public JsonElement? Resource { get; set; }
    public JsonElement? Request { get; set; }
}

/// <summary><c>policy</c>: what this policy alone says (matches, effect); <c>decision</c>: the full decision with every enabled policy of the tenant plus this one.</summary>
public sealed record SimulateDto(string PolicyId, bool Matches, string Effect, bool Applies, SimulatedDecisionDto Decision, IReadOnlyList<string> Trace);

public sealed record SimulatedDecisionDto(bool Allowed, string Decision, string DecidedBy, string? PolicyId);

/// <summary>
/// Seed "Authorization Model": document ACLs (<c>/v1/admin/authz/documents/{document_id}/permissions</c>) and ABAC
/// policies (<c>/v1/admin/authz/policies</c>, with <c>simulate</c>). Tenant admins only; everything is scoped to the
/// caller's tenant (another tenant's document or policy id is 404) and audited.
/// </summary>
public static class AuthzApi
{
    public static IEndpointRouteBuilder MapAuthzApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin/authz").WithTags("Authorization").WithAuditCategory("authz");
        g.MapPost("/documents/{documentId}/permissions", Grant).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<GrantRequest>("application/json").Produces<Envelope<GrantDto>>(201);
        g.MapGet("/documents/{documentId}/permissions", Grants).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<GrantDto>>>();
        g.MapDelete("/documents/{documentId}/permissions/{permissionId}", Revoke).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Produces<Envelope<DeletedDto>>();
        g.MapPost("/policies", CreatePolicy).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<PolicyRequest>("application/json").Produces<Envelope<PolicyDto>>(201);
        g.MapGet("/policies", Policies).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).Produces<Envelope<IReadOnlyList<PolicyDto>>>();
        g.MapGet("/policies/{policyId}", GetPolicy).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).Produces<Envelope<PolicyDto>>();
        g.MapPatch("/policies/{policyId}", UpdatePolicy).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency()
            .Accepts<PolicyRequest>("application/json").Produces<Envelope<PolicyDto>>();
        g.MapDelete("/policies/{policyId}", DeletePolicy).RequireRole(Role.Admin).WithRateClass(RouteClasses.Mutation).WithIdempotency().Produces<Envelope<DeletedDto>>();
        g.MapPost("/policies/{policyId}/simulate", Simulate).RequireRole(Role.Admin).WithRateClass(RouteClasses.Read).WithIdempotency()
            .Accepts<SimulateRequest>("application/json").Produces<Envelope<SimulateDto>>();
        return app;
    }

    private static async Task<Core.Documents.DocumentInfo> DocumentOf(HttpContext ctx, string documentId, Core.Documents.IDocumentStore documents)
    {
        if (!Identifiers.IsValid(documentId)) throw NexusException.NotFound("document", Text.Clip(documentId, 64));
        return await documents.GetAsync(ctx.GetPrincipal().TenantId, documentId, ctx.RequestAborted) ?? throw NexusException.NotFound("document", documentId);
    }

    private static async Task<IResult> Grant(HttpContext ctx, string documentId, Core.Documents.IDocumentStore documents, IAuthzStore store,
        Core.Transactions.IUnitOfWork uow, IAuditLog audit, TimeProvider clock)
    {
        var principal = ctx.GetPrincipal();
        await DocumentOf(ctx, documentId, documents);
        var body = await JsonBody.ReadAsync<GrantRequest>(ctx.Request);
        var now = clock.GetUtcNow().UtcDateTime;
        var errors = new Dictionary<string, string[]>();
        if (body.PrincipalType is null || !PrincipalTypes.All.Contains(body.PrincipalType)) errors["principal_type"] = [$"must be one of {string.Join(", ", PrincipalTypes.All)}"];
        if (string.IsNullOrWhiteSpace(body.PrincipalId) || body.PrincipalId.Length > 128) errors["principal_id"] = ["is required (at most 128 characters)"];
        else if (body.PrincipalType == PrincipalTypes.Role && !Enum.TryParse<Role>(body.PrincipalId, true, out _)) errors["principal_id"] = ["must be reader, editor or admin for a role grant"];
        if (body.Permission is null || !DocumentActions.Permissions.Contains(body.Permission)) errors["permission"] = [$"must be one of {string.Join(", ", DocumentActions.Permissions)}"];
        if (body.ExpiresAt is { } exp && exp.ToUniversalTime() <= now) errors["expires_at"] = ["must be in the future"];
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var principalId = body.PrincipalType == PrincipalTypes.Role ? body.PrincipalId!.Trim().ToLowerInvariant() : body.PrincipalId!.Trim();
        var grant = new DocumentGrant(Identifiers.NewId("perm"), principal.TenantId, documentId, body.PrincipalType!, principalId, body.Permission!,
            body.ExpiresAt?.ToUniversalTime(), now, principal.ActorId);
        await uow.RunAsync(async c =>
        {
            await store.AddGrantAsync(grant, c);
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "authz.permission.granted", "success", principal.ActorType, principal.ActorId,
                "document", documentId, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?>
                {
                    ["permission_id"] = grant.Id, ["principal_type"] = grant.PrincipalType, ["principal_id"] = grant.PrincipalId,
                    ["permission"] = grant.Permission, ["expires_at"] = grant.ExpiresAt,
                }), c);
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, GrantDto.From(grant, now), StatusCodes.Status201Created);
    }

    private static async Task<IResult> Grants(HttpContext ctx, string documentId, Core.Documents.IDocumentStore documents, IAuthzStore store, TimeProvider clock)
    {
        await DocumentOf(ctx, documentId, documents);
        var now = clock.GetUtcNow().UtcDateTime;
        var grants = await store.GrantsAsync(ctx.GetPrincipal().TenantId, documentId, ctx.RequestAborted);
        return ApiResults.Ok(ctx, grants.Select(g => GrantDto.From(g, now)).ToList());
    }

    private static async Task<IResult> Revoke(HttpContext ctx, string documentId, string permissionId, Core.Documents.IDocumentStore documents, IAuthzStore store,
        Core.Transactions.IUnitOfWork uow, IAuditLog audit)
    {
        var principal = ctx.GetPrincipal();
        await DocumentOf(ctx, documentId, documents);
        await uow.RunAsync(async c =>
        {
            if (!await store.DeleteGrantAsync(principal.TenantId, documentId, permissionId, c)) throw NexusException.NotFound("permission", Text.Clip(permissionId, 64));
            await audit.AppendAsync(new AuditEntry(principal.TenantId, "authz.permission.revoked", "success", principal.ActorType, principal.ActorId,
                "document", documentId, RequestIdMiddleware.Get(ctx), new Dictionary<string, object?> { ["permission_id"] = permissionId }), c);
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, new DeletedDto(permissionId, true));
    }

    /// <summary>Validates a policy body; on create every field but <c>priority</c> and <c>enabled</c> is required.</summary>
    private static AuthzPolicy Validated(PolicyRequest body, AuthzPolicy? current, string tenantId, DateTime now, AuthzOptions o)
    {
        var errors = new Dictionary<string, string[]>();
        var name = body.Name?.Trim() ?? current?.Name;
        if (string.IsNullOrEmpty(name) || name.Length > 128) errors["name"] = ["is required (at most 128 characters)"];
        var effect = body.Effect?.Trim().ToLowerInvariant() ?? current?.Effect;
        if (effect is not (AuthzPolicy.Allow or AuthzPolicy.Deny)) errors["effect"] = ["must be allow or deny"];
        var resourceType = body.ResourceType?.Trim().ToLowerInvariant() ?? current?.ResourceType;
        if (resourceType is not (DocumentAuthorizer.ResourceType or "*")) errors["resource_type"] = ["must be document or *"];
        var action = body.Action?.Trim().ToLowerInvariant() ?? current?.Action;
        if (action is not (DocumentActions.Read or DocumentActions.Write or "*")) errors["action"] = ["must be read, write or *"];
        if (resourceType == "*" && action == "*" && !o.AllowWildcards)
            errors["resource_type"] = ["a policy on every resource type and every action needs AUTHZ_ALLOW_WILDCARDS=true"];
        var priority = body.Priority ?? current?.Priority ?? 100;
        if (priority is < 0 or > 10_000) errors["priority"] = ["must be between 0 and 10000"];
        string? conditionJson = current?.ConditionJson;
        if (body.ConditionJson is { } c)
        {
            var node = JsonNode.Parse(c.GetRawText());
            if (PolicyDsl.Validate(node) is { } bad) errors["condition_json"] = [bad];
            else conditionJson = node!.ToJsonString();
        }
        if (conditionJson is null && !errors.ContainsKey("condition_json")) errors["condition_json"] = ["is required"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        return new AuthzPolicy(current?.Id ?? Identifiers.NewId("pol"), tenantId, name!, effect!, resourceType!, action!, priority, conditionJson!,
            body.Enabled ?? current?.Enabled ?? true, current?.CreatedAt ?? now, now);
    }

    private static async Task<IResult> CreatePolicy(HttpContext ctx, IAuthzStore store, Core.Transactions.IUnitOfWork uow, IAuditLog audit,
        IOptions<AuthzOptions> options, TimeProvider clock)
    {
        var principal = ctx.GetPrincipal();
        var body = await JsonBody.ReadAsync<PolicyRequest>(ctx.Request);
        var policy = Validated(body, null, principal.TenantId, clock.GetUtcNow().UtcDateTime, options.Value);
        var existing = await store.PoliciesAsync(principal.TenantId, ctx.RequestAborted);
        if (existing.Count >= options.Value.MaxPoliciesPerTenant)
            throw NexusException.Conflict("AUTHZ_POLICY_LIMIT", $"A tenant may have at most {options.Value.MaxPoliciesPerTenant} policies");
        if (existing.Any(p => p.Name == policy.Name))
            throw NexusException.Conflict("AUTHZ_POLICY_EXISTS", $"A policy named '{policy.Name}' exists", new Dictionary<string, object?> { ["name"] = policy.Name });
        await uow.RunAsync(async c =>
        {
            await store.AddPolicyAsync(policy, c);
            await audit.AppendAsync(PolicyAudit(principal, "authz.policy.created", policy, ctx), c);
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, PolicyDto.From(policy), StatusCodes.Status201Created);
    }

    private static AuditEntry PolicyAudit(Principal principal, string type, AuthzPolicy p, HttpContext ctx) =>
        new(principal.TenantId, type, "success", principal.ActorType, principal.ActorId, "authz_policy", p.Id, RequestIdMiddleware.Get(ctx),
            new Dictionary<string, object?>
            {
                ["name"] = p.Name, ["effect"] = p.Effect, ["resource_type"] = p.ResourceType, ["action"] = p.Action, ["priority"] = p.Priority,
                ["enabled"] = p.Enabled, ["condition_json"] = JsonDocument.Parse(p.ConditionJson).RootElement.Clone(),
            });

    private static async Task<IResult> Policies(HttpContext ctx, IAuthzStore store) =>
        ApiResults.Ok(ctx, (await store.PoliciesAsync(ctx.GetPrincipal().TenantId, ctx.RequestAborted)).Select(PolicyDto.From).ToList());

    private static async Task<AuthzPolicy> PolicyOf(HttpContext ctx, string policyId, IAuthzStore store) =>
        await store.GetPolicyAsync(ctx.GetPrincipal().TenantId, policyId, ctx.RequestAborted) ?? throw NexusException.NotFound("policy", Text.Clip(policyId, 64));

    private static async Task<IResult> GetPolicy(HttpContext ctx, string policyId, IAuthzStore store) =>
        ApiResults.Ok(ctx, PolicyDto.From(await PolicyOf(ctx, policyId, store)));

    private static async Task<IResult> UpdatePolicy(HttpContext ctx, string policyId, IAuthzStore store, Core.Transactions.IUnitOfWork uow, IAuditLog audit,
        IOptions<AuthzOptions> options, TimeProvider clock)
    {
        var principal = ctx.GetPrincipal();
        var current = await PolicyOf(ctx, policyId, store);
        var body = await JsonBody.ReadAsync<PolicyRequest>(ctx.Request);
        var policy = Validated(body, current, principal.TenantId, clock.GetUtcNow().UtcDateTime, options.Value);
        if (policy.Name != current.Name && (await store.PoliciesAsync(principal.TenantId, ctx.RequestAborted)).Any(p => p.Name == policy.Name))
            throw NexusException.Conflict("AUTHZ_POLICY_EXISTS", $"A policy named '{policy.Name}' exists", new Dictionary<string, object?> { ["name"] = policy.Name });
        await uow.RunAsync(async c =>
        {
            if (!await store.UpdatePolicyAsync(policy, c)) throw NexusException.NotFound("policy", policyId);
            await audit.AppendAsync(PolicyAudit(principal, "authz.policy.updated", policy, ctx), c);
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, PolicyDto.From(policy));
    }

    private static async Task<IResult> DeletePolicy(HttpContext ctx, string policyId, IAuthzStore store, Core.Transactions.IUnitOfWork uow, IAuditLog audit)
    {
        var principal = ctx.GetPrincipal();
        var current = await PolicyOf(ctx, policyId, store);
        await uow.RunAsync(async c =>
        {
            if (!await store.DeletePolicyAsync(principal.TenantId, policyId, c)) throw NexusException.NotFound("policy", policyId);
            await audit.AppendAsync(PolicyAudit(principal, "authz.policy.deleted", current, ctx), c);
            return 0;
        }, ctx.RequestAborted);
        return ApiResults.Ok(ctx, new DeletedDto(policyId, true));
    }

    /// <summary>
    /// The seed's simulate body (<c>resource_type</c>, <c>action</c>, <c>principal</c>, <c>resource</c>, optional
    /// <c>request</c>): whether this policy matches, and the full decision (RBAC, this and the tenant's other enabled
    /// policies, the default) with its trace. Grants are not part of a simulation (none is named).
    /// </summary>
    private static async Task<IResult> Simulate(HttpContext ctx, string policyId, IAuthzStore store, DocumentAuthorizer authorizer, TimeProvider clock)
    {
        var principal = ctx.GetPrincipal();
        var policy = await PolicyOf(ctx, policyId, store);
        var body = await JsonBody.ReadAsync<SimulateRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        var resourceType = body.ResourceType ?? DocumentAuthorizer.ResourceType;
        if (resourceType != DocumentAuthorizer.ResourceType) errors["resource_type"] = ["must be document"];
        var action = body.Action ?? DocumentActions.Read;
        if (action is not (DocumentActions.Read or DocumentActions.Write)) errors["action"] = ["must be read or write"];
        JsonObject? Obj(JsonElement? e, string field)
        {
            if (e is null || e.Value.ValueKind == JsonValueKind.Null) return [];
            if (e.Value.ValueKind != JsonValueKind.Object) { errors[field] = ["must be an object"]; return null; }
            return JsonNode.Parse(e.Value.GetRawText()) as JsonObject;
        }
        var p = Obj(body.Principal, "principal");
        var r = Obj(body.Resource, "resource");
        var q = Obj(body.Request, "request");
        if (errors.Count > 0) throw NexusException.Validation(errors);

        var now = clock.GetUtcNow().UtcDateTime;
        if (q?["time"] is { } rawTime)
        {
            if (rawTime is not JsonValue tv || !tv.TryGetValue<string>(out var ts) || !DateTimeOffset.TryParse(ts, System.Globalization.CultureInfo.InvariantCulture,
                    System.Globalization.DateTimeStyles.AssumeUniversal, out var at))
                throw NexusException.Validation("request.time", "must be an ISO 8601 date-time");
            now = at.UtcDateTime;
        }
        static string? Str(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;
        var role = p?["role"] is null ? "reader" : Str(p["role"]) ?? "";
        if (!Enum.TryParse<Role>(role, true, out _) || int.TryParse(role, out _)) throw NexusException.Validation("principal.role", "must be reader, editor or admin");
        if (r?["labels"] is { } rawLabels && rawLabels is not JsonObject) throw NexusException.Validation("resource.labels", "must be an object");
        var subject = new AuthzSubject(principal.TenantId, role.ToLowerInvariant(), Str(p?["api_key_id"]), Str(p?["user_id"]),
            p?["groups"] is JsonArray groups ? groups.Select(x => Str(x)).OfType<string>().ToList() : []);
        var labels = r?["labels"] as JsonObject ?? [];
        var resource = new DocumentResource(principal.TenantId, Str(r?["id"]) ?? "simulated", Str(r?["corpus_id"]) ?? "", labels);

        var context = DocumentAuthorizer.Context(subject, resource, action, now);
        var steps = new List<string>();
        var matches = PolicyDsl.Evaluate(JsonNode.Parse(policy.ConditionJson), context, steps);
        var applies = policy.Enabled && policy.Matches(resourceType, action);
        var others = (await store.PoliciesAsync(principal.TenantId, ctx.RequestAborted)).Where(x => x.Id != policy.Id).Append(policy with { Enabled = true }).ToList();
        var decision = authorizer.Decide(subject, resource, action, now, others, null);
        return ApiResults.Ok(ctx, new SimulateDto(policy.Id, matches, policy.Effect, applies,
            new SimulatedDecisionDto(decision.Allowed, decision.Allowed ? "allow" : "deny", decision.DecidedBy, decision.PolicyId),
            decision.Trace.Prepend($"policy '{policy.Name}': {(matches ? "matches" : "does not match")} [{string.Join("; ", steps)}]").ToList()));
    }
}
