using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;

namespace NexusRag.Core.Authorization;

/// <summary>Document actions; a permission covers the actions below it (owner ⊇ write ⊇ read).</summary>
public static class DocumentActions
{
    public const string Read = "read";
    public const string Write = "write";
    public const string Owner = "owner";
    public static readonly string[] Permissions = [Read, Write, Owner];

    public static int Rank(string permission) => permission switch { Owner => 3, Write => 2, Read => 1, _ => 0 };

    public static bool Covers(string permission, string action) => Rank(permission) >= Rank(action);
}

public static class PrincipalTypes
{
    public const string User = "user";
    public const string ApiKey = "api_key";
    public const string Group = "group";
    public const string Role = "role";
    public static readonly string[] All = [User, ApiKey, Group, Role];
}

/// <summary>An explicit grant on a document. Expired grants are kept (and listed) but ignored.</summary>
public sealed record DocumentGrant(string Id, string TenantId, string DocumentId, string PrincipalType, string PrincipalId, string Permission,
    DateTime? ExpiresAt, DateTime CreatedAt, string CreatedBy)
{
    public bool IsActive(DateTime now) => ExpiresAt is null || ExpiresAt > now;
}

/// <summary>An ABAC policy of a tenant (seed "Policy DSL").</summary>
public sealed record AuthzPolicy(string Id, string TenantId, string Name, string Effect, string ResourceType, string Action, int Priority,
    string ConditionJson, bool Enabled, DateTime CreatedAt, DateTime UpdatedAt)
{
    public const string Allow = "allow";
    public const string Deny = "deny";

    public bool Matches(string resourceType, string action) =>
        (ResourceType == "*" || ResourceType == resourceType) && (Action == "*" || Action == action);
}

/// <summary>Who asks, as the decision sees it: the key, its role and (later, with SSO) the user and groups.</summary>
public sealed record AuthzSubject(string TenantId, string Role, string? ApiKeyId, string? UserId, IReadOnlyCollection<string> Groups);

/// <summary>A document as the decision sees it.</summary>
public sealed record DocumentResource(string TenantId, string DocumentId, string CorpusId, JsonObject Labels);

/// <summary>The outcome, with the step that decided (<c>tenant_boundary</c>, <c>rbac</c>, <c>abac_deny</c>, <c>acl</c>, <c>admin_bypass</c>, <c>abac_allow</c>, <c>default</c>) and the trace.</summary>
public sealed record AuthzDecision(bool Allowed, string DecidedBy, string? PolicyId, IReadOnlyList<string> Trace);

public sealed class AuthzOptions : IHasParseErrors
{
    public const string Section = "NexusRag:Authz";

    /// <summary>Deny a document action nothing grants (no ACL grant, no allow policy). Off keeps role-based access.</summary>
    [FlatName("AUTHZ_DEFAULT_DENY")] public bool DefaultDeny { get; set; }
    /// <summary>Admins pass the document ACL step (an ABAC deny still applies).</summary>
    [FlatName("AUTHZ_ADMIN_BYPASS_DOCUMENT_ACL")] public bool AdminBypassDocumentAcl { get; set; }
    /// <summary>Allow policies whose resource type and action are both <c>*</c>.</summary>
    [FlatName("AUTHZ_ALLOW_WILDCARDS")] public bool AllowWildcards { get; set; }
    [FlatName("AUTHZ_ABAC_ENABLED")] public bool AbacEnabled { get; set; } = true;
    /// <summary>At most this many policies per tenant.</summary>
    [Range(1, 10_000)] public int MaxPoliciesPerTenant { get; set; } = 500;

    public List<string> ParseErrors { get; } = [];
}

/// <summary>Grants and policies, read fresh on every decision (so a change counts on the next request on every replica).</summary>
public interface IAuthzStore
{
    Task<IReadOnlyList<AuthzPolicy>> PoliciesAsync(string tenantId, CancellationToken ct);
    Task<AuthzPolicy?> GetPolicyAsync(string tenantId, string policyId, CancellationToken ct);
    Task AddPolicyAsync(AuthzPolicy policy, CancellationToken ct);
    Task<bool> UpdatePolicyAsync(AuthzPolicy policy, CancellationToken ct);
    Task<bool> DeletePolicyAsync(string tenantId, string policyId, CancellationToken ct);

    Task<IReadOnlyList<DocumentGrant>> GrantsAsync(string tenantId, string documentId, CancellationToken ct);
    Task AddGrantAsync(DocumentGrant grant, CancellationToken ct);
    /// <summary>Adds several grants in one write.</summary>
    Task AddGrantsAsync(IReadOnlyList<DocumentGrant> grants, CancellationToken ct);
    Task<bool> DeleteGrantAsync(string tenantId, string documentId, string grantId, CancellationToken ct);

    /// <summary>The active grants that name this subject (its key, role or any lower role, user, groups), by document.</summary>
    Task<IReadOnlyDictionary<string, string>> GrantedDocumentsAsync(AuthzSubject subject, string? corpusId, DateTime now, CancellationToken ct);
    /// <summary>The labels of the tenant's documents that have any (of one corpus when given).</summary>
    Task<IReadOnlyDictionary<string, string>> LabeledDocumentsAsync(string tenantId, string? corpusId, CancellationToken ct);
}
