using Valet.Core.Access;
using Valet.Core.Providers;

namespace Valet.Server.Proxy;

/// <summary>
/// One proxied call: what its audit event will say (filled in as the call goes) and its refresh-on-401. One object per
/// call holds both, so the upstream-401 hook costs no closure.
/// </summary>
internal sealed class ProxyCall(AgentAccess access) : IUpstreamUnauthorized
{
    public string? OrgId { get; set; }
    public string? KeyId { get; set; }
    public string? ConnectionId { get; set; }
    public string? TargetId { get; set; }
    public string? Path { get; set; }
    public string? Detail { get; set; }

    /// <summary>
    /// Body bytes the agent got: the relayed answer's, then Valet's own answer's. Null when a body of declared length broke
    /// off (how much got out is not known).
    /// </summary>
    public long? BytesOut { get; set; } = 0;

    /// <summary>The token the first attempt carries.</summary>
    public AccessOutcome.Token? Token { get; set; }

    /// <summary>A target's required scopes (for the envelope a refresh may end in).</summary>
    public IReadOnlyList<string> RequiredScopes { get; set; } = [];

    /// <summary>The agent's request may carry a body (HandleAsync's reading, made once).</summary>
    public bool HasBody { get; set; }

    /// <summary>The body can be sent again (small and buffered, or none).</summary>
    public bool Replayable { get; set; }

    /// <summary>The buffered body a retry sends again (null when there is none or it streams).</summary>
    public MemoryStream? Replay { get; set; }

    /// <summary>A static secret (api_key, basic): never refreshed, so an upstream 401 passes through.</summary>
    public bool IsStatic { get; set; }

    /// <summary>The provider as bound to this connection (its parameters filled in).</summary>
    public ProviderDefinition? Provider { get; set; }

    /// <summary>The checked upstream URL, the API base it is under, and the client for the provider's address policy.</summary>
    public Uri? Upstream { get; set; }

    public string? Prefix { get; set; }

    public HttpMessageInvoker? Client { get; set; }

    /// <summary>The proxy options as read once for this call (a reload mid-call does not mix two versions).</summary>
    public ProxyOptions? Settings { get; set; }

    /// <summary>What refreshing after the upstream's 401 gave; null when the upstream did not answer 401.</summary>
    public AccessOutcome? Refreshed { get; private set; }

    public async ValueTask<bool> HoldAsync(CancellationToken cancellationToken)
    {
        // Refresh even when the call cannot be replayed, so the agent's own retry carries a working token.
        Refreshed = await access.RefreshRejectedAsync(Token!, RequiredScopes, cancellationToken);

        // The 401 is held back whenever Valet knows better than it: a person must act (envelope), the provider is out
        // (provider_unavailable with Retry-After: the agent's credentials are not wrong, the provider is down), or the
        // retry can go. Only a refresh that worked on a streamed body, or a connection gone meanwhile, lets it through.
        return Refreshed is AccessOutcome.Envelope or AccessOutcome.ProviderUnavailable || (Replayable && Refreshed is AccessOutcome.Token);
    }
}
