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

/// <summary>The seed's flat environment name of an options property (<c>INGEST_MAX_CONCURRENCY</c>), named in start-up refusals.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FlatNameAttribute(string name) : Attribute
{
    public string Name { get; } = name;
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

    /// <summary>
    /// Validates the data annotations of <typeparamref name="T"/> (like <c>ValidateDataAnnotations</c>), but each failure
    /// names the setting a user sets: "INGEST_MAX_CONCURRENCY (NexusRag:Ingestion:WorkerConcurrency) must be between 0 and 64, got 1000".
    /// </summary>
    public static OptionsBuilder<T> ValidateSettings<T>(this OptionsBuilder<T> builder, string section) where T : class
    {
        builder.Services.AddSingleton<IValidateOptions<T>>(new SettingsValidator<T>(section));
        return builder;
    }

    private sealed class SettingsValidator<T>(string section) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T o)
        {
            var errors = new List<string>();
            foreach (var prop in typeof(T).GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
            {
                var attrs = prop.GetCustomAttributes(typeof(System.ComponentModel.DataAnnotations.ValidationAttribute), true)
                    .Cast<System.ComponentModel.DataAnnotations.ValidationAttribute>().ToList();
                if (attrs.Count == 0) continue;
                var value = prop.GetValue(o);
                var flat = prop.GetCustomAttributes(typeof(FlatNameAttribute), true).Cast<FlatNameAttribute>().FirstOrDefault()?.Name;
                var label = flat is null ? $"{section}:{prop.Name}" : $"{flat} ({section}:{prop.Name})";
                foreach (var a in attrs)
                {
                    if (a is System.ComponentModel.DataAnnotations.RangeAttribute r && value is null) continue; // optional, unset
                    if (a.IsValid(value)) continue;
                    errors.Add(a is System.ComponentModel.DataAnnotations.RangeAttribute range
                        ? string.Create(CultureInfo.InvariantCulture, $"{label} must be between {range.Minimum} and {range.Maximum}, got {value}")
                        : $"{label}: {a.FormatErrorMessage(prop.Name)}");
                }
            }
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }

    private sealed class ParseErrorsValidator<T> : IValidateOptions<T> where T : class, IHasParseErrors
    {
        public ValidateOptionsResult Validate(string? name, T o) =>
            o.ParseErrors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(o.ParseErrors);
    }
}
