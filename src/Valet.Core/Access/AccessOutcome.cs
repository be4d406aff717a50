using Valet.Core.Domain;

namespace Valet.Core.Access;

/// <summary>The codes of the auth-recovery envelopes (SPEC §5): what a person must do before the agent can go on.</summary>
public static class EnvelopeCodes
{
    /// <summary>No usable connection for this provider and key yet: a person must connect an account.</summary>
    public const string NeedsAuthentication = "needs_authentication";

    /// <summary>The grant is dead (invalid_grant, revoked, refresh token expired): a person must reconnect.</summary>
    public const string ReauthRequired = "reauth_required";

    /// <summary>Connected, but the call needs scopes the grant lacks: a person must grant them.</summary>
    public const string MissingScopes = "missing_scopes";
}

/// <summary>
/// The answer of <see cref="AgentAccess"/>. Every expected outcome is a value; match on the nested types. HTTP mapping
/// (the server's): <see cref="Token"/> 200, <see cref="Granted"/> go on (proxy), <see cref="Envelope"/> 409 envelope,
/// <see cref="Forbidden"/> 403, <see cref="NotFound"/> 404, <see cref="Ambiguous"/> 409 <c>ambiguous_connection</c>,
/// <see cref="ProviderUnavailable"/> 502/504 with Retry-After when known.
/// </summary>
public abstract record AccessOutcome
{
    private AccessOutcome()
    {
    }

    /// <summary>The caller may use <see cref="Connection"/> (reached through <see cref="Target"/> when not null). No token yet.</summary>
    public sealed record Granted(Connection Connection, Target? Target) : AccessOutcome;

    /// <summary>
    /// A usable access token. <see cref="Connection"/> is the row it came from: hand this back to
    /// <see cref="AgentAccess.RefreshRejectedAsync"/> when the upstream refuses the token.
    /// </summary>
    public sealed record Token(Connection Connection, Secret AccessToken, string TokenType, DateTimeOffset? ExpiresAt, IReadOnlyList<string>? Scopes)
        : AccessOutcome
    {
        internal static Token Of(Connection connection) =>
            new(connection, connection.AccessToken, connection.TokenType, connection.ExpiresAt, connection.Scopes);

        internal static Token Of(Tokens.TokenOutcome.Success success) =>
            new(success.Connection, success.AccessToken, success.TokenType, success.ExpiresAt, success.Scopes);
    }

    /// <summary>
    /// A person must act (SPEC §5): <see cref="Code"/> is one of <see cref="EnvelopeCodes"/>. <see cref="Connection"/> is
    /// null when there is none yet (<c>needs_authentication</c>). How the person is reached (a gated connect link and a
    /// flow, or for a headless org the credential to run its own OAuth dance with) is the server's to add.
    /// <see cref="Reason"/>: for <c>reauth_required</c>, why (<c>invalid_grant</c>, <c>mfa_required</c>, <c>consent_required</c>…).
    /// </summary>
    public sealed record Envelope(string Code, string OrgId, string Provider, Connection? Connection, IReadOnlyList<string> RequiredScopes,
        IReadOnlyList<string> MissingScopes, string? Reason = null) : AccessOutcome
    {
        public string Title => Code switch
        {
            EnvelopeCodes.NeedsAuthentication => "Authentication needed",
            EnvelopeCodes.ReauthRequired => "Re-authentication required",
            _ => "Missing scopes",
        };

        /// <summary>What a person must do, in one sentence.</summary>
        public string Detail => Code switch
        {
            EnvelopeCodes.NeedsAuthentication => $"No usable {Provider} connection for this key yet: a person must connect an account.",
            EnvelopeCodes.ReauthRequired => Reason switch
            {
                OAuth.InteractionReasons.MfaRequired => $"{Provider} requires multi-factor authentication: a person must reconnect and complete it.",
                OAuth.InteractionReasons.ConsentRequired => $"{Provider} needs consent to this application again: a person (or an administrator) must reconnect and consent.",
                OAuth.InteractionReasons.ConditionalAccess => $"A {Provider} access policy blocks this grant: a person must reconnect from a device and place the policy allows.",
                OAuth.InteractionReasons.LoginRequired => $"{Provider} requires the person to sign in again: a person must reconnect.",
                OAuth.InteractionReasons.InteractionRequired => $"{Provider} requires the person to act before the grant works again: a person must reconnect.",
                _ => $"The {Provider} grant is no longer valid: a person must reconnect.",
            },
            _ => $"The {Provider} connection lacks scopes this call needs: a person must grant them.",
        };
    }

    /// <summary>
    /// Visible, but this key holds no permission on it (403 <c>forbidden</c>). <see cref="Connection"/> and
    /// <see cref="Target"/> say what was refused (for the audit trail), when there was one.
    /// </summary>
    public sealed record Forbidden(string Detail, Connection? Connection = null, Target? Target = null) : AccessOutcome;

    /// <summary>
    /// A static secret (api_key, basic) asked for on the token route by a caller whose permission lacks <c>"reveal": true</c>:
    /// usable through the proxy only (403 <c>proxy_only</c>).
    /// </summary>
    public sealed record ProxyOnly(Connection Connection) : AccessOutcome;

    /// <summary>Unknown, or not visible to this caller (another org's): <see cref="Code"/> is <c>connection_not_found</c>, <c>target_not_found</c> or <c>unknown_provider</c>.</summary>
    public sealed record NotFound(string Code, string Detail) : AccessOutcome;

    /// <summary>Several connections of <see cref="Provider"/> could serve and the org has no default among them.</summary>
    public sealed record Ambiguous(string OrgId, string Provider, IReadOnlyList<Connection> Connections) : AccessOutcome;

    /// <summary>
    /// The provider could not refresh the token now; the connection is unchanged and nothing a person must do.
    /// <see cref="RetryAfter"/> when the provider said when; <see cref="TimedOut"/> when it did not answer in time.
    /// </summary>
    public sealed record ProviderUnavailable(TimeSpan? RetryAfter, bool TimedOut) : AccessOutcome;
}
