using System.Text.RegularExpressions;

namespace NexusRag.Core.Services;

/// <summary>Client-chosen identifiers: 1–128 characters of letters, digits and <c>. _ : -</c>, starting with a letter or digit.</summary>
public static partial class Identifiers
{
    public const int MaxLength = 128;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static bool IsValid(string? id) => id is not null && Pattern().IsMatch(id);

    public const string Rule = "must be 1-128 characters of letters, digits, '.', '_', ':' or '-', starting with a letter or digit";

    public static string NewId(string prefix) => $"{prefix}_{Guid.CreateVersion7():N}";
}
