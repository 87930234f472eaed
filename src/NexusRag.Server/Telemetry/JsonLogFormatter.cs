using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace NexusRag.Server.Telemetry;

public sealed class JsonLogFormatterOptions : ConsoleFormatterOptions
{
    public string Service { get; set; } = "nexusrag";
    public string Release { get; set; } = "0.0.0";
}

/// <summary>
/// Seed 003 §6 log lines: one JSON object per line with <c>timestamp</c>, <c>level</c>, <c>message</c>, <c>category</c>,
/// <c>trace_id</c>, <c>span_id</c>, <c>request_id</c>, <c>tenant_id</c>, <c>service</c>, <c>release</c> (and <c>exception</c>
/// with its type and stack). Anything shaped like an API key or a bearer token is masked before it is written.
/// </summary>
public sealed partial class JsonLogFormatter(IOptionsMonitor<JsonLogFormatterOptions> options) : ConsoleFormatter(Name)
{
    public new const string Name = "nexusrag-json";

    [GeneratedRegex(@"\b(nrg[a-z]?_[A-Za-z0-9_\-]{6,}|Bearer\s+[A-Za-z0-9._~+/\-]+=*)", RegexOptions.CultureInvariant)]
    private static partial Regex Secret();

    public static string Mask(string text) => Secret().Replace(text, "[redacted]");

    public override void Write<TState>(in LogEntry<TState> entry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        var message = entry.Formatter(entry.State, entry.Exception);
        if (message is null && entry.Exception is null) return;
        var o = options.CurrentValue;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("level", Level(entry.LogLevel));
            json.WriteString("message", Mask(message ?? ""));
            json.WriteString("category", entry.Category);
            if (entry.EventId.Id != 0) json.WriteNumber("event_id", entry.EventId.Id);
            var activity = Activity.Current;
            if (activity is not null)
            {
                json.WriteString("trace_id", activity.TraceId.ToHexString());
                json.WriteString("span_id", activity.SpanId.ToHexString());
            }
            string? requestId = null, tenantId = null;
            scopeProvider?.ForEachScope((scope, _) =>
            {
                if (scope is RequestLogScope r) { requestId = r.RequestId; tenantId = r.TenantId ?? tenantId; }
            }, (object?)null);
            if (requestId is not null) json.WriteString("request_id", requestId);
            if (tenantId is not null) json.WriteString("tenant_id", tenantId);
            json.WriteString("service", o.Service);
            json.WriteString("release", o.Release);
            if (entry.Exception is { } ex)
            {
                json.WriteString("exception_type", ex.GetType().FullName);
                json.WriteString("exception", Mask(ex.ToString()));
            }
            json.WriteEndObject();
        }
        textWriter.Write(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        textWriter.Write('\n');
    }

    private static string Level(LogLevel level) => level switch
    {
        LogLevel.Trace => "trace",
        LogLevel.Debug => "debug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "error",
        LogLevel.Critical => "fatal",
        _ => "none",
    };
}

/// <summary>The request a log line belongs to; the tenant is filled in once the caller is authenticated.</summary>
public sealed class RequestLogScope(string requestId)
{
    public string RequestId { get; } = requestId;
    public string? TenantId { get; set; }

    public override string ToString() => TenantId is null ? $"request_id:{RequestId}" : $"request_id:{RequestId} tenant_id:{TenantId}";
}
