using System.Net;

namespace Valet.Client;

/// <summary>The envelope codes of SPEC §5: what a person must do before the call can succeed.</summary>
public static class ValetEnvelopeCodes
{
    /// <summary>No usable connection for this provider and key yet.</summary>
    public const string NeedsAuthentication = "needs_authentication";

    /// <summary>The grant is dead (revoked, <c>invalid_grant</c>, refresh token expired).</summary>
    public const string ReauthRequired = "reauth_required";

    /// <summary>Connected, but the call needs scopes not granted.</summary>
    public const string MissingScopes = "missing_scopes";

    internal static bool IsEnvelope(string? code) => code is NeedsAuthentication or ReauthRequired or MissingScopes;
}

/// <summary>
/// An auth-recovery envelope (HTTP 409, SPEC §5): what a person must do. An ordinary org's envelope carries a
/// <see cref="ConnectUrl"/> for a signed-in operator of the org and a <see cref="FlowId"/> to wait on; a headless org's
/// carries no URL and no flow, only what the integrator needs to run its own OAuth dance and import the result
/// (<see cref="Provider"/>, <see cref="RequiredScopes"/>, <see cref="CredentialId"/>).
/// </summary>
public sealed class ValetAuthRequirement
{
    private static readonly TimeSpan BootstrapPollInterval = TimeSpan.FromSeconds(2);

    /// <summary><c>needs_authentication</c>, <c>reauth_required</c> or <c>missing_scopes</c> (<see cref="ValetEnvelopeCodes"/>).</summary>
    public required string Code { get; init; }

    /// <summary>Provider id.</summary>
    public required string Provider { get; init; }

    /// <summary>The connection concerned, if there is one.</summary>
    public string? ConnectionId { get; init; }

    /// <summary>Scopes the call asked for.</summary>
    public IReadOnlyList<string> RequiredScopes { get; init => field = value ?? []; } = [];

    /// <summary>Scopes the connection lacks (for <c>missing_scopes</c>).</summary>
    public IReadOnlyList<string> MissingScopes { get; init => field = value ?? []; } = [];

    /// <summary>Whether the org is headless (white-label): then there is no URL and no flow.</summary>
    public bool Headless { get; init; }

    /// <summary>A Valet page that starts the authorization for a signed-in operator of the org (never for a headless org).</summary>
    public Uri? ConnectUrl { get; init; }

    /// <summary>The flow the <see cref="ConnectUrl"/> completes; wait on it with <see cref="WaitForFlowAsync"/>.</summary>
    public string? FlowId { get; init; }

    /// <summary>Headless orgs: the BYOC credential to run the OAuth dance with and to import the result under.</summary>
    public string? CredentialId { get; init; }

    /// <summary>
    /// For <c>reauth_required</c>: why the grant stopped working, as a stable code — <c>invalid_grant</c> (revoked or
    /// expired), <c>invalid_client</c> (an operator must fix the client), <c>mfa_required</c>, <c>consent_required</c>,
    /// <c>conditional_access</c>, <c>login_required</c>, <c>interaction_required</c> (the person must act at the provider).
    /// Null for the other codes, and from servers older than this member.
    /// </summary>
    public string? Reason { get; init; }

    /// <summary>Short human-readable summary.</summary>
    public string? Title { get; init; }

    /// <summary>One sentence saying what a person must do.</summary>
    public string? Detail { get; init; }

    /// <summary>The problem type URN, <c>urn:valet:problem:{code}</c>.</summary>
    public string? Type { get; init; }

    /// <summary>
    /// Waits until the person finished the flow of this envelope, it failed or expired, or <paramref name="timeout"/>
    /// passed (then the returned flow is still <c>pending</c>). Long-polls <c>GET /v1/flows/{id}/wait</c>, which answers
    /// an operator of the org and the org's own agent keys. Where a server answers this key 403 (servers from before
    /// agent keys could read their org's flows), it watches <c>GET /v1/bootstrap</c> instead until a connection that
    /// satisfies this envelope is active; that wait reports only <c>complete</c> or, at the deadline, <c>pending</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">The envelope has no flow: a headless org (see <see cref="Headless"/>), or an envelope that names none (<see cref="FlowId"/> is null).</exception>
    public async Task<ValetFlow> WaitForFlowAsync(ValetClient client, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (Headless || FlowId is null)
        {
            throw new InvalidOperationException(Headless
                ? "A headless org's envelope has no flow to wait on: run the OAuth dance with your own client and import the connection."
                : "This envelope names no flow to wait on.");
        }

        var started = client.Time.GetTimestamp();
        try
        {
            return await client.WaitForFlowAsync(FlowId, timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (ValetApiException e) when (e.StatusCode == HttpStatusCode.Forbidden)
        {
            return await WatchBootstrapAsync(client, timeout - client.Time.GetElapsedTime(started), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Fallback for keys that may not read flows: the envelope is resolved once the bootstrap shows a usable connection.</summary>
    private async Task<ValetFlow> WatchBootstrapAsync(ValetClient client, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = client.Time.GetTimestamp() + (long)(Math.Max(0, timeout.TotalSeconds) * client.Time.TimestampFrequency);
        HashSet<string>? known = null;
        while (true)
        {
            var bootstrap = await client.GetBootstrapAsync(cancellationToken).ConfigureAwait(false);
            known ??= bootstrap.Connections.Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
            var resolved = bootstrap.Connections.FirstOrDefault(c => Resolves(c, known));
            if (resolved is not null)
            {
                return new ValetFlow
                {
                    FlowId = FlowId!,
                    Status = ValetFlowStatus.Complete,
                    Provider = Provider,
                    Org = bootstrap.Org,
                    ConnectionId = resolved.Id,
                    GrantedScopes = resolved.Scopes,
                };
            }

            var left = TimeSpan.FromSeconds((double)(deadline - client.Time.GetTimestamp()) / client.Time.TimestampFrequency);
            if (left <= TimeSpan.Zero)
            {
                return new ValetFlow { FlowId = FlowId!, Status = ValetFlowStatus.Pending, Provider = Provider, Org = bootstrap.Org };
            }

            await Task.Delay(left < BootstrapPollInterval ? left : BootstrapPollInterval, client.Time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// An active connection of the provider with every required scope (or unknown scopes), that is either the connection
    /// this envelope is about, or — when it names none, or a person connected another account — one that is new.
    /// </summary>
    private bool Resolves(ValetConnection connection, HashSet<string> known) =>
        connection.IsActive
        && string.Equals(connection.Provider, Provider, StringComparison.Ordinal)
        && (connection.Scopes is null || RequiredScopes.All(s => connection.Scopes.Contains(s, StringComparer.Ordinal)))
        && (ConnectionId is null || connection.Id == ConnectionId || !known.Contains(connection.Id));

    /// <inheritdoc/>
    public override string ToString() => $"{Code} ({Provider}{(ConnectionId is null ? "" : ", " + ConnectionId)})";
}
