using Valet.Server.Tokens;

namespace Valet.Server.Proxy;

/// <summary>
/// Set on a proxied call made inside Valet on an agent's behalf (the MCP <c>call_api</c> tool): the audit event says
/// which way it came, and the caller learns whether the answer is Valet's own refusal (and its envelope) rather than
/// the upstream's. A request feature, not a header, so no agent can claim it on a plain proxy call.
/// </summary>
internal sealed class ProxyVia(string name)
{
    public string Name { get; } = name;

    /// <summary>The answer is Valet's (problem+json or envelope), not the upstream's.</summary>
    public bool Refused { get; set; }

    /// <summary>The envelope, when a person must act first.</summary>
    public AuthEnvelope? Envelope { get; set; }

    /// <summary>
    /// The caller stopped reading the upstream's body on purpose (the MCP answer keeps a capped prefix): the forward
    /// ending with <c>ResponseBodyClient</c> then is the caller's choice, not a failure to report or log.
    /// </summary>
    public bool StoppedReading { get; set; }

    /// <summary>The upstream's status when the caller stopped reading (the forwarder then resets the unsent response).</summary>
    public int StoppedStatus { get; set; }

    /// <summary>
    /// The credentials Valet put on this call's upstream requests (the first, and the retry after a refresh): an upstream
    /// that echoes its request (httpbin's <c>/headers</c>, a debug endpoint) would hand them back, and a tool result must
    /// never carry a token (SPEC §11), so the caller redacts them from what it returns.
    /// </summary>
    public List<string> Secrets { get; } = [];

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<string, string> Credentials = new();

    public void Sent(string? secret)
    {
        if (secret is not null && secret.StartsWith("Basic ", StringComparison.Ordinal))
        {
            // One instance per cached header value: redaction's patterns are cached per secret instance
            // (SecretSpellings), and a slice made per call would build one per call (50 ms for a long credential).
            secret = Credentials.GetValue(secret, basic => basic["Basic ".Length..]);
        }

        if (!string.IsNullOrEmpty(secret) && !Secrets.Contains(secret))
        {
            Secrets.Add(secret);
        }
    }

    /// <summary>The audit detail with the way the call came: <c>via mcp</c>, or <c>reauth_required via mcp</c>.</summary>
    public static string Mark(string? detail, string name) => detail is null ? "via " + name : detail + " via " + name;
}
