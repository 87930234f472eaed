using NexusRag.Core.Errors;

namespace NexusRag.Core.Governance;

/// <summary>The seed's plan matrix (free / pro / enterprise) and its feature keys.</summary>
public static class Plans
{
    public const string Free = "free";
    public const string Pro = "pro";
    public const string Enterprise = "enterprise";
    public static readonly string[] All = [Free, Pro, Enterprise];

    public const string RetrievalLocal = "feature.retrieval.local";
    public const string Tts = "feature.tts";
    public const string OpsAdminAccess = "feature.ops_admin_access";
    public const string AuditAccess = "feature.audit_access";
    public const string CorporaPatchProviderConfig = "feature.corpora_patch_provider_config";

    /// <summary>Feature key → plans that include it.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Matrix = new Dictionary<string, string[]>
    {
        [RetrievalLocal] = [Free, Pro, Enterprise],
        ["feature.retrieval.aws_bedrock_kb"] = [Enterprise],
        ["feature.retrieval.gcp_vertex"] = [Pro, Enterprise],
        [Tts] = [Pro, Enterprise],
        [OpsAdminAccess] = [Pro, Enterprise],
        [AuditAccess] = [Pro, Enterprise],
        [CorporaPatchProviderConfig] = [Pro, Enterprise],
        ["feature.billing_webhook_test"] = [Pro, Enterprise],
        ["feature.high_quota_tier"] = [Enterprise],
        ["feature.identity.sso"] = [Pro, Enterprise],
        ["feature.identity.scim"] = [Enterprise],
        ["feature.identity.jit"] = [Enterprise],
        ["feature.cost_visibility"] = [Pro, Enterprise],
        ["feature.cost_controls"] = [Pro, Enterprise],
        ["feature.chargeback_reports"] = [Enterprise],
    };

    public static IReadOnlyList<string> FeaturesOf(string plan) => Matrix.Where(kv => kv.Value.Contains(plan)).Select(kv => kv.Key).Order().ToList();
}

public sealed record PlanOverride(string FeatureKey, bool Enabled, string? ConfigJson);

/// <summary>A tenant's plan (null: the default plan) and its per-feature overrides.</summary>
public sealed record TenantPlan(string TenantId, string? PlanId, IReadOnlyList<PlanOverride> Overrides);

public interface IPlanStore
{
    Task<TenantPlan> GetAsync(string tenantId, CancellationToken ct);
    Task SetPlanAsync(string tenantId, string planId, CancellationToken ct);
    Task SetOverrideAsync(string tenantId, PlanOverride value, CancellationToken ct);
}

/// <summary>Plan assignment options (<c>DEFAULT_PLAN</c>, default <c>free</c> as in the seed).</summary>
public sealed class PlanOptions
{
    public string DefaultPlan { get; set; } = Plans.Free;
}

/// <summary>Whether a tenant may use a feature: its override if any, else its plan (or the default plan).</summary>
public sealed class Entitlements(IPlanStore store, Microsoft.Extensions.Options.IOptions<PlanOptions> options)
{
    public async Task<(string Plan, IReadOnlyDictionary<string, bool> Features)> ResolveAsync(string tenantId, CancellationToken ct)
    {
        var tp = await store.GetAsync(tenantId, ct).ConfigureAwait(false);
        var plan = tp.PlanId ?? options.Value.DefaultPlan;
        var features = Plans.Matrix.ToDictionary(kv => kv.Key, kv => kv.Value.Contains(plan));
        foreach (var o in tp.Overrides) features[o.FeatureKey] = o.Enabled;
        return (plan, features);
    }

    public async Task<bool> IsEnabledAsync(string tenantId, string featureKey, CancellationToken ct) =>
        (await ResolveAsync(tenantId, ct).ConfigureAwait(false)).Features.GetValueOrDefault(featureKey);

    /// <summary>403 <c>FEATURE_NOT_ENABLED</c> with <c>details.feature_key</c> unless the tenant has the feature.</summary>
    public async Task EnsureAsync(string tenantId, string featureKey, CancellationToken ct)
    {
        if (!await IsEnabledAsync(tenantId, featureKey, ct).ConfigureAwait(false))
            throw new NexusException(ErrorKind.Forbidden, ErrorCodes.FeatureNotEnabled, "Feature not enabled for tenant plan",
                new Dictionary<string, object?> { ["feature_key"] = featureKey });
    }
}
