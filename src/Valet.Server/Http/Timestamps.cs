using System.Text.Json.Serialization.Metadata;

namespace Valet.Server.Http;

/// <summary>
/// Every timestamp the API writes has millisecond precision. The stores keep milliseconds on both backends
/// (<c>Db.Truncate</c>), but a value answered straight after it was made carries the clock's full 100 ns ticks: without
/// this, a create's <c>created_at</c> (7 fractional digits) differed from the same row read back (3). Truncated, not
/// rounded, as the stores truncate, so every answer about one row shows the same instant.
/// <para>
/// A contract modifier on the getters rather than a converter: the schemas (OpenAPI, MCP tools) still describe these
/// members as <c>date-time</c> strings, and the wire format is System.Text.Json's own (ISO 8601 with offset).
/// </para>
/// </summary>
internal static class Timestamps
{
    public static DateTimeOffset ToMilliseconds(DateTimeOffset value) =>
        new(value.Ticks - value.Ticks % TimeSpan.TicksPerMillisecond, value.Offset);

    public static void Modify(JsonTypeInfo typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        if (typeInfo.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }

        foreach (var property in typeInfo.Properties)
        {
            if (property.Get is not { } get)
            {
                continue;
            }

            if (property.PropertyType == typeof(DateTimeOffset))
            {
                property.Get = owner => ToMilliseconds((DateTimeOffset)get(owner)!);
            }
            else if (property.PropertyType == typeof(DateTimeOffset?))
            {
                property.Get = owner => get(owner) is DateTimeOffset value ? ToMilliseconds(value) : null;
            }
        }
    }
}
