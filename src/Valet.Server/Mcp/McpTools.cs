using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Valet.Core.Access;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Flows;
using Valet.Server.Tokens;

namespace Valet.Server.Mcp;

/// <summary>
/// The four tools of SPEC §11. Every answer comes from the same Core service as the HTTP routes (<see cref="AgentAccess"/>)
/// and, for <c>call_api</c>, the proxy itself; when a person must act, <see cref="McpRecovery"/> decides how the client hears it.
/// </summary>
internal sealed class McpTools(
    AgentAccess access,
    Envelopes envelopes,
    IProviderCatalog catalog,
    IFlowStore flows,
    McpProxyCall proxy,
    IOptions<JsonOptions> json,
    TimeProvider time)
{
    public const int MaxWaitSeconds = 60;

    /// <summary>
    /// The API's JSON options, but numbers strict: a tool argument typed as a number must be a JSON number (the HTTP API's
    /// web defaults also read <c>"30"</c> as 30), and the tool schemas then say <c>integer</c>, not "a string or an
    /// integer" with a pattern, which a model would read as an invitation to send strings. One copy, so the NUL-refusing
    /// reading options derived from it are built once.
    /// </summary>
    private JsonSerializerOptions Json { get; } = new(json.Value.SerializerOptions) { NumberHandling = JsonNumberHandling.Strict };

    public IList<Tool> Describe()
    {
        var envelope = McpSchemas.For(typeof(AuthEnvelope), Json);
        return
        [
            new Tool
            {
                Name = "list_connections",
                Title = "List connected accounts",
                Description = "What this agent may use: its connections (id, provider, account, status, scopes), its managed targets, and for " +
                    "each provider it may use but has no account of yet, what a person must do. Call this first; use a connection's id as " +
                    "connection_id in call_api.",
                InputSchema = McpSchemas.For(typeof(ListConnectionsInput), Json),
                OutputSchema = McpSchemas.For(typeof(BootstrapResponse), Json),
                Annotations = new ToolAnnotations { ReadOnlyHint = true, OpenWorldHint = false },
            },
            new Tool
            {
                Name = "call_api",
                Title = "Call a connected account's API",
                Description = "Calls the provider's HTTP API as the connected account (Valet adds the credential; you never see a token). " +
                    "Give one of connection_id, provider or target, and a path under the provider's API base. Returns the upstream status, " +
                    "a few safe headers and the body (JSON as JSON, text as text, cut at 100 KB with truncated: true; binary bodies are refused). " +
                    "If a person must connect or reconnect the account first, the call fails with what they must do.",
                InputSchema = McpSchemas.For(typeof(CallApiInput), Json, "path"),
                OutputSchema = McpSchemas.EitherOr(McpSchemas.For(typeof(CallApiOutput), Json, "status", "headers", "body", "truncated"), envelope),
                Annotations = new ToolAnnotations { ReadOnlyHint = false, DestructiveHint = true, OpenWorldHint = true },
            },
            new Tool
            {
                Name = "connect_account",
                Title = "Ask a person to connect an account",
                Description = "Starts connecting an account of a provider this agent may use: a person must sign in at the provider and consent. " +
                    "Returns what they must do (a link for a person of the organization, and a flow_id to pass to wait_for_connection). " +
                    "Organizations that connect accounts through their own application get no link: tell the user to connect it there.",
                InputSchema = McpSchemas.For(typeof(ConnectAccountInput), Json, "provider"),
                OutputSchema = envelope,
                Annotations = new ToolAnnotations { ReadOnlyHint = false, DestructiveHint = false, OpenWorldHint = false },
            },
            new Tool
            {
                Name = "wait_for_connection",
                Title = "Wait for a person to connect",
                Description = "Waits (up to timeout_seconds, at most 60) for the person to finish the flow a connect link started. " +
                    "status pending: not yet, call again; complete: connection_id is ready for call_api; error or expired: start again.",
                InputSchema = McpSchemas.For(typeof(WaitForConnectionInput), Json, "flow_id"),
                OutputSchema = McpSchemas.For(typeof(WaitForConnectionOutput), Json, "status", "provider"),
                Annotations = new ToolAnnotations { ReadOnlyHint = true, OpenWorldHint = false },
            },
        ];
    }

    /// <summary>Tools that never talk to the client mid-call, so <see cref="McpDirectCalls"/> may answer them without a server object.</summary>
    public static bool AnswersWithoutServer(string? name) => name is "call_api" or "list_connections" or "connect_account";

    public ValueTask<CallToolResult> CallAsync(RequestContext<CallToolRequestParams> request, HttpContext? context, CancellationToken cancellationToken)
    {
        if (context is null)
        {
            throw new InvalidOperationException("MCP tool called outside an HTTP request.");
        }

        // URL elicitation as declared on this request (2026-07-28 and later: _meta of every request), else at initialize
        // (earlier revisions; the stateless server reads it back from the session id, McpSessionIds).
        var urlElicitation = request.Server.ClientCapabilities?.Elicitation?.Url is not null
            || context.Features.Get<McpClientDeclaration>() is { UrlElicitation: true };
        return CallAsync(context, request.Params?.Name, request.Params?.Arguments, urlElicitation, request.Server, cancellationToken);
    }

    /// <summary>
    /// One tool call. <paramref name="server"/> is the SDK's per-request server, for <c>wait_for_connection</c>'s completion
    /// notification; null when <see cref="McpDirectCalls"/> answers (only tools of <see cref="AnswersWithoutServer"/>).
    /// </summary>
    public async ValueTask<CallToolResult> CallAsync(HttpContext context, string? name, IDictionary<string, JsonElement>? arguments,
        bool urlElicitation, McpServer? server, CancellationToken cancellationToken)
    {
        if (context.User is not ApiKeyPrincipal agent)
        {
            return McpRecovery.Failure("The MCP endpoint is for agent API keys.");
        }

        var recovery = new McpRecovery(urlElicitation, Json);
        return name switch
        {
            "list_connections" => recovery.Success(await BootstrapEndpoints.BuildAsync(agent.Key, access, envelopes, cancellationToken)),
            "call_api" => McpArguments.TryRead<CallApiInput>(arguments, Json, out var call, out var refusal)
                ? await CallApiAsync(context, agent.Key, call, recovery, cancellationToken)
                : McpRecovery.Failure(refusal),
            "connect_account" => McpArguments.TryRead<ConnectAccountInput>(arguments, Json, out var connect, out var refusal)
                ? await ConnectAsync(agent.Key, connect, recovery, cancellationToken)
                : McpRecovery.Failure(refusal),
            "wait_for_connection" when server is not null => McpArguments.TryRead<WaitForConnectionInput>(arguments, Json, out var wait, out var refusal)
                ? await WaitAsync(server, agent.Key, wait, recovery, cancellationToken)
                : McpRecovery.Failure(refusal),

            // A protocol error only for what is not a tool call at all; bad arguments are tool execution errors (McpArguments).
            _ => throw new McpProtocolException($"Unknown tool '{name}'.", McpErrorCode.InvalidParams),
        };
    }

    private async Task<CallToolResult> CallApiAsync(HttpContext context, ApiKey key, CallApiInput input, McpRecovery recovery,
        CancellationToken cancellationToken)
    {
        var named = (input.ConnectionId is null ? 0 : 1) + (input.Provider is null ? 0 : 1) + (input.Target is null ? 0 : 1);
        if (named != 1)
        {
            return McpRecovery.Failure("Give exactly one of connection_id, provider or target (list_connections shows them).");
        }

        var method = string.IsNullOrEmpty(input.Method) ? HttpMethods.Get : input.Method.ToUpperInvariant();
        if (method.Any(c => c is < 'A' or > 'Z'))
        {
            return McpRecovery.Failure($"'{input.Method}' is not an HTTP method.");
        }

        if (string.IsNullOrEmpty(input.Path))
        {
            return McpRecovery.Failure("path is required: the part after the provider's API base (e.g. user/repos).");
        }

        if (input.Path.Contains("://", StringComparison.Ordinal))
        {
            return McpRecovery.Failure("path is the part after the provider's API base (e.g. user/repos), never a full URL.");
        }

        // The path becomes the request target as it is (the proxy checks it the same way, ProxyPath): visible ASCII only.
        if (input.Path.AsSpan().ContainsAnyExceptInRange('!', '~') || input.Path.Contains("%00", StringComparison.Ordinal))
        {
            return McpRecovery.Failure("path must be visible ASCII without control characters: percent-encode spaces and other characters (e.g. %20, %C3%A9).");
        }

        foreach (var (name, value) in input.Headers ?? [])
        {
            if ((McpArguments.RefuseHeader(name, value) ?? McpProxyCall.RefuseHeader(name)) is { } refusal)
            {
                return McpRecovery.Failure(refusal);
            }
        }

        var path = input.Path.TrimStart('/');
        if (input.Query is { Count: > 0 } query)
        {
            if (McpArguments.Query(query, out var refusal) is not { } added)
            {
                return McpRecovery.Failure(refusal!);
            }

            path += (path.Contains('?', StringComparison.Ordinal) ? "&" : "?") + added;
        }

        var connectionId = input.ConnectionId;
        if (input.Provider is { } provider)
        {
            // By provider: Core picks the connection (or says a person must connect one); the call then goes through it.
            var started = time.GetTimestamp();
            var chosen = await access.TokenForProviderAsync(AgentCaller.For(key), provider, [], cancellationToken);
            if (chosen is not (AccessOutcome.Token or AccessOutcome.ProxyOnly))
            {
                // Refused before the proxy ran: audited as the proxy audits the same refusal by connection_id.
                await proxy.AuditRefusalAsync(key, method, path, chosen, time.GetElapsedTime(started));
            }

            switch (chosen)
            {
                case AccessOutcome.Token token:
                    connectionId = token.Connection.Id;
                    break;
                case AccessOutcome.ProxyOnly proxyOnly:
                    // An api_key/basic connection: its secret is not revealed to this key, but the proxy may inject it.
                    connectionId = proxyOnly.Connection.Id;
                    break;
                case AccessOutcome.Envelope envelope:
                    return recovery.PersonMustAct(await envelopes.BuildAsync(envelope, cancellationToken));
                case AccessOutcome.Ambiguous ambiguous:
                    return McpRecovery.Failure($"This agent may use several {ambiguous.Provider} connections (" +
                        string.Join(", ", ambiguous.Connections.Select(c => c.Id)) + "); give connection_id.");
                default:
                    return McpRecovery.Failure(Describe(chosen));
            }
        }

        var viaTarget = input.Target is not null;
        var answer = await proxy.SendAsync(context, viaTarget, viaTarget ? input.Target! : connectionId!, method, path, input.Headers, input.Body,
            cancellationToken);
        return answer switch
        {
            ProxyAnswer.Envelope envelope => recovery.PersonMustAct(envelope.Value),
            ProxyAnswer.Refused refused => McpRecovery.Failure(refused.Problem.ValueKind == JsonValueKind.Object
                && refused.Problem.TryGetProperty("detail", out var detail) ? $"Valet refused the call ({refused.Status}): {detail.GetString()}"
                : $"Valet refused the call ({refused.Status})."),
            ProxyAnswer.Upstream { BinaryContentType: { } binary } => McpRecovery.Failure(
                $"The API answered {((ProxyAnswer.Upstream)answer).Output.Status} with a binary body ({binary}); call_api returns only JSON and text."),
            ProxyAnswer.Upstream upstream => recovery.Success(upstream.Output),
            _ => throw new InvalidOperationException("Unknown proxy answer."),
        };
    }

    private async Task<CallToolResult> ConnectAsync(ApiKey key, ConnectAccountInput input, McpRecovery recovery, CancellationToken cancellationToken)
    {
        var definition = string.IsNullOrEmpty(input.Provider) ? null : catalog.Find(input.Provider);
        if (definition is null)
        {
            return McpRecovery.Failure($"Unknown provider '{input.Provider}'.");
        }

        // Only a provider the key names: a key limited to some connections must not start flows for others.
        if (!AgentCaller.For(key).NamesProvider(definition.Id))
        {
            return McpRecovery.Failure($"This API key has no permission on provider '{definition.Id}'.");
        }

        if (input.Scopes is { } asked && (asked.Count > 100 || !asked.All(Http.Validation.IsScopeToken)))
        {
            return McpRecovery.Failure("scopes " + Http.Validation.ScopesRule(100) + ".");
        }

        var scopes = input.Scopes ?? [];
        var envelope = new AccessOutcome.Envelope(EnvelopeCodes.NeedsAuthentication, key.OrgId, definition.Id, null, scopes, scopes);
        return recovery.PersonMustAct(await envelopes.BuildAsync(envelope, cancellationToken));
    }

    private async Task<CallToolResult> WaitAsync(McpServer server, ApiKey key, WaitForConnectionInput input, McpRecovery recovery,
        CancellationToken cancellationToken)
    {
        if (input.TimeoutSeconds is < 0 or > MaxWaitSeconds)
        {
            return McpRecovery.Failure($"timeout_seconds must be between 0 and {MaxWaitSeconds}.");
        }

        var id = input.FlowId ?? string.Empty;
        var flow = id.Length is > 0 and <= 64 ? await flows.FindAsync(id, time.GetUtcNow(), cancellationToken) : null;
        if (flow is null || flow.OrgId != key.OrgId)
        {
            return McpRecovery.Failure("No such flow.");
        }

        // An envelope's flow still waiting for its person: what a URL-elicitation client received as an elicitation (the
        // envelope key is cleared once the provider calls back, so it is read now).
        var elicitation = flow is { Status: FlowStatus.Pending, EnvelopeKey: not null };
        var deadline = time.GetUtcNow().AddSeconds(input.TimeoutSeconds ?? 30);
        while (flow is { Status: FlowStatus.Pending or FlowStatus.Exchanging } && time.GetUtcNow() < deadline)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(250), time, cancellationToken);
            flow = await flows.FindAsync(id, time.GetUtcNow(), cancellationToken);
        }

        if (flow is null)
        {
            return McpRecovery.Failure("No such flow.");
        }

        if (recovery.UrlElicitation && elicitation && flow.Status is FlowStatus.Complete or FlowStatus.Error)
        {
            // The person finished while this client waited: notifications/elicitation/complete
            // (https://modelcontextprotocol.io/specification/2025-11-25/client/elicitation#completion-notifications-for-url-mode-elicitation),
            // on this request's own response stream, before its result — a stateless server has no other stream to the
            // client. It goes only to the client that asks about this id, never to others. docs/mcp.md, "Completion".
            await server.SendNotificationAsync(NotificationMethods.ElicitationCompleteNotification,
                new ElicitationCompleteNotificationParams { ElicitationId = flow.Id }, cancellationToken: cancellationToken);
        }

        return recovery.Success(new WaitForConnectionOutput(FlowResponse.StatusOf(flow.Status), flow.Provider, flow.ConnectionId, flow.Error));
    }

    private static string Describe(AccessOutcome outcome) => outcome switch
    {
        AccessOutcome.Forbidden forbidden => forbidden.Detail,
        AccessOutcome.NotFound notFound => notFound.Detail,
        AccessOutcome.ProviderUnavailable => "The provider is unavailable; the connection is unchanged. Try again later.",
        _ => "Valet refused the call.",
    };
}
