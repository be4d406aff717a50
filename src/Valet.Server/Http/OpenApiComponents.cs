using System.Text.Json.Nodes;
using Microsoft.OpenApi;

namespace Valet.Server.Http;

/// <summary>
/// The named schemas <see cref="OpenApiSetup"/> adds (Problem, AuthRecoveryEnvelope, a problem with extra members), the
/// narrowing of a problem's <c>code</c> to one response's codes, and which components are in use.
/// </summary>
internal static class OpenApiComponents
{
    /// <summary>Every component schema reachable from an operation (parameters, bodies, responses), following references.</summary>
    public static HashSet<string> ReferencedSchemas(OpenApiDocument document)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<IOpenApiSchema>();
        foreach (var operation in document.Paths?.Values.SelectMany(p => p.Operations?.Values.AsEnumerable() ?? []) ?? [])
        {
            foreach (var media in (operation.RequestBody?.Content?.Values ?? []).Concat(
                         operation.Responses?.Values.SelectMany(r => r.Content?.Values ?? []) ?? []))
            {
                Push(media.Schema);
            }

            foreach (var parameter in operation.Parameters ?? [])
            {
                Push(parameter.Schema);
            }
        }

        while (pending.TryPop(out var schema))
        {
            if (schema is OpenApiSchemaReference { Reference.Id: { } id })
            {
                if (used.Add(id) && document.Components?.Schemas?.TryGetValue(id, out var target) == true)
                {
                    Push(target);
                }

                continue;
            }

            foreach (var child in (schema.Properties?.Values ?? []).Concat(schema.AllOf ?? []).Concat(schema.OneOf ?? []).Concat(schema.AnyOf ?? []))
            {
                Push(child);
            }

            Push(schema.Items);
            Push(schema.AdditionalProperties);
        }

        return used;

        void Push(IOpenApiSchema? schema)
        {
            if (schema is not null)
            {
                pending.Push(schema);
            }
        }
    }

    private static OpenApiSchema String(string description, JsonSchemaType extra = 0) =>
        new() { Type = JsonSchemaType.String | extra, Description = description };

    private static OpenApiSchema Strings(string description) =>
        new() { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String }, Description = description };

    /// <summary>RFC 9457 problem details with Valet's stable <c>code</c>.</summary>
    public static OpenApiSchema Problem() => new()
    {
        Type = JsonSchemaType.Object,
        Description = "RFC 9457 problem details. `type` is `urn:valet:problem:{code}`; `code` is stable and what a client should branch on.",
        Required = new HashSet<string>(StringComparer.Ordinal) { "type", "title", "status", "code" },
        Properties = new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal)
        {
            ["type"] = String("A URN, `urn:valet:problem:{code}` (never a link)."),
            ["title"] = String("A short summary of the kind of problem."),
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Description = "The HTTP status code." },
            ["detail"] = String("What went wrong this time, for a person."),
            ["code"] = String("The stable error code, e.g. `org_not_found`, `validation_failed`, `forbidden`."),
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "With `validation_failed`: every field problem at once, field name → messages.",
                AdditionalProperties = Strings("Messages for this field."),
            },
        },
    };

    /// <summary>The auth-recovery envelope of SPEC §5: a 409 problem telling the caller what a person must do.</summary>
    public static OpenApiSchema Envelope(IReadOnlyList<string> codes) => new()
    {
        Type = JsonSchemaType.Object,
        Description = """
            HTTP 409: a person must act before this call can succeed. In an ordinary org the envelope carries `connect_url`
            (works only for a signed-in operator of the org) and `flow_id` to wait on (`GET /v1/flows/{flow_id}/wait`). In a
            headless org it carries no URL at all: `credential_id`, `provider` and `required_scopes` let the integrator run
            its own OAuth dance and import the tokens.
            """,
        Required = new HashSet<string>(StringComparer.Ordinal)
            { "type", "title", "status", "detail", "code", "provider", "connection_id", "required_scopes", "missing_scopes", "headless" },
        Properties = new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal)
        {
            ["type"] = String("`urn:valet:problem:{code}`."),
            ["title"] = String("A short summary."),
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Enum = [JsonValue.Create(409)], Description = "Always 409." },
            ["detail"] = String("What a person must do, for a person."),
            ["code"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Enum = [.. codes.Select(c => (JsonNode)JsonValue.Create(c))],
                Description = "`needs_authentication`: no usable connection yet; `reauth_required`: the grant is dead; `missing_scopes`: connected, but scopes are missing.",
            },
            ["provider"] = String("The provider id, e.g. `github`."),
            ["connection_id"] = String("The connection concerned, if there is one.", JsonSchemaType.Null),
            ["required_scopes"] = Strings("The scopes the call needs."),
            ["missing_scopes"] = Strings("Required scopes the connection does not have."),
            ["headless"] = new OpenApiSchema { Type = JsonSchemaType.Boolean, Description = "The org runs its own OAuth dances: no URL in the envelope." },
            ["reason"] = String("`reauth_required` only: why the grant needs a person (`invalid_grant`, `mfa_required`, `consent_required`, …)."),
            ["connect_url"] = String("Non-headless orgs: a Valet link (`/connect-authorize?flow=…`) for a signed-in operator of the org."),
            ["flow_id"] = String("Non-headless orgs: the flow to wait on."),
            ["credential_id"] = String("Headless orgs: the org's OAuth client (BYOC credential) to run the dance with and import against.", JsonSchemaType.Null),
        },
    };

    /// <summary>The component id of the problem with <paramref name="code"/> when it has members of its own: <c>ambiguous_connection</c> → <c>AmbiguousConnectionProblem</c>.</summary>
    public static string ProblemSchemaId(string code) =>
        string.Concat(code.Split('_', StringSplitOptions.RemoveEmptyEntries).Select(w => char.ToUpperInvariant(w[0]) + w[1..])) + "Problem";

    /// <summary><paramref name="schema"/> (the envelope or the problem) with <c>code</c> narrowed to <paramref name="codes"/>.</summary>
    public static OpenApiSchema WithCodes(IOpenApiSchema schema, IEnumerable<string> codes) => new()
    {
        AllOf = [schema, new OpenApiSchema { Type = JsonSchemaType.Object, Properties = new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal) { ["code"] = Codes(codes) } }],
    };

    /// <summary>The problem with <paramref name="code"/>, which also carries <paramref name="members"/> (all present).</summary>
    public static OpenApiSchema ProblemWithMembers(IOpenApiSchema problem, string code, IReadOnlyDictionary<string, IOpenApiSchema> members)
    {
        var properties = new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal) { ["code"] = Codes([code]) };
        foreach (var (name, schema) in members)
        {
            properties[name] = schema;
        }

        return new OpenApiSchema
        {
            Description = $"The `{code}` problem and what it carries besides the members of `Problem`.",
            AllOf =
            [
                problem,
                new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    Required = new HashSet<string>(members.Keys, StringComparer.Ordinal),
                    Properties = properties,
                },
            ],
        };
    }

    private static OpenApiSchema Codes(IEnumerable<string> codes) => new()
    {
        Type = JsonSchemaType.String,
        Enum = [.. codes.Order(StringComparer.Ordinal).Select(c => (JsonNode)JsonValue.Create(c))],
    };
}
