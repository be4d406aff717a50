using Microsoft.Extensions.Options;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Core.Tokens;

namespace Valet.Core.Access;

/// <summary>
/// The one path from an agent's key to a token (ARCHITECTURE, "An agent needs a token"): which connection, may this
/// caller use it, does a person need to act, and the token through the refresh engine. The token routes, bootstrap and
/// the proxy map its <see cref="AccessOutcome"/> to HTTP; nothing here knows HTTP. The connection row is read once per
/// request: status, scopes and freshness are decided on that row, and only an expiring token goes to the refresh engine
/// (which re-reads under its lock, as it must).
/// </summary>
public sealed class AgentAccess(
    IConnectionStore connections,
    ITargetStore targets,
    IOrgStore orgs,
    IProviderCatalog catalog,
    ITokenService tokens,
    IOptionsMonitor<RefreshOptions> refreshOptions,
    TimeProvider time)
{
    /// <summary>Ids longer than this are unknown without a store read.</summary>
    public const int MaxIdLength = 64;

    private static readonly AccessOutcome.NotFound ConnectionNotFound = new("connection_not_found", "No such connection.");
    private static readonly AccessOutcome.NotFound TargetNotFound = new("target_not_found", "No such target.");
    private static readonly AccessOutcome.Forbidden ProviderNeedsKey = new("Token routes by provider are for API keys.");

    /// <summary>A token for one connection: <see cref="AccessOutcome.Token"/>, or why not.</summary>
    /// <param name="scopes">Scopes the call needs; those the grant lacks give the <c>missing_scopes</c> envelope. Empty: no requirement.</param>
    public async ValueTask<AccessOutcome> TokenAsync(AgentCaller caller, string connectionId, IReadOnlyList<string> scopes,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connectionId);
        ArgumentNullException.ThrowIfNull(scopes);

        var (connection, refusal) = await FindConnectionAsync(caller, connectionId, cancellationToken);
        return connection is null ? refusal! : await RevealAsync(caller, connection, scopes, cancellationToken);
    }

    /// <summary>
    /// A token by provider: the one connection of <paramref name="provider"/> this key may use; with several, those that
    /// have <paramref name="scopes"/> win, then the org's default connection for the provider, else
    /// <see cref="AccessOutcome.Ambiguous"/>. None at all: the <c>needs_authentication</c> envelope when the key names the
    /// provider, else <see cref="AccessOutcome.Forbidden"/>. API keys only (the service principal has no org).
    /// </summary>
    public async ValueTask<AccessOutcome> TokenForProviderAsync(AgentCaller caller, string provider, IReadOnlyList<string> scopes,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(scopes);

        if (caller.Key is not { } key)
        {
            return ProviderNeedsKey;
        }

        var definition = catalog.Find(provider);
        if (definition is null)
        {
            return new AccessOutcome.NotFound("unknown_provider", $"Unknown provider '{provider}'.");
        }

        var candidates = new List<Connection>();
        await foreach (var connection in connections.ListAsync(key.OrgId, cancellationToken))
        {
            if (connection.Provider == definition.Id && caller.MayUse(connection))
            {
                candidates.Add(connection);
            }
        }

        if (candidates.Count == 0)
        {
            return caller.NamesProvider(definition.Id)
                ? new AccessOutcome.Envelope(EnvelopeCodes.NeedsAuthentication, key.OrgId, definition.Id, null, scopes, scopes)
                : new AccessOutcome.Forbidden($"This API key has no permission on provider '{definition.Id}'.");
        }

        var chosen = await ChooseAsync(candidates, scopes, key.OrgId, cancellationToken);
        return chosen is AccessOutcome.Granted granted ? await RevealAsync(caller, granted.Connection, scopes, cancellationToken) : chosen;
    }

    /// <summary>The proxy's first half: may this caller use the connection? <see cref="AccessOutcome.Granted"/> or why not.</summary>
    public async ValueTask<AccessOutcome> ConnectionAsync(AgentCaller caller, string connectionId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connectionId);

        var (connection, refusal) = await FindConnectionAsync(caller, connectionId, cancellationToken);
        return connection is null ? refusal! : new AccessOutcome.Granted(connection, null);
    }

    /// <summary>
    /// The same through a target: another org's target is not visible (404); a key holding the target, or its whole
    /// connection, may use it.
    /// </summary>
    public async ValueTask<AccessOutcome> TargetAsync(AgentCaller caller, string targetId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(targetId);

        var target = targetId.Length <= MaxIdLength ? await targets.FindAsync(targetId, cancellationToken) : null;
        var connection = target is not null && caller.Sees(target) ? await connections.FindAsync(target.ConnectionId, cancellationToken) : null;
        if (target is null || connection is null)
        {
            return TargetNotFound;
        }

        return caller.MayUse(target) || caller.MayUse(connection)
            ? new AccessOutcome.Granted(connection, target)
            : new AccessOutcome.Forbidden("This API key has no permission on this target.", connection, target);
    }

    /// <summary>
    /// The proxy's second half, on the row <see cref="ConnectionAsync"/> or <see cref="TargetAsync"/> read:
    /// an envelope when a person must act (the connection is dead, or lacks <paramref name="requiredScopes"/>), else the token.
    /// </summary>
    public ValueTask<AccessOutcome> TokenAsync(AccessOutcome.Granted granted, IReadOnlyList<string> requiredScopes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(granted);
        ArgumentNullException.ThrowIfNull(requiredScopes);
        return IssueAsync(granted.Connection, requiredScopes, cancellationToken);
    }

    /// <summary>
    /// The upstream refused <paramref name="rejected"/>: a new token (reused when another caller refreshed meanwhile,
    /// else one refresh however many calls were refused at once), the <c>reauth_required</c> envelope, or
    /// <see cref="AccessOutcome.ProviderUnavailable"/> / <see cref="AccessOutcome.NotFound"/>.
    /// </summary>
    public async ValueTask<AccessOutcome> RefreshRejectedAsync(AccessOutcome.Token rejected, IReadOnlyList<string> requiredScopes,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rejected);
        ArgumentNullException.ThrowIfNull(requiredScopes);
        return From(await tokens.RefreshRejectedAsync(rejected.Connection, cancellationToken), requiredScopes);
    }

    /// <summary>
    /// What this key may use (<c>GET /v1/bootstrap</c>): its connections, with the envelope of each one a person must
    /// reconnect; a <c>needs_authentication</c> envelope for each provider it names but has no connection of; the targets
    /// it holds or whose connection it may use.
    /// </summary>
    public async Task<AgentOverview> OverviewAsync(ApiKey key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(key);

        var caller = AgentCaller.For(key);
        var visible = new List<AgentOverview.Item>();
        var visibleIds = new HashSet<string>(StringComparer.Ordinal);
        var covered = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var connection in connections.ListAsync(key.OrgId, cancellationToken))
        {
            if (!caller.MayUse(connection))
            {
                continue;
            }

            covered.Add(connection.Provider);
            visibleIds.Add(connection.Id);
            visible.Add(new AgentOverview.Item(connection, connection.Status == ConnectionStatus.ReauthRequired
                ? new AccessOutcome.Envelope(EnvelopeCodes.ReauthRequired, key.OrgId, connection.Provider, connection, [], [], connection.StatusReason)
                : null));
        }

        var needs = new List<AccessOutcome.Envelope>();
        foreach (var permission in key.Permissions)
        {
            // A provider deleted since the key was made (a runtime one) cannot be connected: no envelope asks a person to.
            if (permission.Kind == PermissionKind.Provider && catalog.Find(permission.Value) is not null && covered.Add(permission.Value))
            {
                needs.Add(new AccessOutcome.Envelope(EnvelopeCodes.NeedsAuthentication, key.OrgId, permission.Value, null, [], []));
            }
        }

        var visibleTargets = new List<Target>();
        await foreach (var target in targets.ListAsync(key.OrgId, cancellationToken))
        {
            if (caller.MayUse(target) || visibleIds.Contains(target.ConnectionId))
            {
                visibleTargets.Add(target);
            }
        }

        return new AgentOverview(key, visible, needs, visibleTargets);
    }

    private async ValueTask<(Connection? Connection, AccessOutcome? Refusal)> FindConnectionAsync(AgentCaller caller, string connectionId,
        CancellationToken cancellationToken)
    {
        var connection = connectionId.Length <= MaxIdLength ? await connections.FindAsync(connectionId, cancellationToken) : null;
        if (connection is null || !caller.Sees(connection))
        {
            return (null, ConnectionNotFound);
        }

        return caller.MayUse(connection)
            ? (connection, null)
            : (null, new AccessOutcome.Forbidden("This API key has no permission on this connection.", connection));
    }

    /// <summary>
    /// Several candidates (SPEC §4): the org's default for the provider, when the key may use it, answers — with its
    /// envelope if it is dead or lacks the scopes, never by switching to another person's account behind the agent's back
    /// (docs/decisions.md, "The default decides"). Without one: the only candidate that is active and has the scopes, else
    /// ambiguous. When none has the scopes, the only candidate is used so the caller gets its envelope.
    /// </summary>
    private async ValueTask<AccessOutcome> ChooseAsync(List<Connection> candidates, IReadOnlyList<string> scopes, string orgId,
        CancellationToken cancellationToken)
    {
        if (candidates.Count == 1)
        {
            return new AccessOutcome.Granted(candidates[0], null);
        }

        var defaultId = await orgs.FindDefaultConnectionAsync(orgId, candidates[0].Provider, cancellationToken);
        foreach (var candidate in candidates)
        {
            if (candidate.Id == defaultId)
            {
                return new AccessOutcome.Granted(candidate, null);
            }
        }

        List<Connection>? usable = null;
        foreach (var candidate in candidates)
        {
            if (candidate.Status == ConnectionStatus.Active && ScopeCheck.Missing(candidate.Scopes, scopes).Count == 0)
            {
                (usable ??= []).Add(candidate);
            }
        }

        return usable is [var only] ? new AccessOutcome.Granted(only, null) : new AccessOutcome.Ambiguous(orgId, candidates[0].Provider, usable ?? candidates);
    }

    /// <summary>
    /// The token routes: a static secret leaves Valet only for a key whose permission says <c>"reveal": true</c>, in the
    /// shape <see cref="StaticSecrets.Reveal"/> gives; everything else is <see cref="IssueAsync"/>.
    /// </summary>
    private async ValueTask<AccessOutcome> RevealAsync(AgentCaller caller, Connection connection, IReadOnlyList<string> required,
        CancellationToken cancellationToken)
    {
        if (!StaticSecrets.IsStatic(connection))
        {
            return await IssueAsync(connection, required, cancellationToken);
        }

        if (!caller.MayReveal(connection))
        {
            return new AccessOutcome.ProxyOnly(connection);
        }

        var (value, tokenType) = StaticSecrets.Reveal(connection);
        return new AccessOutcome.Token(connection, value, tokenType, null, connection.Scopes);
    }

    /// <summary>Status, scopes and freshness on the row already read; only an expiring token goes to the refresh engine.</summary>
    private async ValueTask<AccessOutcome> IssueAsync(Connection connection, IReadOnlyList<string> required, CancellationToken cancellationToken)
    {
        if (connection.Status == ConnectionStatus.ReauthRequired)
        {
            return new AccessOutcome.Envelope(EnvelopeCodes.ReauthRequired, connection.OrgId, connection.Provider, connection, required, [],
                connection.StatusReason);
        }

        var missing = ScopeCheck.Missing(connection.Scopes, required);
        if (missing.Count > 0)
        {
            return new AccessOutcome.Envelope(EnvelopeCodes.MissingScopes, connection.OrgId, connection.Provider, connection, required, missing);
        }

        // Hot path: fresh enough, answer from this row (no second read, no lock, no provider call).
        if (RefreshPolicy.IsFresh(connection, time.GetUtcNow(), refreshOptions.CurrentValue.Skew))
        {
            return AccessOutcome.Token.Of(connection);
        }

        return From(await tokens.GetAccessTokenAsync(connection, cancellationToken), required);
    }

    private static AccessOutcome From(TokenOutcome outcome, IReadOnlyList<string> required) => outcome switch
    {
        TokenOutcome.Success success => AccessOutcome.Token.Of(success),
        TokenOutcome.ReauthRequired dead => new AccessOutcome.Envelope(EnvelopeCodes.ReauthRequired, dead.Connection.OrgId,
            dead.Connection.Provider, dead.Connection, required, [], dead.Reason),
        TokenOutcome.ProviderUnavailable unavailable => new AccessOutcome.ProviderUnavailable(unavailable.RetryAfter, unavailable.TimedOut),
        _ => ConnectionNotFound,
    };
}

/// <summary>What one API key may use (<see cref="AgentAccess.OverviewAsync"/>).</summary>
public sealed record AgentOverview(ApiKey Key, IReadOnlyList<AgentOverview.Item> Connections, IReadOnlyList<AccessOutcome.Envelope> Needs,
    IReadOnlyList<Target> Targets)
{
    /// <summary>A connection the key may use, and its envelope when a person must reconnect it.</summary>
    public sealed record Item(Connection Connection, AccessOutcome.Envelope? Envelope);
}
