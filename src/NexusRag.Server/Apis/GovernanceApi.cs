using System.Text.Json;
using NexusRag.Core.Audit;
using NexusRag.Core.Auth;
using NexusRag.Core.DataGovernance;
using NexusRag.Core.Errors;
using NexusRag.Core.Governance;
using NexusRag.Server.Http;

namespace NexusRag.Server.Apis;

public sealed class RetentionPolicyPatch
{
    public int? MessagesTtlDays { get; set; }
    public int? CheckpointsTtlDays { get; set; }
    public int? AuditTtlDays { get; set; }
    public int? DocumentsTtlDays { get; set; }
    public int? BackupsTtlDays { get; set; }
    public bool? HardDeleteEnabled { get; set; }
    public bool? AnonymizeInsteadOfDelete { get; set; }
}

public sealed class CreateHoldRequest
{
    public string? ScopeType { get; set; }
    public string? ScopeId { get; set; }
    public string? Reason { get; set; }
}

public sealed class CreateDsarRequest
{
    public string? RequestType { get; set; }
    public string? SubjectType { get; set; }
    public string? SubjectId { get; set; }
    public string? Reason { get; set; }
}

public sealed class PolicyRuleRequest
{
    public string? RuleKey { get; set; }
    public bool? Enabled { get; set; }
    public int? Priority { get; set; }
    public JsonElement? ConditionJson { get; set; }
    public JsonElement? ActionJson { get; set; }
}

public sealed record GovernanceRunDto(string RunId, string TenantId, string Status, string Trigger, string? JobId, JsonElement? Report, string? Error, DateTime CreatedAt, DateTime? FinishedAt)
{
    public static GovernanceRunDto From(GovernanceRun r) =>
        new(r.Id, r.TenantId, r.Status, r.Trigger, r.JobId, r.ReportJson is null ? null : JsonDocument.Parse(r.ReportJson).RootElement.Clone(), r.Error, r.CreatedAt, r.FinishedAt);
}

public sealed record DsarDto(string Id, string TenantId, string RequestType, string SubjectType, string SubjectId, string? Reason, string Status, string RequestedBy,
    string? ApprovedBy, DateTime? ApprovedAt, JsonElement? Result, string? ArtifactSha256, long? ArtifactBytes, string? Error, DateTime CreatedAt, DateTime? CompletedAt)
{
    public static DsarDto From(DsarRequest r) => new(r.Id, r.TenantId, r.RequestType, r.SubjectType, r.SubjectId, r.Reason, r.Status, r.RequestedBy, r.ApprovedBy,
        r.ApprovedAt, r.ResultJson is null ? null : JsonDocument.Parse(r.ResultJson).RootElement.Clone(), r.ArtifactSha256, r.ArtifactBytes, r.Error, r.CreatedAt, r.CompletedAt);
}

public sealed record PolicyRuleDto(string Id, string? TenantId, string RuleKey, bool Enabled, int Priority, JsonElement ConditionJson, JsonElement ActionJson,
    string CreatedBy, DateTime CreatedAt, DateTime UpdatedAt)
{
    public static PolicyRuleDto From(GovernancePolicy p) => new(p.Id, p.TenantId, p.RuleKey, p.Enabled, p.Priority, p.Condition, p.Action, p.CreatedBy, p.CreatedAt, p.UpdatedAt);
}

/// <summary>
/// Data governance (seed "Governance &amp; Compliance"): retention policy and runs, legal holds, DSARs and policy-as-code
/// rules. A tenant admin acts on its own tenant; the operator names the tenant with <c>?tenant_id=</c> (and owns the
/// platform's policy rules, which apply to every tenant).
/// </summary>
public static class GovernanceApi
{
    public static IEndpointRouteBuilder MapGovernanceApi(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/v1/admin/governance").WithTags("Data governance").WithAuditCategory("governance");
        g.MapGet("/retention/policy", GetPolicy).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<RetentionPolicy>>();
        g.MapPatch("/retention/policy", PatchPolicy).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency()
            .Accepts<RetentionPolicyPatch>("application/json").Produces<Envelope<RetentionPolicy>>();
        g.MapPost("/retention/run", RunRetention).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Produces<Envelope<GovernanceRunDto>>(202);
        g.MapGet("/retention/report", Report).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<GovernanceRunDto>>();
        g.MapGet("/retention/status", RetentionStatus).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops);
        g.MapPost("/legal-holds", PlaceHold).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency()
            .Accepts<CreateHoldRequest>("application/json").Produces<Envelope<LegalHold>>(201);
        g.MapGet("/legal-holds", ListHolds).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<LegalHold>>>();
        g.MapPost("/legal-holds/{id}/release", ReleaseHold).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Produces<Envelope<LegalHold>>();
        g.MapPost("/dsar", CreateDsar).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency()
            .Accepts<CreateDsarRequest>("application/json").Produces<Envelope<DsarDto>>(202);
        g.MapGet("/dsar/{id}", GetDsar).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<DsarDto>>();
        g.MapPost("/dsar/{id}/approve", ApproveDsar).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Produces<Envelope<DsarDto>>();
        g.MapGet("/dsar/{id}/artifact", Artifact).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops);
        g.MapPost("/policies", CreateRule).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency()
            .Accepts<PolicyRuleRequest>("application/json").Produces<Envelope<PolicyRuleDto>>(201);
        g.MapGet("/policies", ListRules).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<IReadOnlyList<PolicyRuleDto>>>();
        g.MapGet("/policies/{id}", GetRule).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).Produces<Envelope<PolicyRuleDto>>();
        g.MapPatch("/policies/{id}", PatchRule).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency()
            .Accepts<PolicyRuleRequest>("application/json").Produces<Envelope<PolicyRuleDto>>();
        g.MapDelete("/policies/{id}", DeleteRule).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops).WithIdempotency().Produces<Envelope<DeletedDto>>();
        var ops = app.MapGroup("/v1/ops/governance").WithTags("Data governance").WithAuditCategory("governance");
        ops.MapGet("/status", Status).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops);
        ops.MapGet("/evidence", Evidence).RequireAdminOrOperator().WithRateClass(RouteClasses.Ops);
        return app;
    }

    /// <summary>The tenant acted on: a tenant admin's own (another → 404); the operator's <c>?tenant_id=</c>.</summary>
    private static async Task<string> TenantAsync(HttpContext ctx, string? tenantId, IIdentityStore identity)
    {
        var p = ctx.GetPrincipal();
        if (!p.IsOperator) return tenantId is null ? p.TenantId : ctx.OwnTenant(tenantId);
        if (tenantId is null) throw NexusException.Validation("tenant_id", "is required for the platform operator (the tenant acted on)");
        return await ctx.TenantInScopeAsync(tenantId, identity);
    }

    private static async Task<IResult> GetPolicy(HttpContext ctx, string? tenant_id, IIdentityStore identity, RetentionService retention) =>
        ApiResults.Ok(ctx, await retention.GetPolicyAsync(await TenantAsync(ctx, tenant_id, identity), ctx.RequestAborted));

    private static async Task<IResult> PatchPolicy(HttpContext ctx, string? tenant_id, IIdentityStore identity, RetentionService retention)
    {
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        using var doc = await JsonBody.ReadObjectAsync(ctx.Request) ?? throw NexusException.Validation("body", "is required");
        var patch = JsonBody.Bind<RetentionPolicyPatch>(doc.RootElement);
        bool Has(string name) => doc.RootElement.TryGetProperty(name, out _);
        var errors = new Dictionary<string, string[]>();
        void Days(string name, int? v) { if (v is < 1 or > 36500) errors[name] = ["must be between 1 and 36500 days, or null to keep forever"]; }
        Days("messages_ttl_days", patch.MessagesTtlDays);
        Days("checkpoints_ttl_days", patch.CheckpointsTtlDays);
        Days("audit_ttl_days", patch.AuditTtlDays);
        Days("documents_ttl_days", patch.DocumentsTtlDays);
        Days("backups_ttl_days", patch.BackupsTtlDays);
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var p = await retention.GetPolicyAsync(tenant, ctx.RequestAborted);
        p = p with
        {
            MessagesTtlDays = Has("messages_ttl_days") ? patch.MessagesTtlDays : p.MessagesTtlDays,
            CheckpointsTtlDays = Has("checkpoints_ttl_days") ? patch.CheckpointsTtlDays : p.CheckpointsTtlDays,
            AuditTtlDays = Has("audit_ttl_days") ? patch.AuditTtlDays : p.AuditTtlDays,
            DocumentsTtlDays = Has("documents_ttl_days") ? patch.DocumentsTtlDays : p.DocumentsTtlDays,
            BackupsTtlDays = Has("backups_ttl_days") ? patch.BackupsTtlDays : p.BackupsTtlDays,
            HardDeleteEnabled = patch.HardDeleteEnabled ?? p.HardDeleteEnabled,
            AnonymizeInsteadOfDelete = patch.AnonymizeInsteadOfDelete ?? p.AnonymizeInsteadOfDelete,
        };
        return ApiResults.Ok(ctx, await retention.UpdatePolicyAsync(ctx.GetPrincipal(), p, ctx.TraceIdentifier, ctx.RequestAborted));
    }

    private static async Task<IResult> RunRetention(HttpContext ctx, string? tenant_id, string? task, IIdentityStore identity, RetentionService retention, IAuditLog audit)
    {
        if (task is not null && task != "prune_all") throw NexusException.Validation("task", "must be prune_all (or left out)");
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        var run = await retention.EnqueueAsync(tenant, "api", ctx.RequestAborted);
        await ctx.AuditForAsync(audit, tenant, "governance.retention.requested", "retention_run", run.Id, new());
        return ApiResults.Ok(ctx, GovernanceRunDto.From(run), StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> Report(HttpContext ctx, string? tenant_id, string? run_id, IIdentityStore identity, IGovernanceStore store)
    {
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        var run = run_id is null
            ? await store.LatestRunAsync(tenant, RetentionService.RunKind, ctx.RequestAborted) ?? throw NexusException.NotFound("retention_run")
            : await store.GetRunAsync(tenant, run_id, ctx.RequestAborted) ?? throw NexusException.NotFound("retention_run", run_id);
        if (run.ReportJson is null)
            throw new NexusException(ErrorKind.Unavailable, GovernanceErrorCodes.GovernanceReportUnavailable, $"Retention run '{run.Id}' is {run.Status}: its report is not ready",
                new Dictionary<string, object?> { ["run_id"] = run.Id, ["status"] = run.Status, ["error"] = run.Error });
        return ApiResults.Ok(ctx, GovernanceRunDto.From(run));
    }

    private static async Task<IResult> RetentionStatus(HttpContext ctx, string? tenant_id, IIdentityStore identity, IGovernanceStore store, RetentionService retention, LegalHolds holds)
    {
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        var last = await store.LatestRunAsync(tenant, RetentionService.RunKind, ctx.RequestAborted);
        return ApiResults.Ok(ctx, new
        {
            tenant_id = tenant,
            policy = await retention.GetPolicyAsync(tenant, ctx.RequestAborted),
            last_run = last is null ? null : GovernanceRunDto.From(last),
            active_holds = (await holds.ActiveAsync(tenant, ctx.RequestAborted)).All.Count,
        });
    }

    private static async Task<IResult> PlaceHold(HttpContext ctx, string? tenant_id, IIdentityStore identity, LegalHolds holds)
    {
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        var body = await JsonBody.ReadAsync<CreateHoldRequest>(ctx.Request);
        var hold = await holds.PlaceAsync(ctx.GetPrincipal(), tenant, body.ScopeType?.Trim() ?? "", body.ScopeId ?? "", body.Reason ?? "", ctx.TraceIdentifier, ctx.RequestAborted);
        return ApiResults.Ok(ctx, hold, StatusCodes.Status201Created);
    }

    private static async Task<IResult> ListHolds(HttpContext ctx, string? tenant_id, string? status, IIdentityStore identity, IGovernanceStore store)
    {
        if (status is not (null or "active" or "all")) throw NexusException.Validation("status", "must be active or all");
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        return ApiResults.Ok(ctx, await store.ListHoldsAsync(tenant, activeOnly: status != "all", ctx.RequestAborted));
    }

    private static async Task<IResult> ReleaseHold(HttpContext ctx, string id, string? tenant_id, IIdentityStore identity, LegalHolds holds) =>
        ApiResults.Ok(ctx, await holds.ReleaseAsync(ctx.GetPrincipal(), await TenantAsync(ctx, tenant_id, identity), id, ctx.TraceIdentifier, ctx.RequestAborted));

    private static async Task<IResult> CreateDsar(HttpContext ctx, string? tenant_id, IIdentityStore identity, DsarService dsar)
    {
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        var body = await JsonBody.ReadAsync<CreateDsarRequest>(ctx.Request);
        var r = await dsar.CreateAsync(ctx.GetPrincipal(), tenant, body.RequestType, body.SubjectType, body.SubjectId, body.Reason, ctx.TraceIdentifier, ctx.RequestAborted);
        return ApiResults.Ok(ctx, DsarDto.From(r), StatusCodes.Status202Accepted);
    }

    private static async Task<IResult> GetDsar(HttpContext ctx, string id, string? tenant_id, IIdentityStore identity, DsarService dsar) =>
        ApiResults.Ok(ctx, DsarDto.From(await dsar.GetAsync(await TenantAsync(ctx, tenant_id, identity), id, ctx.RequestAborted)));

    private static async Task<IResult> ApproveDsar(HttpContext ctx, string id, string? tenant_id, IIdentityStore identity, DsarService dsar) =>
        ApiResults.Ok(ctx, DsarDto.From(await dsar.ApproveAsync(ctx.GetPrincipal(), await TenantAsync(ctx, tenant_id, identity), id, ctx.TraceIdentifier, ctx.RequestAborted)));

    private static async Task<IResult> Artifact(HttpContext ctx, string id, string? tenant_id, IIdentityStore identity, DsarService dsar)
    {
        var (request, zip) = await dsar.OpenArtifactAsync(await TenantAsync(ctx, tenant_id, identity), id, ctx.RequestAborted);
        if (request.ArtifactSha256 is { } sha) ctx.Response.Headers["X-Content-SHA256"] = sha;
        return Results.Stream(zip, "application/zip", $"{request.Id}.zip");
    }

    private static string? RuleTenant(HttpContext ctx) => ctx.GetPrincipal() is { IsOperator: true } ? null : ctx.GetPrincipal().TenantId;

    private static async Task<IResult> CreateRule(HttpContext ctx, IGovernanceStore store, GovernancePolicyEngine engine, IAuditLog audit, TimeProvider clock)
    {
        var body = await JsonBody.ReadAsync<PolicyRuleRequest>(ctx.Request);
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(body.RuleKey) || body.RuleKey.Length > 128) errors["rule_key"] = ["must be 1-128 characters"];
        if (body.ConditionJson is null) errors["condition_json"] = ["is required"];
        if (body.ActionJson is null) errors["action_json"] = ["is required"];
        if (errors.Count > 0) throw NexusException.Validation(errors);
        var rule = Validated(new GovernancePolicy(Core.Services.Identifiers.NewId("gpol"), RuleTenant(ctx), body.RuleKey!.Trim(), body.Enabled ?? true, body.Priority ?? 0,
            body.ConditionJson!.Value.Clone(), body.ActionJson!.Value.Clone(), ctx.GetPrincipal().ActorId, clock.GetUtcNow().UtcDateTime, clock.GetUtcNow().UtcDateTime));
        await store.AddPolicyAsync(rule, ctx.RequestAborted);
        engine.Invalidate();
        await ctx.AuditForAsync(audit, rule.TenantId ?? Principal.PlatformTenant, "governance.policy.created", "governance_policy", rule.Id, new() { ["rule_key"] = rule.RuleKey });
        return ApiResults.Ok(ctx, PolicyRuleDto.From(rule), StatusCodes.Status201Created);
    }

    private static GovernancePolicy Validated(GovernancePolicy rule)
    {
        var errors = GovernancePolicyEngine.Validate(rule.Condition, rule.Action);
        if (rule.Priority is < -1_000_000 or > 1_000_000) errors["priority"] = ["must be between -1000000 and 1000000"];
        return errors.Count > 0 ? throw NexusException.Validation(errors) : rule;
    }

    private static async Task<IResult> ListRules(HttpContext ctx, IGovernanceStore store) =>
        ApiResults.Ok(ctx, (await store.ListPoliciesAsync(RuleTenant(ctx), ctx.RequestAborted)).Select(PolicyRuleDto.From).ToList());

    private static async Task<IResult> GetRule(HttpContext ctx, string id, IGovernanceStore store) =>
        await store.GetPolicyAsync(RuleTenant(ctx), id, ctx.RequestAborted) is { } p ? ApiResults.Ok(ctx, PolicyRuleDto.From(p)) : throw NexusException.NotFound("governance_policy", id);

    private static async Task<IResult> PatchRule(HttpContext ctx, string id, IGovernanceStore store, GovernancePolicyEngine engine, IAuditLog audit, TimeProvider clock)
    {
        var rule = await store.GetPolicyAsync(RuleTenant(ctx), id, ctx.RequestAborted) ?? throw NexusException.NotFound("governance_policy", id);
        var body = await JsonBody.ReadAsync<PolicyRuleRequest>(ctx.Request);
        if (body.RuleKey is { } key && (string.IsNullOrWhiteSpace(key) || key.Length > 128)) throw NexusException.Validation("rule_key", "must be 1-128 characters");
        rule = Validated(rule with
        {
            RuleKey = body.RuleKey?.Trim() ?? rule.RuleKey, Enabled = body.Enabled ?? rule.Enabled, Priority = body.Priority ?? rule.Priority,
            Condition = body.ConditionJson?.Clone() ?? rule.Condition, Action = body.ActionJson?.Clone() ?? rule.Action, UpdatedAt = clock.GetUtcNow().UtcDateTime,
        });
        await store.SavePolicyAsync(rule, ctx.RequestAborted);
        engine.Invalidate();
        await ctx.AuditForAsync(audit, rule.TenantId ?? Principal.PlatformTenant, "governance.policy.updated", "governance_policy", rule.Id, new() { ["rule_key"] = rule.RuleKey });
        return ApiResults.Ok(ctx, PolicyRuleDto.From(rule));
    }

    private static async Task<IResult> DeleteRule(HttpContext ctx, string id, IGovernanceStore store, GovernancePolicyEngine engine, IAuditLog audit)
    {
        var tenant = RuleTenant(ctx);
        if (!await store.DeletePolicyAsync(tenant, id, ctx.RequestAborted)) throw NexusException.NotFound("governance_policy", id);
        engine.Invalidate();
        await ctx.AuditForAsync(audit, tenant ?? Principal.PlatformTenant, "governance.policy.deleted", "governance_policy", id, new());
        return ApiResults.Ok(ctx, new DeletedDto(id, true));
    }

    private static async Task<IResult> Status(HttpContext ctx, string? tenant_id, IIdentityStore identity, IGovernanceStore store, LegalHolds holds,
        GovernancePolicyEngine engine, TimeProvider clock)
    {
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        var active = await holds.ActiveAsync(tenant, ctx.RequestAborted);
        var last = await store.LatestRunAsync(tenant, RetentionService.RunKind, ctx.RequestAborted);
        var dsars = await store.ListDsarsAsync(tenant, clock.GetUtcNow().UtcDateTime.AddDays(-30), ctx.RequestAborted);
        return ApiResults.Ok(ctx, new
        {
            tenant_id = tenant,
            policy_engine_enabled = engine.Enabled,
            policies = (await store.PoliciesForTenantAsync(tenant, ctx.RequestAborted)).Count,
            legal_holds_active = active.All.Count,
            legal_holds_by_scope = active.All.GroupBy(h => h.ScopeType).ToDictionary(g => g.Key, g => g.Count()),
            retention_last_run = last is null ? null : new { last.Id, last.Status, last.CreatedAt, last.FinishedAt },
            dsar_pending_approval = dsars.Count(d => d.Status == DsarStatus.PendingApproval),
            dsar_open = dsars.Count(d => d.Status is DsarStatus.Queued or DsarStatus.Running),
        });
    }

    private static async Task<IResult> Evidence(HttpContext ctx, string? tenant_id, int? window_days, IIdentityStore identity, IGovernanceStore store, IAuditLog audit, TimeProvider clock)
    {
        if (window_days is < 1 or > 366) throw NexusException.Validation("window_days", "must be between 1 and 366");
        var tenant = await TenantAsync(ctx, tenant_id, identity);
        var since = clock.GetUtcNow().UtcDateTime.AddDays(-(window_days ?? 30));
        var holds = (await store.ListHoldsAsync(tenant, activeOnly: false, ctx.RequestAborted)).Where(h => h.CreatedAt >= since || h.ReleasedAt >= since || h.Active).ToList();
        var dsars = await store.ListDsarsAsync(tenant, since, ctx.RequestAborted);
        async Task<int> Count(string type)
        {
            var (items, _) = await audit.QueryAsync(new AuditQuery(tenant, type, null, null, null, null, since, null, 1000, null), ctx.RequestAborted);
            return items.Count;
        }
        return ApiResults.Ok(ctx, new
        {
            tenant_id = tenant, window_days = window_days ?? 30, since,
            retention_runs_completed = await Count("governance.retention.completed"),
            policy_denials = await Count("governance.policy.denied"),
            legal_holds = holds,
            dsar_requests = dsars.Select(DsarDto.From).ToList(),
        });
    }
}
