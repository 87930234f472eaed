namespace NexusRag.Core.Errors;

public static class Text
{
    /// <summary>Shortens client-supplied text before it is echoed in an error message or its details.</summary>
    public static string Clip(string s, int max = 100) => s.Length <= max ? s : s[..max] + "…";
}
