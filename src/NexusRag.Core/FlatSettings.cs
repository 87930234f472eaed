using Microsoft.Extensions.Configuration;

namespace NexusRag.Core;

/// <summary>Reads the seed's flat environment names (EMBEDDINGS_BATCH_SIZE=64) into options, collecting parse errors.</summary>
public static class FlatSettings
{
    /// <summary>Sets the value when the name is present and an integer; records an error when present and not.</summary>
    public static void Int(IConfiguration config, string name, Action<int> set, List<string> errors)
    {
        if (config[name] is not { Length: > 0 } raw) return;
        if (int.TryParse(raw, out var v)) set(v);
        else errors.Add($"{name} must be an integer, got '{raw}'");
    }
}
