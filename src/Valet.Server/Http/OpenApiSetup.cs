using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Valet.Server.Auth;
using Valet.Server.Hosting;
using Valet.Server.Tokens;

namespace Valet.Server.Http;

/// <summary>
/// The served API description (<c>/openapi/v1.json</c>, SPEC §12): security schemes and a requirement per operation, the
/// <c>Problem</c> and <c>AuthRecoveryEnvelope</c> schemas, and the error answers every route shares (401, 403, 429,
/// 400/413/415 for bodies, 503), on top of what each route declares with <see cref="ProblemCodesExtensions.ProducesProblemCodes"/>.
/// Each error response lists its problem <c>code</c>s twice: in its description, and as the <c>enum</c> of <c>code</c> in its
/// schema (one alternative per body shape: the envelope, a problem with extra members, the plain problem).
/// </summary>
internal static class OpenApiSetup
{
    public const string AgentKeyScheme = "agentKey";
    public const string OperatorTokenScheme = "operatorToken";
    public const string SessionScheme = "dashboardSession";
    public const string ProblemSchema = "Problem";
    public const string EnvelopeSchema = "AuthRecoveryEnvelope";

    /// <summary>The envelope codes of SPEC §5: a 409 carrying only these is documented with the envelope schema.</summary>
    public static readonly IReadOnlyList<string> EnvelopeCodes = ["needs_authentication", "reauth_required", "missing_scopes"];

    /// <summary>Tags whose routes an API key calls, whatever their authorization metadata says.</summary>
    private static readonly HashSet<string> AgentTags = new(StringComparer.Ordinal) { "Agent", "Proxy" };

    private static readonly Dictionary<string, string> TagDescriptions = new(StringComparer.Ordinal)
    {
        ["Agent"] = "What an agent calls with its API key: bootstrap and tokens. A person-needed outcome is a 409 `AuthRecoveryEnvelope`.",
        ["Proxy"] = "Calls forwarded to a provider's API with the token injected (agent API key).",
        ["Orgs"] = "Tenants. Operator routes (admin token, service token or a dashboard session of the org).",
        ["Credentials"] = "Bring-your-own OAuth clients of an org. The client secret is write-only.",
        ["API keys"] = "Agent API keys and their permissions. The secret `key` is shown once, on creation.",
        ["Connections"] = "Connected provider accounts of an org: list, import tokens obtained elsewhere, disconnect.",
        ["Flows"] = "Connect flows: start one, read or long-poll its outcome.",
        ["Targets"] = "Targets an API key may be allowed to call through the proxy.",
        ["Audit"] = "The org's audit log, newest first.",
        ["Providers"] = "The provider catalog of this server.",
        ["Dashboard"] = "The dashboard's session (cookie set by `/signin`).",
    };

    public static IServiceCollection AddValetOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            // The envelopes the bootstrap carries (the AuthEnvelope record) and the 409 answers share one schema: the one
            // the document transformer writes, whose code is the enum of SPEC §5.
            options.CreateSchemaReferenceId = type =>
                type.Type == typeof(AuthEnvelope) ? EnvelopeSchema : OpenApiOptions.CreateDefaultSchemaReferenceId(type);
            options.AddSchemaTransformer(TransformSchemaAsync);
            options.AddDocumentTransformer(TransformDocumentAsync);
            options.AddOperationTransformer(TransformOperationAsync);
        });

    /// <summary>
    /// The API writes JSON with <c>WhenWritingNull</c>: a member that is null is left out, not written as null. So a member
    /// whose schema allows null is not required (the generator lists every constructor parameter), unless it is marked
    /// to be written always (<c>[JsonIgnore(Condition = Never)]</c>).
    /// </summary>
    private static Task TransformSchemaAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Required is { Count: > 0 } required && context.JsonTypeInfo.Options.DefaultIgnoreCondition == JsonIgnoreCondition.WhenWritingNull)
        {
            foreach (var property in context.JsonTypeInfo.Properties)
            {
                var nullable = property.IsGetNullable || Nullable.GetUnderlyingType(property.PropertyType) is not null;
                var alwaysWritten = property.AttributeProvider?.GetCustomAttributes(typeof(JsonIgnoreAttribute), inherit: false)
                    .OfType<JsonIgnoreAttribute>().Any(a => a.Condition == JsonIgnoreCondition.Never) == true;
                if (nullable && !alwaysWritten)
                {
                    required.Remove(property.Name);
                }
            }
        }

        // A request body's members are nullable so that one 422 can list every missing field (Validation) rather than the
        // binder failing on the first; [Required] says which ones the handler refuses to do without.
        foreach (var property in context.JsonTypeInfo.Properties)
        {
            if (property.AttributeProvider?.IsDefined(typeof(System.ComponentModel.DataAnnotations.RequiredAttribute), inherit: false) == true)
            {
                (schema.Required ??= new HashSet<string>(StringComparer.Ordinal)).Add(property.Name);
                // Required, so not null either: a client generated from the document must send a value.
                if (schema.Properties?.TryGetValue(property.Name, out var member) == true && member is OpenApiSchema { Type: { } type } concrete)
                {
                    concrete.Type = type & ~JsonSchemaType.Null;
                }
            }
        }

        return Task.CompletedTask;
    }

    private static Task TransformDocumentAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        var version = typeof(OpenApiSetup).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        document.Info = new OpenApiInfo
        {
            Title = "Valet",
            Version = version,
            Description = """
                Valet is an outbound OAuth broker for AI agents: operators connect accounts, agents get tokens (or proxied calls)
                with an API key.

                Every error is `application/problem+json` (RFC 9457, schema `Problem`) with a stable `code`; each response
                lists the codes it can carry. When a person must act, an agent route answers **409 with an auth-recovery
                envelope** (schema `AuthRecoveryEnvelope`, code `needs_authentication`, `reauth_required` or
                `missing_scopes`): show its `connect_url` to a person and wait on its `flow_id`, or — in a headless org —
                run your own OAuth dance with `credential_id` and import the tokens.
                """,
        };

        var publicBase = context.ApplicationServices.GetService<PublicBaseUrl>();
        if (publicBase is not null)
        {
            document.Servers = [new OpenApiServer { Url = publicBase.Value, Description = "This Valet server" }];
        }

        document.AddComponent<IOpenApiSecurityScheme>(AgentKeyScheme, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "vk_…",
            Description = "An agent API key (`vk_…`), created by an operator with `POST /v1/orgs/{org}/keys`.",
        });
        document.AddComponent<IOpenApiSecurityScheme>(OperatorTokenScheme, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "The admin token (`VALET_ADMIN_TOKEN`), or the local service token (the service-token file in the data directory).",
        });
        document.AddComponent<IOpenApiSecurityScheme>(SessionScheme, new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Cookie,
            Name = SessionSetup.CookieName,
            Description = $"The dashboard session cookie set by `POST /signin` (`{SessionSetup.SecureCookieName}` over https).",
        });
        document.AddComponent<IOpenApiSchema>(ProblemSchema, OpenApiComponents.Problem());

        // Replaces the schema generated from the AuthEnvelope record (same id, see CreateSchemaReferenceId), if any.
        document.Components?.Schemas?.Remove(EnvelopeSchema);
        document.AddComponent<IOpenApiSchema>(EnvelopeSchema, OpenApiComponents.Envelope(EnvelopeCodes));

        // ProducesProblem declares ASP.NET Core's ProblemDetails, and a documented body (RequestBodySchemaMetadata) replaces
        // the bound type's schema: components nothing points at any more go. Ours stay (agent routes point at the envelope).
        if (document.Components?.Schemas is { } schemas)
        {
            var used = OpenApiComponents.ReferencedSchemas(document);
            foreach (var unused in schemas.Keys.Where(id => !used.Contains(id) && id is not (ProblemSchema or EnvelopeSchema)).ToList())
            {
                schemas.Remove(unused);
            }
        }

        if (document.Tags is { } tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Name is not null && TagDescriptions.TryGetValue(tag.Name, out var description))
                {
                    tag.Description ??= description;
                }
            }
        }

        return Task.CompletedTask;
    }

    private static async Task TransformOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context,
        CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var document = context.Document!;
        var tags = operation.Tags?.Select(t => t.Name).OfType<string>().ToHashSet(StringComparer.Ordinal) ?? [];
        var anonymous = metadata.OfType<IAllowAnonymous>().Any();
        var policies = metadata.OfType<IAuthorizeData>().Select(a => a.Policy).ToList();
        var agent = tags.Overlaps(AgentTags) || policies.Contains(ValetClaims.AgentPolicy);
        var operatorOnly = !agent && policies.Any(p => p is ValetClaims.OperatorPolicy or ValetClaims.ServicePolicy);

        // One endpoint serving several methods (the proxy routes) has one name: make each method's operationId its own.
        if (operation.OperationId is { Length: > 0 } operationName && context.Description.HttpMethod is { Length: > 0 } method
            && metadata.OfType<Microsoft.AspNetCore.Routing.IHttpMethodMetadata>().FirstOrDefault()?.HttpMethods.Count > 1)
        {
            operation.OperationId = operationName + char.ToUpperInvariant(method[0]) + method[1..].ToLowerInvariant();
        }

        // Security: who may call this operation (alternatives are separate requirement objects).
        operation.Security = [];
        if (anonymous)
        {
            if (tags.Contains("Dashboard"))
            {
                operation.Security.Add(Requirement(SessionScheme, document));
            }
        }
        else if (agent)
        {
            operation.Security.Add(Requirement(AgentKeyScheme, document));
        }
        else if (operatorOnly)
        {
            operation.Security.Add(Requirement(OperatorTokenScheme, document));
        }
        else
        {
            operation.Security.Add(Requirement(OperatorTokenScheme, document));
            operation.Security.Add(Requirement(AgentKeyScheme, document));
        }

        // The errors every route of a kind shares, then what the route declares itself.
        var codes = new SortedDictionary<int, SortedSet<string>>();
        void Add(int status, params string[] values)
        {
            if (!codes.TryGetValue(status, out var set))
            {
                codes[status] = set = new SortedSet<string>(StringComparer.Ordinal);
            }

            set.UnionWith(values);
        }

        if (!anonymous)
        {
            Add(StatusCodes.Status401Unauthorized, "unauthorized");
        }

        // The failed-authentication lockout refuses any request that presents an Authorization header, whatever the route;
        // API keys also have a request rate (RateLimits).
        Add(StatusCodes.Status429TooManyRequests, "rate_limited");

        if (operatorOnly || (agent && !anonymous))
        {
            Add(StatusCodes.Status403Forbidden, "forbidden");
        }

        var hasBody = context.Description.ParameterDescriptions.Any(p => p.Source == BindingSource.Body)
            || metadata.OfType<RequestBodySchemaMetadata>().Any();
        if (hasBody)
        {
            Add(StatusCodes.Status400BadRequest, "invalid_json", "invalid_request");
            Add(StatusCodes.Status413PayloadTooLarge, "payload_too_large");
        }

        // A route that binds a JSON body (or declares one with Accepts) is matched by Content-Type: anything but JSON is a
        // 415 from routing, which the status-code pages turn into this problem.
        if (metadata.OfType<IAcceptsMetadata>().Any(a => a.ContentTypes.Count > 0))
        {
            Add(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type");
        }

        Add(StatusCodes.Status503ServiceUnavailable, "storage_unavailable", "vault_key_unavailable");
        foreach (var declared in metadata.OfType<ProblemCodesMetadata>())
        {
            Add(declared.StatusCode, [.. declared.Codes]);
        }

        var members = metadata.OfType<ProblemMemberMetadata>().ToList();
        operation.Responses ??= [];
        foreach (var (status, set) in codes)
        {
            var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var response = operation.Responses.TryGetValue(key, out var existing) && existing is OpenApiResponse concrete ? concrete : new OpenApiResponse();
            response.Description = $"{Reason(status, set)}. Problem `code`: {string.Join(", ", set.Select(c => $"`{c}`"))}.";
            response.Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal)
            {
                [Problems.ContentType] = new OpenApiMediaType { Schema = await ProblemSchemaForAsync(set, members, context, cancellationToken) },
            };
            if (status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable
                || (status is StatusCodes.Status502BadGateway or StatusCodes.Status504GatewayTimeout && set.Contains("provider_unavailable")))
            {
                response.Headers = new Dictionary<string, IOpenApiHeader>(StringComparer.Ordinal)
                {
                    ["Retry-After"] = new OpenApiHeader
                    {
                        Description = status switch
                        {
                            StatusCodes.Status502BadGateway or StatusCodes.Status504GatewayTimeout => "Seconds to wait before trying again, when the provider said.",
                            StatusCodes.Status503ServiceUnavailable =>
                                "Seconds to wait before trying again: sent with storage_unavailable; not with vault_key_unavailable, which waits for the operator.",
                            _ => "Seconds to wait before trying again.",
                        },
                        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
                    },
                };
            }

            operation.Responses[key] = response;
        }

        // Any other problem answer (ProducesProblem without codes) still points at Problem, not ProblemDetails.
        foreach (var response in operation.Responses.Values.OfType<OpenApiResponse>())
        {
            if (response.Content?.TryGetValue(Problems.ContentType, out var media) == true && media.Schema is OpenApiSchemaReference { Reference.Id: "ProblemDetails" })
            {
                media.Schema = new OpenApiSchemaReference(ProblemSchema, document);
            }
        }

        // A route parameter the handler does not bind (it reads the value from a filter's result or the route values)
        // is still part of the path: every template parameter is declared.
        foreach (var name in RouteParameters(context.Description.RelativePath))
        {
            operation.Parameters ??= [];
            if (!operation.Parameters.Any(p => p.In == ParameterLocation.Path && p.Name == name))
            {
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = name,
                    In = ParameterLocation.Path,
                    Required = true,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
            }
        }

        foreach (var query in metadata.OfType<QueryParameterMetadata>())
        {
            operation.Parameters ??= [];
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = query.Name,
                In = ParameterLocation.Query,
                Description = query.Description,
                Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64" },
            });
        }

        if (metadata.OfType<RequestBodySchemaMetadata>().LastOrDefault() is { } body)
        {
            var schema = await context.GetOrCreateSchemaAsync(body.Type, null, cancellationToken);
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = operation.RequestBody?.Required ?? true,
                Description = operation.RequestBody?.Description,
                Content = new Dictionary<string, OpenApiMediaType>(StringComparer.Ordinal)
                {
                    ["application/json"] = new OpenApiMediaType { Schema = schema },
                },
            };
        }
    }

    private static IEnumerable<string> RouteParameters(string? relativePath) =>
        (relativePath ?? string.Empty).Split('/')
            .Where(segment => segment.StartsWith('{') && segment.EndsWith('}'))
            .Select(segment => segment.Trim('{', '}').TrimStart('*').Split(':', '=', '?')[0]);

    private static OpenApiSecurityRequirement Requirement(string scheme, OpenApiDocument document) =>
        new() { [new OpenApiSecuritySchemeReference(scheme, document)] = [] };

    /// <summary>
    /// The body of an error response carrying <paramref name="codes"/>: the envelope for the codes of SPEC §5, a schema of
    /// its own for a code with extra members (<see cref="ProblemMemberMetadata"/>), the <c>Problem</c> for the rest; each
    /// with <c>code</c> narrowed to its codes, so that the alternatives of a <c>oneOf</c> never overlap.
    /// </summary>
    private static async Task<IOpenApiSchema> ProblemSchemaForAsync(IReadOnlyCollection<string> codes, IReadOnlyList<ProblemMemberMetadata> members,
        OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var document = context.Document!;
        var alternatives = new List<IOpenApiSchema>();
        var envelope = codes.Where(EnvelopeCodes.Contains).ToList();
        if (envelope.Count > 0)
        {
            var reference = new OpenApiSchemaReference(EnvelopeSchema, document);
            alternatives.Add(envelope.Count == EnvelopeCodes.Count ? reference : OpenApiComponents.WithCodes(reference, envelope));
        }

        var plain = new List<string>();
        foreach (var code in codes.Where(c => !EnvelopeCodes.Contains(c)))
        {
            var extra = members.Where(m => m.Code == code).ToList();
            if (extra.Count == 0)
            {
                plain.Add(code);
                continue;
            }

            var id = OpenApiComponents.ProblemSchemaId(code);
            if (document.Components?.Schemas?.ContainsKey(id) != true)
            {
                var properties = new Dictionary<string, IOpenApiSchema>(StringComparer.Ordinal);
                foreach (var member in extra)
                {
                    var schema = await context.GetOrCreateSchemaAsync(member.Type, null, cancellationToken);
                    if (schema is OpenApiSchema concrete)
                    {
                        concrete.Description ??= member.Description;
                    }

                    properties[member.Member] = schema;
                }

                document.AddComponent<IOpenApiSchema>(id, OpenApiComponents.ProblemWithMembers(new OpenApiSchemaReference(ProblemSchema, document), code, properties));
            }

            alternatives.Add(new OpenApiSchemaReference(id, document));
        }

        if (plain.Count > 0)
        {
            alternatives.Add(OpenApiComponents.WithCodes(new OpenApiSchemaReference(ProblemSchema, document), plain));
        }

        return alternatives.Count == 1 ? alternatives[0] : new OpenApiSchema { OneOf = alternatives };
    }

    /// <summary>A 409 that can carry an auth-recovery envelope says so, and what to do with it, before its codes.</summary>
    private static string Reason(int status, IEnumerable<string> codes) =>
        status == StatusCodes.Status409Conflict && codes.Any(EnvelopeCodes.Contains)
            ? "A person must act first (auth-recovery envelope, schema `AuthRecoveryEnvelope`): in an ordinary org show `connect_url` to a " +
              "person of the org and wait on `flow_id` (`GET /v1/flows/{flow_id}/wait`), then call again; in a headless org (`headless`: true) " +
              "run the OAuth dance with `credential_id` and import the tokens" +
              (codes.All(EnvelopeCodes.Contains) ? string.Empty : ". The other codes listed are plain conflicts")
            : Reason(status);

    private static string Reason(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "Bad request",
        StatusCodes.Status401Unauthorized => "Missing or invalid bearer token",
        StatusCodes.Status403Forbidden => "This principal may not do that",
        StatusCodes.Status404NotFound => "Not found",
        StatusCodes.Status405MethodNotAllowed => "Method not allowed",
        StatusCodes.Status409Conflict => "Conflict",
        StatusCodes.Status413PayloadTooLarge => "Request body too large",
        StatusCodes.Status415UnsupportedMediaType => "Unsupported Content-Type (send application/json)",
        StatusCodes.Status422UnprocessableEntity => "Unprocessable input",
        StatusCodes.Status429TooManyRequests => "Rate limited (see Retry-After)",
        StatusCodes.Status502BadGateway => "The provider failed",
        StatusCodes.Status503ServiceUnavailable => "Valet cannot serve this now: its storage is unavailable (see Retry-After), or a stored secret is sealed with a key it was not given",
        StatusCodes.Status504GatewayTimeout => "The provider timed out",
        _ => "Error",
    };
}
