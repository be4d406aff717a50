using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;

namespace Valet.Server.Http;

/// <summary>
/// The NUL character (JSON's <c>\u0000</c>) is refused in every text value Valet reads: no name, id, scope or secret has a
/// use for it, PostgreSQL's text type cannot store it (the insert failed with a 500), and SQLite would store a value that
/// C-string tools cut short. JSON bodies are checked before binding (<see cref="HasNulAsync"/>); MCP tool arguments are
/// read with this converter (<see cref="ReadingOptions"/>). Not a converter in the shared options: schema generation
/// (OpenAPI, MCP tool schemas) describes a custom-converted string as any value.
/// </summary>
internal sealed class NulFreeStrings : JsonConverter<string>
{
    private static readonly ConditionalWeakTableCache Cache = new();

    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var value = reader.GetString();
        return value is not null && value.Contains('\0', StringComparison.Ordinal) ? throw new NulInTextException() : value;
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    /// <summary><paramref name="options"/> plus this converter, for reading only (one copy per options instance).</summary>
    public static JsonSerializerOptions ReadingOptions(JsonSerializerOptions options) => Cache.For(options);

    /// <summary>
    /// True when the request's JSON body holds a string with the NUL character. The body is buffered (the routes' 64 KB
    /// limit still applies while reading) and rewound for the binder. A body that is not valid JSON is left to the binder.
    /// </summary>
    public static async Task<bool> HasNulAsync(HttpRequest request)
    {
        request.EnableBuffering(bufferThreshold: (int)ErrorHandling.JsonBodyLimit, bufferLimit: ErrorHandling.JsonBodyLimit);
        using var copy = new MemoryStream();
        await request.Body.CopyToAsync(copy, request.HttpContext.RequestAborted);
        request.Body.Position = 0;
        return HasNul(copy.GetBuffer().AsSpan(0, (int)copy.Length));
    }

    internal static bool HasNul(ReadOnlySpan<byte> json)
    {
        // The binder skips a UTF-8 byte order mark; the reader refuses one, which would end the scan before it began.
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 256 });
        try
        {
            while (reader.Read())
            {
                // An unescaped NUL is not JSON at all (the reader refuses it); only an escape can carry one.
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped && HasNul(ref reader))
                {
                    return true;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: the binder answers that, with its own problem.
        }

        return false;
    }

    /// <summary>
    /// The current string's NUL, if any. A string that is not text (a lone surrogate escape) cannot be decoded: it is
    /// skipped and the scan goes on, since the binder may ignore that property and bind the next one.
    /// </summary>
    private static bool HasNul(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString()!.Contains('\0', StringComparison.Ordinal);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private sealed class ConditionalWeakTableCache
    {
        private readonly System.Runtime.CompilerServices.ConditionalWeakTable<JsonSerializerOptions, JsonSerializerOptions> _copies = new();

        public JsonSerializerOptions For(JsonSerializerOptions options) => _copies.GetValue(options, static original =>
        {
            var copy = new JsonSerializerOptions(original);
            copy.Converters.Add(new NulFreeStrings());
            return copy;
        });
    }
}

/// <summary>A JSON string held the NUL character (<see cref="NulFreeStrings"/>).</summary>
internal sealed class NulInTextException() : JsonException("A JSON string contains the NUL character (U+0000).");
