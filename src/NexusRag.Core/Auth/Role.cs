namespace NexusRag.Core.Auth;

/// <summary>Roles are ordered: every role can do what the roles below it can.</summary>
public enum Role
{
    Reader = 1,
    Editor = 2,
    Admin = 3,
}

public static class Roles
{
    public static bool TryParse(string? value, out Role role)
    {
        switch (value?.Trim().ToLowerInvariant())
        {
            case "reader": role = Role.Reader; return true;
            case "editor": role = Role.Editor; return true;
            case "admin": role = Role.Admin; return true;
            default: role = default; return false;
        }
    }

    public static string ToWire(this Role role) => role switch
    {
        Role.Reader => "reader",
        Role.Editor => "editor",
        Role.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };
}

/// <summary>
/// The authenticated caller. The tenant of every query comes from here and nowhere else. A tenant principal acts only
/// inside <see cref="TenantId"/> with its <see cref="Role"/>; the platform operator (<see cref="IsOperator"/>) belongs to
/// no tenant (its <see cref="TenantId"/> is <see cref="PlatformTenant"/>, which no tenant can be named) and holds no
/// tenant role: it owns what spans tenants (plans, quota limits, global kill switches).
/// </summary>
public sealed record Principal(string TenantId, Role Role, string? ApiKeyId, string Actor, bool IsOperator = false)
{
    /// <summary>The pseudo-tenant of operator keys and platform-wide audit events; not a valid tenant identifier.</summary>
    public const string PlatformTenant = "_platform";

    /// <summary>A tenant role check: the operator holds no tenant role.</summary>
    public bool HasAtLeast(Role role) => !IsOperator && Role >= role;

    /// <summary>The audit actor type: <c>operator</c> or <c>api_key</c>.</summary>
    public string ActorType => IsOperator ? "operator" : "api_key";

    public string ActorId => ApiKeyId ?? Actor;
}
