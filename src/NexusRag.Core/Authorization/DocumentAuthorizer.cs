using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using NexusRag.Core.Auth;

namespace NexusRag.Core.Authorization;

/// <summary>
/// Seed "Authorization Model": the decision for a document action, in order — tenant boundary (never bypassed), RBAC
/// role gate, ABAC deny (a matching deny wins over every grant, owner entry, role and bypass, as explicit denies do in
/// cloud IAM), document ACL (active grants; owner ⊇ write ⊇ read) or the admin bypass, ABAC allow, then the default
/// (<c>AUTHZ_DEFAULT_DENY</c>; off keeps role-based access). Kill switches and maintenance gates run before, as endpoint
/// filters. Grants and policies are read from the store on every request, so a change counts at once on every replica.
/// </summary>
public sealed class DocumentAuthorizer(IAuthzStore store, IOptions<AuthzOptions> options, TimeProvider clock)
{
    public const string ResourceType = "document";

    public static AuthzSubject SubjectOf(Principal p) =>
        new(p.TenantId, p.Role.ToString().ToLowerInvariant(), p.ApiKeyId, null, []);

    /// <summary>The role a document action needs: reader to read, editor to write or own.</summary>
    public static Role RoleFor(string action) => action == DocumentActions.Read ? Role.Reader : Role.Editor;

    /// <summary>A policy with its condition parsed once.</summary>
    private sealed record Compiled(AuthzPolicy Policy, JsonNode? Condition);

    /// <summary>The decision for one document, its grants for this subject already resolved to the strongest permission (or null), with its trace.</summary>
    public AuthzDecision Decide(AuthzSubject subject, DocumentResource resource, string action, DateTime now,
        IReadOnlyList<AuthzPolicy> policies, string? grantedPermission)
    {
        var trace = new List<string>();
        return Decide(subject, resource, action, now, Compile(Applicable(policies, action, trace)), grantedPermission, trace);
    }

    private static List<Compiled> Compile(IEnumerable<AuthzPolicy> policies) =>
        policies.Select(p => new Compiled(p, JsonNode.Parse(p.ConditionJson))).ToList();

    /// <summary>The decision; <paramref name="trace"/> null skips writing the trace (bulk decisions for search filtering).</summary>
    private AuthzDecision Decide(AuthzSubject subject, DocumentResource resource, string action, DateTime now,
        List<Compiled> applicable, string? grantedPermission, List<string>? trace)
    {
        var o = options.Value;
        if (subject.TenantId != resource.TenantId) return Done(false, "tenant_boundary", null, "tenant boundary: the document belongs to another tenant");
        trace?.Add("tenant boundary: same tenant");
        if (!Enum.TryParse<Role>(subject.Role, ignoreCase: true, out var role) || role < RoleFor(action))
            return Done(false, "rbac", null, $"rbac: role {subject.Role} may not {action} documents");
        trace?.Add($"rbac: role {subject.Role} may {action}");

        JsonObject? context = null;
        foreach (var c in applicable)
        {
            if (c.Policy.Effect != AuthzPolicy.Deny) continue;
            context ??= Context(subject, resource, action, now);
            if (Matches(c, context, trace)) return Done(false, "abac_deny", c.Policy.Id, $"abac: deny policy '{c.Policy.Name}' (priority {c.Policy.Priority}) matches");
        }
        if (grantedPermission is not null && DocumentActions.Covers(grantedPermission, action))
            return Done(true, "acl", null, $"acl: an active {grantedPermission} grant covers {action}");
        trace?.Add(grantedPermission is null ? "acl: no active grant" : $"acl: a {grantedPermission} grant does not cover {action}");
        if (role == Role.Admin && o.AdminBypassDocumentAcl) return Done(true, "admin_bypass", null, "acl: admin bypass (AUTHZ_ADMIN_BYPASS_DOCUMENT_ACL)");
        foreach (var c in applicable)
        {
            if (c.Policy.Effect != AuthzPolicy.Allow) continue;
            context ??= Context(subject, resource, action, now);
            if (Matches(c, context, trace)) return Done(true, "abac_allow", c.Policy.Id, $"abac: allow policy '{c.Policy.Name}' (priority {c.Policy.Priority}) matches");
        }
        return o.DefaultDeny
            ? Done(false, "default", null, "default: deny (AUTHZ_DEFAULT_DENY=true)")
            : Done(true, "default", null, "default: allow (AUTHZ_DEFAULT_DENY=false)");

        AuthzDecision Done(bool allowed, string by, string? policyId, string step)
        {
            trace?.Add(step);
            return new AuthzDecision(allowed, by, policyId, trace ?? (IReadOnlyList<string>)[]);
        }
    }

    /// <summary>The enabled policies for documents and this action, highest priority first (deny before allow at equal priority).</summary>
    private List<AuthzPolicy> Applicable(IReadOnlyList<AuthzPolicy> policies, string action, List<string>? trace)
    {
        var o = options.Value;
        if (!o.AbacEnabled) { trace?.Add("abac: disabled (AUTHZ_ABAC_ENABLED=false)"); return []; }
        var list = new List<AuthzPolicy>();
        foreach (var p in policies)
        {
            if (!p.Enabled || !p.Matches(ResourceType, action)) continue;
            if (p.ResourceType == "*" && p.Action == "*" && !o.AllowWildcards) { trace?.Add($"abac: wildcard policy '{p.Name}' ignored (AUTHZ_ALLOW_WILDCARDS=false)"); continue; }
            list.Add(p);
        }
        return list.OrderByDescending(p => p.Priority).ThenBy(p => p.Effect == AuthzPolicy.Deny ? 0 : 1).ThenBy(p => p.Id, StringComparer.Ordinal).ToList();
    }

    private static bool Matches(Compiled c, JsonObject context, List<string>? trace)
    {
        if (trace is null) return PolicyDsl.Evaluate(c.Condition, context);
        var steps = new List<string>();
        var hit = PolicyDsl.Evaluate(c.Condition, context, steps);
        trace.Add($"abac: {c.Policy.Effect} policy '{c.Policy.Name}' (priority {c.Policy.Priority}): {(hit ? "matches" : "does not match")} [{string.Join("; ", steps)}]");
        return hit;
    }

    public static JsonObject Context(AuthzSubject s, DocumentResource r, string action, DateTime now) => new()
    {
        ["principal"] = new JsonObject
        {
            ["tenant_id"] = s.TenantId, ["role"] = s.Role, ["api_key_id"] = s.ApiKeyId, ["user_id"] = s.UserId,
            ["groups"] = new JsonArray(s.Groups.Select(g => (JsonNode?)JsonValue.Create(g)).ToArray()),
        },
        ["resource"] = new JsonObject
        {
            ["type"] = ResourceType, ["id"] = r.DocumentId, ["tenant_id"] = r.TenantId, ["corpus_id"] = r.CorpusId,
            ["labels"] = r.Labels.Parent is null ? r.Labels : r.Labels.DeepClone(),
        },
        ["request"] = new JsonObject { ["action"] = action, ["time"] = now.ToUniversalTime().ToString("O") },
    };

    /// <summary>A grant names the subject: its key, its user, one of its groups, or a role it holds (a reader grant reaches editors and admins).</summary>
    public static bool Names(DocumentGrant g, AuthzSubject s) => g.PrincipalType switch
    {
        PrincipalTypes.ApiKey => g.PrincipalId == s.ApiKeyId,
        PrincipalTypes.User => g.PrincipalId == s.UserId,
        PrincipalTypes.Group => s.Groups.Contains(g.PrincipalId),
        PrincipalTypes.Role => Enum.TryParse<Role>(g.PrincipalId, true, out var granted) && Enum.TryParse<Role>(s.Role, true, out var held) && held >= granted,
        _ => false,
    };

    public static JsonObject ParseLabels(string? labelsJson) =>
        labelsJson is null ? [] : JsonNode.Parse(labelsJson) as JsonObject ?? [];

    /// <summary>The decision for a document the caller has loaded (its grants and the tenant's policies are read now).</summary>
    public async Task<AuthzDecision> DecideAsync(Principal principal, string documentId, string corpusId, string? labelsJson, string action, CancellationToken ct)
    {
        var subject = SubjectOf(principal);
        var now = clock.GetUtcNow().UtcDateTime;
        var o = options.Value;
        var policies = o.AbacEnabled ? await store.PoliciesAsync(principal.TenantId, ct).ConfigureAwait(false) : [];
        string? best = null;
        if (o.DefaultDeny) // without default deny a grant cannot change the outcome (a deny beats it; the default admits anyway)
        {
            var grants = await store.GrantsAsync(principal.TenantId, documentId, ct).ConfigureAwait(false);
            best = grants.Where(g => g.IsActive(now) && Names(g, subject)).Select(g => g.Permission).MaxBy(DocumentActions.Rank);
        }
        return Decide(subject, new DocumentResource(principal.TenantId, documentId, corpusId, ParseLabels(labelsJson)), action, now, policies, best);
    }

    /// <summary>
    /// Which documents of a corpus this principal may read, for filtering inside the index: null when nothing can
    /// restrict it (no applicable deny policy and no default deny), else a predicate on document ids. Documents without
    /// labels or grants share one decision; the others are decided once each.
    /// </summary>
    public async Task<Func<string, bool>?> ReadableAsync(Principal principal, string? corpusId, CancellationToken ct)
    {
        var o = options.Value;
        var policies = o.AbacEnabled ? await store.PoliciesAsync(principal.TenantId, ct).ConfigureAwait(false) : [];
        var applicable = Applicable(policies, DocumentActions.Read, null);
        if (!o.DefaultDeny && applicable.All(p => p.Effect != AuthzPolicy.Deny)) return null;

        var subject = SubjectOf(principal);
        var now = clock.GetUtcNow().UtcDateTime;
        var grants = o.DefaultDeny ? await store.GrantedDocumentsAsync(subject, corpusId, now, ct).ConfigureAwait(false) : new Dictionary<string, string>();
        var usesResource = applicable.Any(p => p.ConditionJson.Contains("\"resource.", StringComparison.Ordinal));
        var labels = usesResource ? await store.LabeledDocumentsAsync(principal.TenantId, corpusId, ct).ConfigureAwait(false) : new Dictionary<string, string>();

        var compiled = Compile(applicable);
        bool Decide(string documentId, string? labelsJson, string? granted) =>
            this.Decide(subject, new DocumentResource(principal.TenantId, documentId, corpusId ?? "", ParseLabels(labelsJson)), DocumentActions.Read, now,
                compiled, granted, trace: null).Allowed;

        var baseline = Decide("", null, null);
        // Documents with the same labels and grant get the same answer unless a condition looks at the document's id:
        // decide once per distinct (labels, grant), which is a handful for most tenants however many documents they have.
        var byId = applicable.Any(p => p.ConditionJson.Contains("\"resource.id", StringComparison.Ordinal));
        var byShape = new Dictionary<(string?, string?), bool>();
        var decided = new Dictionary<string, bool>(StringComparer.Ordinal);
        foreach (var id in labels.Keys.Concat(grants.Keys).Distinct(StringComparer.Ordinal))
        {
            var shape = (labels.GetValueOrDefault(id), grants.GetValueOrDefault(id));
            if (byId || !byShape.TryGetValue(shape, out var allowed))
            {
                allowed = Decide(id, shape.Item1, shape.Item2);
                if (!byId) byShape[shape] = allowed;
            }
            decided[id] = allowed;
        }
        return id => decided.TryGetValue(id, out var allowed) ? allowed : baseline;
    }

    /// <summary>Reads a <c>labels</c> object: string keys, values strings, numbers, booleans or arrays of strings.</summary>
    public static string? NormalizeLabels(JsonElement? labels, out string? error)
    {
        error = null;
        if (labels is not { } l || l.ValueKind == JsonValueKind.Null) return null;
        if (l.ValueKind != JsonValueKind.Object) { error = "must be an object of label names to values"; return null; }
        var count = 0;
        foreach (var p in l.EnumerateObject())
        {
            if (++count > 64) { error = "at most 64 labels"; return null; }
            if (p.Name.Length is 0 or > 64) { error = "label names must be 1..64 characters"; return null; }
            var ok = p.Value.ValueKind switch
            {
                JsonValueKind.String => p.Value.GetString()!.Length <= 256,
                JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => true,
                JsonValueKind.Array => p.Value.GetArrayLength() <= 64 && p.Value.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String && x.GetString()!.Length <= 256),
                _ => false,
            };
            if (!ok) { error = $"label '{p.Name}' must be a string (≤ 256), number, boolean or array of strings"; return null; }
        }
        return l.GetRawText();
    }
}
