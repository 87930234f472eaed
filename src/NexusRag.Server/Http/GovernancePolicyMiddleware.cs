using NexusRag.Core.Audit;
using NexusRag.Core.DataGovernance;
using NexusRag.Core.Errors;

namespace NexusRag.Server.Http;

/// <summary>
/// Applies policy-as-code rules to every authenticated tenant request (<see cref="GovernancePolicyEngine"/>): a deny
/// answers 403 with the rule's code (<c>POLICY_DENIED</c> by default), <c>require_approval</c> 403
/// <c>POLICY_APPROVAL_REQUIRED</c>; both, and matching <c>log</c> rules, are audited. The operator's requests and the
/// policy endpoints themselves are exempt, so no rule can lock its own admins out.
/// </summary>
public sealed class GovernancePolicyMiddleware(RequestDelegate next, GovernancePolicyEngine engine, IAuditLog audit, TimeProvider clock)
{
    private const string PolicyRoutes = "/v1/admin/governance/policies";

    public async Task InvokeAsync(HttpContext ctx)
    {
        if (!engine.Enabled || ctx.TryGetPrincipal() is not { IsOperator: false } principal
            || ctx.Request.Path.StartsWithSegments(PolicyRoutes, StringComparison.Ordinal))
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        var decision = await engine.EvaluateAsync(new PolicyRequest(principal.TenantId, ctx.Request.Method, ctx.Request.Path.Value ?? "", principal.Role,
            clock.GetUtcNow().UtcDateTime), ctx.RequestAborted).ConfigureAwait(false);
        foreach (var logged in decision.Logged)
            await ctx.AuditAsync(audit, "governance.policy.logged", "governance_policy", logged.Id, new() { ["rule_key"] = logged.RuleKey, ["path"] = ctx.Request.Path.Value })
                .ConfigureAwait(false);
        if (decision.Rule is not { } rule)
        {
            await next(ctx).ConfigureAwait(false);
            return;
        }
        await ctx.AuditAsync(audit, "governance.policy.denied", "governance_policy", rule.Id,
            new() { ["rule_key"] = rule.RuleKey, ["effect"] = decision.Effect, ["code"] = decision.Code, ["method"] = ctx.Request.Method, ["path"] = ctx.Request.Path.Value },
            outcome: "denied").ConfigureAwait(false);
        throw new NexusException(ErrorKind.Forbidden, decision.Code, decision.Message,
            new Dictionary<string, object?> { ["policy_id"] = rule.Id, ["rule_key"] = rule.RuleKey, ["effect"] = decision.Effect });
    }
}
