using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Valet.Server.Http;

namespace Valet.Server.Mcp;

/// <summary>
/// Tool arguments as the records of McpContracts, and the checks the records cannot say. Every failure is one sentence
/// naming the argument and the JSON type it must have, returned as a tool execution error (isError), never a JSON-RPC
/// error: the model reads it and corrects its call. MCP 2025-11-25, SEP-1303 "Input Validation Errors as Tool Execution
/// Errors" (https://modelcontextprotocol.io/community/seps/1303-input-validation-errors-as-tool-execution-errors), and
/// https://modelcontextprotocol.io/specification/2025-11-25/server/tools#error-handling: -32602 is left for an unknown
/// tool or a malformed request.
/// </summary>
internal static class McpArguments
{
    /// <summary>RFC 9110 §5.6.2 tchar: a field name is one or more of these.</summary>
    private static readonly SearchValues<char> TokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    public static bool TryRead<T>(IDictionary<string, JsonElement>? arguments, JsonSerializerOptions json, [NotNullWhen(true)] out T? value,
        [NotNullWhen(false)] out string? refusal)
        where T : class
    {
        arguments ??= new Dictionary<string, JsonElement>();
        try
        {
            value = JsonSerializer.SerializeToElement(arguments).Deserialize<T>(NulFreeStrings.ReadingOptions(json));
        }
        catch (NulInTextException)
        {
            value = null;
            refusal = "An argument contains the NUL character (\\u0000), which no value may contain.";
            return false;
        }
        catch (JsonException e)
        {
            // The serializer's message names .NET types; the model needs the argument and the JSON type instead.
            value = null;
            refusal = WrongType(Argument(e.Path), typeof(T), arguments, json);
            return false;
        }

        refusal = value is null ? "The arguments must be a JSON object." : null;
        return value is not null;
    }

    /// <summary>
    /// The query string for <c>call_api</c>'s <c>query</c>: a string value as it is, a number or boolean as its JSON text
    /// (<c>10</c>, <c>1.5</c>, <c>true</c>), each escaped; null, an object or an array is refused.
    /// </summary>
    public static string? Query(IReadOnlyDictionary<string, JsonElement> query, out string? refusal)
    {
        var text = new StringBuilder();
        foreach (var (name, value) in query)
        {
            if (name.Length == 0)
            {
                refusal = "query has a parameter with an empty name; every query parameter needs a name.";
                return null;
            }

            var written = value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                _ => null,
            };
            if (written is null)
            {
                refusal = $"query parameter '{Printable(name)}' must be a string, number or boolean, not {Kind(value)}.";
                return null;
            }

            text.Append(text.Length == 0 ? "" : "&").Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(written));
        }

        refusal = null;
        return text.ToString();
    }

    /// <summary>Null when the header can be sent as given; else why not (its name is no RFC 9110 token, or it has no value).</summary>
    public static string? RefuseHeader(string name, string? value)
    {
        if (name.Length == 0 || name.AsSpan().ContainsAnyExcept(TokenChars))
        {
            return $"The header name '{Printable(name)}' is not a valid HTTP field name: use letters, digits and !#$%&'*+-.^_`|~ only (RFC 9110 token).";
        }

        return value is null ? $"The value of header '{name}' must be a string, not null." : null;
    }

    /// <summary>The top-level argument a serializer path points into (<c>$.query.a</c> → <c>query</c>).</summary>
    private static string? Argument(string? path)
    {
        if (path is null || !path.StartsWith("$.", StringComparison.Ordinal))
        {
            return null;
        }

        var name = path[2..];
        var end = name.AsSpan().IndexOfAny('.', '[');
        return end < 0 ? name : name[..end];
    }

    private static string WrongType(string? argument, Type input, IDictionary<string, JsonElement> arguments, JsonSerializerOptions json)
    {
        var property = argument is null ? null
            : json.GetTypeInfo(input).Properties.FirstOrDefault(p => string.Equals(p.Name, argument, StringComparison.Ordinal));
        if (property is null)
        {
            return "The arguments do not match the tool's input schema (tools/list).";
        }

        if (Expected(property) is not { } expected)
        {
            return $"{argument} has the wrong JSON type (see the tool's input schema in tools/list).";
        }

        // "not an object" only when it is not one; an object with a wrong value inside is described by the expectation.
        var given = arguments.TryGetValue(argument!, out var value) ? value : default;
        var inside = (given.ValueKind == JsonValueKind.Object && expected.StartsWith("an object", StringComparison.Ordinal))
            || (given.ValueKind == JsonValueKind.Array && expected.StartsWith("an array", StringComparison.Ordinal));
        return given.ValueKind == JsonValueKind.Undefined || inside ? $"{argument} must be {expected}." : $"{argument} must be {expected}, not {Kind(given)}.";
    }

    /// <summary>The JSON type a property of the McpContracts records takes, in words.</summary>
    private static string? Expected(JsonPropertyInfo property)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        if (type == typeof(string))
        {
            return "a string";
        }

        if (type == typeof(int) || type == typeof(long))
        {
            return "a whole number";
        }

        if (type == typeof(bool))
        {
            return "true or false";
        }

        if (type.IsAssignableTo(typeof(IEnumerable<KeyValuePair<string, string>>)))
        {
            return "an object whose values are strings";
        }

        if (type.IsAssignableTo(typeof(IEnumerable<KeyValuePair<string, JsonElement>>)))
        {
            return "an object";
        }

        return type.IsAssignableTo(typeof(IEnumerable<string>)) ? "an array of strings" : null;
    }

    /// <summary>A given value's JSON type in words; a number as itself (<c>1e10</c> is a number, but no whole one of 32 bits).</summary>
    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "a string",
        JsonValueKind.Number => value.GetRawText() is { Length: <= 24 } raw ? "the number " + raw : "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => "null",
    };

    /// <summary>A name as it can be shown in one line of text: control characters as \uXXXX, at most 64 characters.</summary>
    private static string Printable(string name)
    {
        var text = new StringBuilder();
        foreach (var c in name.Length <= 64 ? name : name[..64])
        {
            _ = char.IsControl(c) ? text.Append($"\\u{(int)c:X4}") : text.Append(c);
        }

        return name.Length <= 64 ? text.ToString() : text + "…";
    }
}
