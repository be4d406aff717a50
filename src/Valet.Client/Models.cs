namespace Valet.Client;

/// <summary>
/// An access token Valet handed out (<c>POST /v1/connections/{id}/token</c> or <c>POST /v1/providers/{provider}/token</c>).
/// <see cref="ToString"/> never prints the token.
/// </summary>
public sealed class ValetAccessToken
{
    /// <summary>The provider's access token. Send it as <c>Authorization: {TokenType} {AccessToken}</c>; never log it.</summary>
    public required string AccessToken { get; init; }

    /// <summary>The token type the provider gave, usually <c>Bearer</c>.</summary>
    public string? TokenType { get; init; }

    /// <summary>When the token expires, if the provider said.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The scopes granted to the connection, if known.</summary>
    public IReadOnlyList<string>? Scopes { get; init; }

    /// <summary>The connection the token belongs to (useful when asked by provider).</summary>
    public string? ConnectionId { get; init; }

    /// <summary>The <c>Authorization</c> scheme to use: <c>Bearer</c> unless the provider named another type.</summary>
    public string Scheme => string.IsNullOrEmpty(TokenType) || string.Equals(TokenType, "bearer", StringComparison.OrdinalIgnoreCase)
        ? "Bearer" : TokenType;

    /// <inheritdoc/>
    public override string ToString() => $"ValetAccessToken {{ ConnectionId = {ConnectionId}, ExpiresAt = {ExpiresAt:O}, AccessToken = *** }}";
}

/// <summary>The answer of <c>GET /v1/bootstrap</c>: what this API key may use, and what needs a person.</summary>
public sealed class ValetBootstrap
{
    /// <summary>The org the key belongs to.</summary>
    public string? Org { get; init; }

    /// <summary>The key itself (id, name, prefix; never the secret).</summary>
    public ValetKeyInfo? Key { get; init; }

    /// <summary>Connections the key may use; one that needs a person carries its <see cref="ValetConnection.Envelope"/>.</summary>
    public IReadOnlyList<ValetConnection> Connections { get; init => field = value ?? []; } = [];

    /// <summary>Targets the key may call through <c>/v1/targets/{target}/…</c>.</summary>
    public IReadOnlyList<ValetTarget> Targets { get; init => field = value ?? []; } = [];

    /// <summary>Providers the key may use but that have no connection yet: a <c>needs_authentication</c> envelope each.</summary>
    public IReadOnlyList<ValetAuthRequirement> Needs { get; init => field = value ?? []; } = [];
}

/// <summary>The API key a bootstrap was made for.</summary>
public sealed class ValetKeyInfo
{
    /// <summary>Key id.</summary>
    public string? Id { get; init; }

    /// <summary>Key name given by the operator.</summary>
    public string? Name { get; init; }

    /// <summary>The key's public prefix.</summary>
    public string? Prefix { get; init; }
}

/// <summary>One connection an API key may use.</summary>
public sealed class ValetConnection
{
    /// <summary>Connection id (for <c>/v1/connections/{id}/token</c> and <c>/v1/proxy/{id}/…</c>).</summary>
    public required string Id { get; init; }

    /// <summary>Provider id, e.g. <c>github</c>.</summary>
    public required string Provider { get; init; }

    /// <summary>The account at the provider.</summary>
    public ValetAccount? Account { get; init; }

    /// <summary><c>active</c> or <c>reauth_required</c>.</summary>
    public required string Status { get; init; }

    /// <summary>Granted scopes, when the provider reported them.</summary>
    public IReadOnlyList<string>? Scopes { get; init; }

    /// <summary>When the stored access token expires.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>What a person must do, when the connection needs one (status <c>reauth_required</c>).</summary>
    public ValetAuthRequirement? Envelope { get; init; }

    /// <summary>Whether the connection can give tokens now.</summary>
    public bool IsActive => string.Equals(Status, "active", StringComparison.Ordinal);
}

/// <summary>The account a connection belongs to.</summary>
public sealed class ValetAccount
{
    /// <summary>The provider's account id.</summary>
    public string? Id { get; init; }

    /// <summary>Login name, if the provider has one.</summary>
    public string? Login { get; init; }

    /// <summary>E-mail address, if the provider gave one.</summary>
    public string? Email { get; init; }
}

/// <summary>A named API surface bound to a connection.</summary>
public sealed class ValetTarget
{
    /// <summary>Target id (for <c>/v1/targets/{target}/…</c>).</summary>
    public required string Id { get; init; }

    /// <summary>Target name, e.g. <c>mail</c>.</summary>
    public string? Name { get; init; }

    /// <summary>Provider id.</summary>
    public string? Provider { get; init; }

    /// <summary>The connection the target is bound to.</summary>
    public string? ConnectionId { get; init; }

    /// <summary>Scopes a call through the target needs.</summary>
    public IReadOnlyList<string> RequiredScopes { get; init => field = value ?? []; } = [];

    /// <summary>Whether the target was made from its connection (read-only, deleted with it).</summary>
    public bool Managed { get; init; }
}

/// <summary>The state of an authorization flow (<c>GET /v1/flows/{id}</c>, <c>…/wait</c>).</summary>
public sealed class ValetFlow
{
    /// <summary>Flow id.</summary>
    public required string FlowId { get; init; }

    /// <summary><c>pending</c>, <c>complete</c>, <c>error</c> or <c>expired</c>.</summary>
    public required string Status { get; init; }

    /// <summary>Provider id.</summary>
    public string? Provider { get; init; }

    /// <summary>Org id.</summary>
    public string? Org { get; init; }

    /// <summary>When a person can no longer finish the flow.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>The connection the flow made or renewed (when complete).</summary>
    public string? ConnectionId { get; init; }

    /// <summary>Scopes the person granted (when complete).</summary>
    public IReadOnlyList<string>? GrantedScopes { get; init; }

    /// <summary>Why the flow failed (when <c>error</c>).</summary>
    public string? Error { get; init; }

    /// <summary>The person finished and the connection is usable: retry the call.</summary>
    public bool IsComplete => Status == ValetFlowStatus.Complete;

    /// <summary>The flow is decided (<c>complete</c>, <c>error</c> or <c>expired</c>); waiting longer changes nothing.</summary>
    public bool IsTerminal => Status is ValetFlowStatus.Complete or ValetFlowStatus.Error or ValetFlowStatus.Expired;
}

/// <summary>The flow statuses on the wire.</summary>
public static class ValetFlowStatus
{
    /// <summary>Waiting for the person.</summary>
    public const string Pending = "pending";

    /// <summary>Done: a connection was made or renewed.</summary>
    public const string Complete = "complete";

    /// <summary>Failed (denied, or the provider refused).</summary>
    public const string Error = "error";

    /// <summary>Nobody finished it in time.</summary>
    public const string Expired = "expired";
}

/// <summary>Where a proxied call goes: through a connection (<c>/v1/proxy/{id}/…</c>) or a target (<c>/v1/targets/{target}/…</c>).</summary>
public sealed record ValetRoute
{
    private ValetRoute(string prefix, string id)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        Prefix = prefix;
        Id = id;
    }

    internal string Prefix { get; }

    /// <summary>The connection id or target id.</summary>
    public string Id { get; }

    /// <summary>Through a connection: <c>/v1/proxy/{connectionId}/…</c>.</summary>
    public static ValetRoute Connection(string connectionId) => new("v1/proxy/", connectionId);

    /// <summary>Through a target: <c>/v1/targets/{target}/…</c>.</summary>
    public static ValetRoute Target(string target) => new("v1/targets/", target);

    /// <inheritdoc/>
    public override string ToString() => "/" + Prefix + Id;
}
