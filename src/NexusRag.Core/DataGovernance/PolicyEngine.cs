using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using NexusRag.Core.Auth;
using NexusRag.Core.Errors;

namespace NexusRag.Core.DataGovernance;

/// <summary>A request as the policy engine sees it.</summary>
public sealed record PolicyRequest(string TenantId, string Method, string Path, Role Role, DateTime Now);

/// <summary>
/// The outcome: <see cref="Effect"/> <c>allow</c>, <c>deny</c> or <c>require_approval</c>, the rule that decided it, and
/// the <c>log</c> rules that matched (each rule key's winner).
/// </summary>
public sealed record PolicyDecision(string Effect, GovernancePolicy? Rule, string Code, string Message, IReadOnlyList<GovernancePolicy> Logged)
{
    public static readonly PolicyDecision Allow = new("allow", null, "", "", []);
}

/// <summary>
/// Policy-as-code (seed "Policy-as-Code Overview"): rules of a tenant and the platform's rules, grouped by
/// <c>rule_key</c>; in each group the enabled rule with the highest <c>priority</c> whose condition matches decides (a tie
/// goes to the lowest rule id, so the outcome never depends on storage order). Any group deciding <c>deny</c> refuses the
/// request (403 with the rule's code, <c>POLICY_DENIED</c> by default); <c>require_approval</c> refuses it with
/// <c>POLICY_APPROVAL_REQUIRED</c>; <c>log</c> lets it through and is audited. Conditions: <c>method</c>,
/// <c>endpoint_prefix</c>, <c>role</c>, <c>tenant</c>, <c>time</c> (<c>{"after": "HH:mm", "before": "HH:mm"}</c>, UTC)
/// and <c>weekdays</c>; each is a value or a list, all must hold. Rules are read again every two seconds.
/// </summary>
public sealed partial class GovernancePolicyEngine(IGovernanceStore store, IOptions<DataGovernanceOptions> options, TimeProvider clock)
{
    public static readonly string[] ConditionKeys = ["method", "endpoint_prefix", "role", "tenant", "time", "weekdays"];
    public static readonly string[] ActionTypes = ["deny", "require_approval", "log"];
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);
    private readonly ConcurrentDictionary<string, (IReadOnlyList<GovernancePolicy> Rules, DateTimeOffset Until)> _cache = new();

    public bool Enabled => options.Value.PolicyEngineEnabled;

    public void Invalidate() => _cache.Clear();

    public async Task<PolicyDecision> EvaluateAsync(PolicyRequest request, CancellationToken ct)
    {
        if (!Enabled) return PolicyDecision.Allow;
        var now = clock.GetUtcNow();
        if (!_cache.TryGetValue(request.TenantId, out var cached) || cached.Until <= now)
        {
            cached = (await store.PoliciesForTenantAsync(request.TenantId, ct).ConfigureAwait(false), now + Ttl);
            _cache[request.TenantId] = cached;
        }
        return Decide(cached.Rules, request);
    }

    /// <summary>The decision of <paramref name="rules"/> for <paramref name="request"/> (pure: what the engine applies).</summary>
    public static PolicyDecision Decide(IEnumerable<GovernancePolicy> rules, PolicyRequest request)
    {
        var winners = rules.Where(r => r.Enabled && Matches(r.Condition, request))
            .GroupBy(r => r.RuleKey, StringComparer.Ordinal)
            .Select(g => g.OrderByDescending(r => r.Priority).ThenBy(r => r.Id, StringComparer.Ordinal).First())
            .OrderByDescending(r => r.Priority).ThenBy(r => r.Id, StringComparer.Ordinal)
            .ToList();
        var logged = winners.Where(w => ActionType(w) == "log").ToList();
        if (winners.FirstOrDefault(w => ActionType(w) == "deny") is { } deny)
            return new PolicyDecision("deny", deny, Str(deny.Action, "code") ?? GovernanceErrorCodes.PolicyDenied, Str(deny.Action, "message") ?? $"Denied by policy {deny.RuleKey}", logged);
        if (winners.FirstOrDefault(w => ActionType(w) == "require_approval") is { } approval)
            return new PolicyDecision("require_approval", approval, GovernanceErrorCodes.PolicyApprovalRequired,
                Str(approval.Action, "message") ?? $"Policy {approval.RuleKey} requires an approval this request does not have", logged);
        return logged.Count == 0 ? PolicyDecision.Allow : PolicyDecision.Allow with { Logged = logged };
    }

    /// <summary>Problems with a rule's condition and action (unknown condition keys, bad values, an unknown action type), by field.</summary>
    public static Dictionary<string, string[]> Validate(JsonElement condition, JsonElement action)
    {
        var errors = new Dictionary<string, string[]>();
        if (condition.ValueKind != JsonValueKind.Object) errors["condition_json"] = ["must be a JSON object"];
        else
        {
            foreach (var p in condition.EnumerateObject())
            {
                if (!ConditionKeys.Contains(p.Name)) errors[$"condition_json.{p.Name}"] = [$"is not a condition; use {string.Join(", ", ConditionKeys)}"];
                else if (p.Name == "time" && (p.Value.ValueKind != JsonValueKind.Object || !TimeBound(p.Value, "after", out _) || !TimeBound(p.Value, "before", out _)))
                    errors["condition_json.time"] = ["must be {\"after\": \"HH:mm\", \"before\": \"HH:mm\"} (UTC; either may be left out)"];
                else if (p.Name == "role" && Values(p.Value).Any(v => !Enum.TryParse<Role>(v, ignoreCase: true, out _)))
                    errors["condition_json.role"] = ["must be reader, editor or admin (or a list of them)"];
                else if (p.Name == "weekdays" && Values(p.Value).Any(v => !Enum.TryParse<DayOfWeek>(v, ignoreCase: true, out _)))
                    errors["condition_json.weekdays"] = ["must be day names (monday … sunday)"];
                else if (p.Name != "time" && (Values(p.Value).Count == 0 || Values(p.Value).Any(string.IsNullOrWhiteSpace)))
                    errors[$"condition_json.{p.Name}"] = ["must be a non-empty string or list of strings"];
            }
        }
        if (action.ValueKind != JsonValueKind.Object || Str(action, "type") is not { } type || !ActionTypes.Contains(type))
            errors["action_json.type"] = [$"must be one of {string.Join(", ", ActionTypes)}"];
        else
        {
            if (Str(action, "code") is { } code && !CodeShape().IsMatch(code)) errors["action_json.code"] = ["must be 3-64 capitals, digits or underscores"];
            if (Str(action, "message") is { Length: > 300 }) errors["action_json.message"] = ["must be at most 300 characters"];
        }
        return errors;
    }

    private static bool Matches(JsonElement condition, PolicyRequest r)
    {
        if (condition.ValueKind != JsonValueKind.Object) return false;
        foreach (var p in condition.EnumerateObject())
        {
            var ok = p.Name switch
            {
                "method" => Values(p.Value).Any(v => string.Equals(v, r.Method, StringComparison.OrdinalIgnoreCase)),
                "endpoint_prefix" => Values(p.Value).Any(v => r.Path.StartsWith(v, StringComparison.Ordinal)),
                "role" => Values(p.Value).Any(v => Enum.TryParse<Role>(v, ignoreCase: true, out var role) && role == r.Role),
                "tenant" => Values(p.Value).Contains(r.TenantId, StringComparer.Ordinal),
                "weekdays" => Values(p.Value).Any(v => Enum.TryParse<DayOfWeek>(v, ignoreCase: true, out var d) && d == r.Now.DayOfWeek),
                "time" => InWindow(p.Value, r.Now.TimeOfDay),
                _ => false, // rules are validated on the way in; an unknown key never matches
            };
            if (!ok) return false;
        }
        return true;
    }

    private static bool InWindow(JsonElement time, TimeSpan at)
    {
        if (!TimeBound(time, "after", out var after) || !TimeBound(time, "before", out var before)) return false;
        return (after, before) switch
        {
            (null, null) => true,
            ({ } a, null) => at >= a,
            (null, { } b) => at < b,
            ({ } a, { } b) when a <= b => at >= a && at < b,
            ({ } a, { } b) => at >= a || at < b, // a window across midnight
        };
    }

    private static bool TimeBound(JsonElement time, string name, out TimeSpan? value)
    {
        value = null;
        if (!time.TryGetProperty(name, out var v)) return true;
        if (v.ValueKind == JsonValueKind.String && TimeSpan.TryParseExact(v.GetString(), @"hh\:mm", CultureInfo.InvariantCulture, out var t)) { value = t; return true; }
        return false;
    }

    private static List<string> Values(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => [v.GetString()!],
        JsonValueKind.Array => v.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!).ToList(),
        _ => [],
    };

    private static string ActionType(GovernancePolicy p) => Str(p.Action, "type") ?? "";

    private static string? Str(JsonElement o, string name) =>
        o.ValueKind == JsonValueKind.Object && o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    [GeneratedRegex("^[A-Z][A-Z0-9_]{2,63}$")]
    private static partial Regex CodeShape();
}
