using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using System.Text.Json.Serialization;

namespace Valet.Server.Mcp;

/// <summary>JSON schemas for the tools, from the records in McpContracts, with the API's own naming and descriptions.</summary>
internal static class McpSchemas
{
    public static JsonElement For(Type type, JsonSerializerOptions options, params string[] required)
    {
        var node = JsonSchemaExporter.GetJsonSchemaAsNode(options, type, new JsonSchemaExporterOptions
        {
            TreatNullObliviousAsNonNullable = true,
            TransformSchemaNode = static (context, schema) =>
            {
                // Any JSON value (a JsonElement) is the schema `true`; MCP clients want an object for every property
                // schema (the TypeScript SDK's tools/list validation refuses `true`), and {} means the same.
                if (schema is JsonValue value && value.GetValueKind() == JsonValueKind.True)
                {
                    schema = new JsonObject();
                }

                // The exporter lists every constructor parameter as required, but a null member is left out of the JSON
                // (WhenWritingNull): a client validating structuredContent (the TypeScript SDK does) would refuse it.
                if (schema is JsonObject { } shape && shape["required"] is JsonArray required && shape["properties"] is JsonObject properties
                    && context.TypeInfo.Options.DefaultIgnoreCondition is JsonIgnoreCondition.WhenWritingNull or JsonIgnoreCondition.WhenWritingDefault)
                {
                    shape["required"] = new JsonArray(required.Select(name => name!.GetValue<string>())
                        .Where(name => !AllowsNull(properties[name]))
                        .Select(name => (JsonNode)JsonValue.Create(name)).ToArray());
                }

                // A map of JSON values among the inputs is call_api's query: its values are scalars, sent as text (McpArguments.Query).
                if (context.TypeInfo.Type == typeof(Dictionary<string, JsonElement>) && schema is JsonObject map)
                {
                    map["additionalProperties"] = new JsonObject { ["type"] = new JsonArray("string", "number", "boolean") };
                }

                var description = context.PropertyInfo?.AttributeProvider?.GetCustomAttributes(typeof(DescriptionAttribute), inherit: false)
                    .OfType<DescriptionAttribute>().FirstOrDefault()?.Description;
                if (description is not null && schema is JsonObject property)
                {
                    property["description"] = description;
                }

                return schema;
            },
        }).AsObject();

        // MCP wants an object at the root (tools/list: inputSchema and outputSchema are "type": "object").
        node["type"] = "object";
        if (required.Length > 0)
        {
            node["required"] = new JsonArray(required.Select(name => (JsonNode)JsonValue.Create(name)).ToArray());
        }

        return JsonSerializer.SerializeToElement(node);
    }

    private static bool AllowsNull(JsonNode? property) => property?["type"] switch
    {
        JsonArray types => types.Any(t => t?.GetValue<string>() == "null"),
        JsonValue type => type.GetValue<string>() == "null",
        _ => false,
    };

    /// <summary>
    /// An output schema for a tool whose result is either <paramref name="success"/> or an auth-recovery envelope
    /// (SPEC §11: the envelope is the structuredContent of an isError result): both validate.
    /// </summary>
    public static JsonElement EitherOr(JsonElement success, JsonElement envelope) =>
        JsonSerializer.SerializeToElement(new JsonObject
        {
            ["type"] = "object",
            ["anyOf"] = new JsonArray(JsonNode.Parse(success.GetRawText()), JsonNode.Parse(envelope.GetRawText())),
        });

}
