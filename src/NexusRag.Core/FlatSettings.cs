using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace NexusRag.Core;

/// <summary>Options that collect problems found while reading the seed's flat environment names.</summary>
public interface IHasParseErrors
{
    List<string> ParseErrors { get; }
}

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

    public static void Double(IConfiguration config, string name, Action<double> set, List<string> errors)
    {
        if (config[name] is not { Length: > 0 } raw) return;
        if (double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var v)) set(v);
        else errors.Add($"{name} must be a number, got '{raw}'");
    }

    /// <summary>true/false, 1/0, yes/no (any case).</summary>
    public static void Bool(IConfiguration config, string name, Action<bool> set, List<string> errors)
    {
        if (config[name] is not { } raw || string.IsNullOrWhiteSpace(raw)) return;
        switch (raw.Trim().ToLowerInvariant())
        {
            case "true" or "1" or "yes": set(true); break;
            case "false" or "0" or "no": set(false); break;
            default: errors.Add($"{name} must be true or false, got '{raw}'"); break;
        }
    }

    /// <summary>Fails start-up with the collected parse errors, each named.</summary>
    public static OptionsBuilder<T> ValidateParseErrors<T>(this OptionsBuilder<T> builder) where T : class, IHasParseErrors
    {
        builder.Services.AddSingleton<IValidateOptions<T>>(new ParseErrorsValidator<T>());
        return builder;
    }

    private sealed class ParseErrorsValidator<T> : IValidateOptions<T> where T : class, IHasParseErrors
    {
        public ValidateOptionsResult Validate(string? name, T o) =>
            o.ParseErrors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(o.ParseErrors);
    }
}
