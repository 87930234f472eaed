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

/// <summary>The authenticated caller. The tenant of every query comes from here and nowhere else.</summary>
public sealed record Principal(string TenantId, Role Role, string? ApiKeyId, string Actor)
{
    public bool HasAtLeast(Role role) => Role >= role;
}
