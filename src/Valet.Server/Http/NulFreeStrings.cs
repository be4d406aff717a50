using System.Text.Json;
using System.Text.Json.Serialization;

namespace Valet.Server.Http;

/// <summary>
/// Every string Valet reads from a JSON body or MCP tool arguments: the NUL character (JSON's <c>\u0000</c>) is refused.
/// No name, id, scope or secret has a use for it, PostgreSQL's text type cannot store it (the insert failed with a 500),
/// and SQLite would store a value that C-string tools cut short. Writing is unchanged.
/// </summary>
internal sealed class NulFreeStrings : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var value = reader.GetString();
        return value is not null && value.Contains('\0', StringComparison.Ordinal) ? throw new NulInTextException() : value;
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
}

/// <summary>A JSON string held the NUL character (<see cref="NulFreeStrings"/>).</summary>
internal sealed class NulInTextException() : JsonException("A JSON string contains the NUL character (U+0000).");
