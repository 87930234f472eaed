using Microsoft.Extensions.Options;

namespace NexusRag.Server.Hosting;

/// <summary>
/// Host-wide settings (section <c>NexusRag</c>). The seed's flat environment names override the section:
/// <c>NEXUSRAG_ENV</c>, <c>AUTH_ENABLED</c>, <c>AUTH_DEV_BYPASS</c>, <c>UI_CURSOR_SECRET</c>, <c>MAX_REQUEST_BODY_BYTES</c>.
/// </summary>
public sealed class NexusRagOptions
{
    public const string Section = "NexusRag";
    public const string DefaultCursorSecret = "dev-only-cursor-secret-change-me";
    public static readonly string[] Environments = ["local", "dev", "prod"];

    public string Env { get; set; } = "local";
    public bool AuthEnabled { get; set; } = true;
    public bool AuthDevBypass { get; set; }
    public string CursorSecret { get; set; } = DefaultCursorSecret;
    public long MaxRequestBodyBytes { get; set; } = 10 * 1024 * 1024;
    /// <summary>Create tenant t1, an admin key and the demo corpus on the first start in the local profile.</summary>
    public bool Bootstrap { get; set; } = true;

    /// <summary>Problems found while reading the flat environment names (e.g. AUTH_ENABLED=maybe).</summary>
    internal List<string> ParseErrors { get; } = [];

    public bool IsProd => Env == "prod";
}

internal sealed class NexusRagOptionsSetup(IConfiguration config) : IConfigureOptions<NexusRagOptions>
{
    public void Configure(NexusRagOptions o)
    {
        config.GetSection(NexusRagOptions.Section).Bind(o);
        if (config["NEXUSRAG_ENV"] is { Length: > 0 } env) o.Env = env.Trim().ToLowerInvariant();
        Core.FlatSettings.Bool(config, "AUTH_ENABLED", v => o.AuthEnabled = v, o.ParseErrors);
        Core.FlatSettings.Bool(config, "AUTH_DEV_BYPASS", v => o.AuthDevBypass = v, o.ParseErrors);
        if (config["UI_CURSOR_SECRET"] is { } secret) o.CursorSecret = secret;
        if (config["MAX_REQUEST_BODY_BYTES"] is { Length: > 0 } max)
        {
            if (long.TryParse(max, out var n)) o.MaxRequestBodyBytes = n;
            else o.ParseErrors.Add($"MAX_REQUEST_BODY_BYTES must be an integer, got '{max}'");
        }
    }
}

/// <summary>
/// Start-up rules. <c>prod</c> refuses unsafe settings (seed 001, "Production Deployment Checklist"):
/// auth off, the dev bypass on, or a required secret missing or left at its default.
/// </summary>
internal sealed class NexusRagOptionsValidator : IValidateOptions<NexusRagOptions>
{
    public ValidateOptionsResult Validate(string? name, NexusRagOptions o)
    {
        var errors = new List<string>(o.ParseErrors);
        if (!NexusRagOptions.Environments.Contains(o.Env))
            errors.Add($"NEXUSRAG_ENV must be one of {string.Join(", ", NexusRagOptions.Environments)}, got '{o.Env}'");
        if (o.MaxRequestBodyBytes is < 1024 or > 1L << 32)
            errors.Add("MAX_REQUEST_BODY_BYTES must be between 1024 and 4294967296");
        if (o.IsProd)
        {
            if (!o.AuthEnabled) errors.Add("prod refuses AUTH_ENABLED=false");
            if (o.AuthDevBypass) errors.Add("prod refuses AUTH_DEV_BYPASS=true");
            if (string.IsNullOrWhiteSpace(o.CursorSecret) || o.CursorSecret == NexusRagOptions.DefaultCursorSecret)
                errors.Add("prod requires UI_CURSOR_SECRET to be set to a non-default value");
            else if (o.CursorSecret.Length < 32)
                errors.Add("prod requires UI_CURSOR_SECRET of at least 32 characters");
        }
        else if (string.IsNullOrEmpty(o.CursorSecret))
        {
            errors.Add("UI_CURSOR_SECRET must not be empty");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
