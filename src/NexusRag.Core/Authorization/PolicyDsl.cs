using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NexusRag.Core.Authorization;

/// <summary>
/// The seed's ABAC condition language over JSON: <c>eq</c>, <c>neq</c>, <c>in</c>, <c>all</c>, <c>any</c>, <c>not</c>,
/// <c>exists</c>, <c>time_between</c>, with <c>{"var": "principal.role"}</c> paths into <c>principal</c>,
/// <c>resource</c> and <c>request</c>. <see cref="Validate"/> names the first bad node by its JSON path; evaluation never
/// throws (a missing variable is null) and records each decisive step in the trace.
/// </summary>
public static class PolicyDsl
{
    public static readonly string[] Operators = ["eq", "neq", "in", "all", "any", "not", "exists", "time_between"];
    public static readonly string[] Roots = ["principal", "resource", "request"];
    public const int MaxDepth = 16;
    public const int MaxNodes = 200;

    /// <summary>Null when the condition is well formed; otherwise the JSON path of the bad node and what is wrong there.</summary>
    public static string? Validate(JsonNode? condition)
    {
        var nodes = 0;
        return Check(condition, "$", 0, ref nodes);
    }

    private static string? Check(JsonNode? node, string path, int depth, ref int nodes)
    {
        if (++nodes > MaxNodes) return $"{path}: a condition may have at most {MaxNodes} nodes";
        if (depth > MaxDepth) return $"{path}: nested deeper than {MaxDepth}";
        if (node is not JsonObject obj || obj.Count != 1) return $"{path}: expected an object with exactly one operator ({string.Join(", ", Operators)})";
        var (op, arg) = obj.First();
        var at = $"{path}.{op}";
        switch (op)
        {
            case "eq" or "neq":
                if (arg is not JsonArray { Count: 2 } pair) return $"{at}: expects [left, right]";
                return Operand(pair[0], $"{at}[0]") ?? Operand(pair[1], $"{at}[1]");
            case "in":
                if (arg is not JsonArray { Count: 2 } inArgs) return $"{at}: expects [value, [candidates]]";
                if (Operand(inArgs[0], $"{at}[0]") is { } e) return e;
                if (inArgs[1] is JsonArray list) return list.Select((x, i) => Literal(x, $"{at}[1][{i}]")).FirstOrDefault(x => x is not null);
                return IsVar(inArgs[1], out var varError, $"{at}[1]") ? varError : $"{at}[1]: expects an array of candidates or a var";
            case "all" or "any":
                if (arg is not JsonArray { Count: > 0 } items) return $"{at}: expects a non-empty array of conditions";
                for (var i = 0; i < items.Count; i++)
                    if (Check(items[i], $"{at}[{i}]", depth + 1, ref nodes) is { } bad) return bad;
                return null;
            case "not":
                var inner = arg is JsonArray { Count: 1 } one ? one[0] : arg;
                return Check(inner, arg is JsonArray ? $"{at}[0]" : at, depth + 1, ref nodes);
            case "exists":
                var target = arg is JsonArray { Count: 1 } single ? single[0] : arg;
                return IsVar(target, out var existsError, at) ? existsError : $"{at}: expects a var";
            case "time_between":
                if (arg is not JsonArray { Count: 2 } tb) return $"{at}: expects [time, {{\"start\": \"HH:mm\", \"end\": \"HH:mm\"}}]";
                if (Operand(tb[0], $"{at}[0]") is { } te) return te;
                if (tb[1] is not JsonObject window || !TryTime(window["start"], out _) || !TryTime(window["end"], out _))
                    return $"{at}[1]: expects {{\"start\": \"HH:mm\", \"end\": \"HH:mm\"}}";
                return null;
            default:
                return $"{at}: unknown operator '{op}' (one of {string.Join(", ", Operators)})";
        }
    }

    private static string? Operand(JsonNode? node, string path) =>
        node is JsonObject o && o.ContainsKey("var") ? (IsVar(node, out var e, path) ? e : null) : Literal(node, path);

    private static string? Literal(JsonNode? node, string path) => node switch
    {
        null or JsonValue => null,
        JsonArray a => a.Select((x, i) => Literal(x, $"{path}[{i}]")).FirstOrDefault(x => x is not null),
        _ => $"{path}: expected a value or {{\"var\": \"principal|resource|request.…\"}}",
    };

    /// <summary>True when the node is a var object; <paramref name="error"/> then says whether its path is usable.</summary>
    private static bool IsVar(JsonNode? node, out string? error, string path)
    {
        error = null;
        if (node is not JsonObject o || !o.ContainsKey("var")) return false;
        if (o.Count != 1 || o["var"] is not JsonValue v || !v.TryGetValue<string>(out var name) || string.IsNullOrWhiteSpace(name))
            error = $"{path}.var: expects a dotted path string";
        else if (!Roots.Contains(name.Split('.')[0]))
            error = $"{path}.var: '{name}' must start with principal., resource. or request.";
        return true;
    }

    private static bool TryTime(JsonNode? node, out TimeOnly time)
    {
        time = default;
        return node is JsonValue v && v.TryGetValue<string>(out var s) && TimeOnly.TryParseExact(s, ["HH:mm", "HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out time);
    }

    /// <summary>Evaluates a validated condition against <paramref name="context"/> (<c>{principal, resource, request}</c>).</summary>
    public static bool Evaluate(JsonNode? condition, JsonObject context, List<string>? trace = null)
    {
        if (condition is not JsonObject { Count: 1 } obj) return false;
        var (op, arg) = obj.First();
        var result = op switch
        {
            "eq" => arg is JsonArray { Count: 2 } p && Same(Resolve(p[0], context), Resolve(p[1], context)),
            "neq" => arg is JsonArray { Count: 2 } q && !Same(Resolve(q[0], context), Resolve(q[1], context)),
            "in" => arg is JsonArray { Count: 2 } i && In(Resolve(i[0], context), Resolve(i[1], context)),
            "all" => arg is JsonArray all && all.All(c => Evaluate(c, context, trace)),
            "any" => arg is JsonArray any && any.Any(c => Evaluate(c, context, trace)),
            "not" => !Evaluate(arg is JsonArray { Count: 1 } one ? one[0] : arg, context, trace),
            "exists" => Resolve(arg is JsonArray { Count: 1 } single ? single[0] : arg, context) is not null,
            "time_between" => arg is JsonArray { Count: 2 } tb && Between(Resolve(tb[0], context), tb[1]),
            _ => false,
        };
        trace?.Add($"{op} → {(result ? "true" : "false")}");
        return result;
    }

    private static JsonNode? Resolve(JsonNode? node, JsonObject context)
    {
        if (node is not JsonObject o || !o.ContainsKey("var") || o["var"] is not JsonValue v || !v.TryGetValue<string>(out var path)) return node;
        JsonNode? current = context;
        foreach (var part in path.Split('.'))
        {
            if (current is not JsonObject co || !co.TryGetPropertyValue(part, out current)) return null;
        }
        return current;
    }

    private static bool Same(JsonNode? a, JsonNode? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a is JsonArray aa) return b is JsonArray ba && aa.Count == ba.Count && aa.Zip(ba).All(x => Same(x.First, x.Second));
        if (a is JsonValue av && b is JsonValue bv)
        {
            if (Number(av) is { } x && Number(bv) is { } y) return x == y;
            return av.ToJsonString() == bv.ToJsonString();
        }
        return JsonNode.DeepEquals(a, b);
    }

    private static decimal? Number(JsonValue v) =>
        v.GetValueKind() == JsonValueKind.Number && decimal.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;

    /// <summary>A value is in a list when it equals a member; a list value (labels: ["a","b"]) when any of its members is.</summary>
    private static bool In(JsonNode? value, JsonNode? candidates)
    {
        if (candidates is not JsonArray list) return false;
        if (value is JsonArray many) return many.Any(m => list.Any(c => Same(m, c)));
        return list.Any(c => Same(value, c));
    }

    /// <summary>Time of day (UTC) inside [start, end); a window that wraps midnight (22:00–06:00) works too.</summary>
    private static bool Between(JsonNode? time, JsonNode? window)
    {
        if (time is not JsonValue tv || !tv.TryGetValue<string>(out var s)
            || !DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)) return false;
        if (window is not JsonObject w || !TryTime(w["start"], out var start) || !TryTime(w["end"], out var end)) return false;
        var t = TimeOnly.FromTimeSpan(at.UtcDateTime.TimeOfDay);
        return start <= end ? t >= start && t < end : t >= start || t < end;
    }
}
