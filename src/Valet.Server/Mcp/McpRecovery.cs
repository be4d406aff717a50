using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Valet.Server.Tokens;

namespace Valet.Server.Mcp;

/// <summary>
/// How a tool result reaches the client, and the auth-recovery rule of SPEC §11 when a person must act.
/// </summary>
internal sealed class McpRecovery(bool urlElicitation, JsonSerializerOptions json)
{
    /// <summary>Whether the client declared URL-mode elicitation (on this request, or at initialize: <see cref="McpSessionIds"/>).</summary>
    public bool UrlElicitation => urlElicitation;

    /// <summary>
    /// The client declared URL-mode elicitation: the call fails with <c>URLElicitationRequiredError</c> (-32042)
    /// carrying one URL elicitation (url = connect_url, elicitationId = flow_id). Otherwise: an isError result with the
    /// envelope as structuredContent and one sentence. A headless org's envelope has no URL: never an elicitation.
    /// See https://modelcontextprotocol.io/specification/2025-11-25/client/elicitation (URL mode elicitation,
    /// "URL Elicitation Required Error").
    /// </summary>
    public CallToolResult PersonMustAct(AuthEnvelope envelope)
    {
        var sentence = Sentence(envelope);
        if (urlElicitation && !envelope.Headless && envelope is { ConnectUrl: { } url, FlowId: { } flowId })
        {
            throw new UrlElicitationRequiredException(sentence,
                [new ElicitRequestParams { Mode = "url", Message = sentence, Url = url, ElicitationId = flowId }]);
        }

        return new CallToolResult
        {
            IsError = true,
            StructuredContent = JsonSerializer.SerializeToElement(envelope, json),
            Content = [new TextContentBlock { Text = sentence }],
        };
    }

    /// <summary>structuredContent, and the same JSON as text for clients that read only content (MCP "Structured Content").</summary>
    public CallToolResult Success<T>(T value)
    {
        var element = JsonSerializer.SerializeToElement(value, json);
        return new CallToolResult { StructuredContent = element, Content = [new TextContentBlock { Text = element.GetRawText() }] };
    }

    public static CallToolResult Failure(string message) => new() { IsError = true, Content = [new TextContentBlock { Text = message }] };

    private static string Sentence(AuthEnvelope envelope)
    {
        if (envelope.OperatorConnected)
        {
            return envelope.Detail + " Then try again."; // no person's step: what an operator must post
        }

        var what = envelope.Code switch
        {
            "reauth_required" => $"reconnect their {envelope.Provider} account (the grant is no longer valid)",
            "missing_scopes" => $"reconnect their {envelope.Provider} account granting {string.Join(", ", envelope.MissingScopes)}",
            _ => $"connect a {envelope.Provider} account",
        };

        if (envelope.Headless)
        {
            // No URL, ever: the organization runs its own connect flow.
            return $"A person must {what} through this organization's own application; then try again.";
        }

        return envelope.ConnectUrl is { } url
            ? $"A person of this organization must open {url} and {what}; then call wait_for_connection with flow_id {envelope.FlowId}."
            : $"A person of this organization must {what} in the Valet dashboard; then try again.";
    }
}
