using Valet.Core.Domain;

namespace Valet.Core.Tokens;

/// <summary>Why a refresh is asked for.</summary>
public enum RefreshReason
{
    /// <summary>A caller needs a token and the stored one expires within the skew.</summary>
    Expiring,

    /// <summary>A caller saw the token rejected (upstream 401) or asked explicitly.</summary>
    Forced,

    /// <summary>The background refresher claimed the connection ahead of expiry.</summary>
    Proactive,
}

/// <summary>
/// The result of asking for an access token. Expected failures are values; match on the nested types:
/// <see cref="Success"/>, <see cref="NotFound"/>, <see cref="ReauthRequired"/>, <see cref="ProviderUnavailable"/>.
/// </summary>
public abstract record TokenOutcome
{
    private TokenOutcome()
    {
    }

    public bool IsSuccess => this is Success;

    /// <summary>A usable access token. <see cref="Connection"/> is the row it came from (pass it back to force a refresh after a 401).</summary>
    public sealed record Success(Connection Connection, Secret AccessToken, DateTimeOffset? ExpiresAt, IReadOnlyList<string>? Scopes) : TokenOutcome
    {
        public string TokenType => Connection.TokenType;

        internal static Success Of(Connection connection) =>
            new(connection, connection.AccessToken, connection.ExpiresAt, connection.Scopes);
    }

    /// <summary>No such connection.</summary>
    public sealed record NotFound : TokenOutcome
    {
        public static readonly NotFound Instance = new();
    }

    /// <summary>
    /// A person must reconnect. <see cref="Reason"/> is coarse and machine-readable: <c>invalid_grant</c>, a
    /// <see cref="OAuth.InteractionReasons"/> value (<c>mfa_required</c>, <c>consent_required</c>, <c>conditional_access</c>,
    /// <c>login_required</c>, <c>interaction_required</c>),
    /// <c>invalid_client</c>, <c>refresh_outcome_unknown</c>, <c>no_refresh_token</c>, <c>no_client</c>, <c>unknown_provider</c>.
    /// </summary>
    public sealed record ReauthRequired(Connection Connection, string Reason) : TokenOutcome;

    /// <summary>
    /// The provider could not refresh now; the connection is untouched and will be retried. Server mapping (token routes
    /// and the proxy's refresh-on-401 alike): <see cref="TimedOut"/> → 504, else 502, <c>provider_unavailable</c>, with
    /// <c>Retry-After</c> from <see cref="RetryAfter"/> — set after every failed provider call or during its backoff (the backoff, or
    /// a 429's own Retry-After when longer); null only when the wait for another holder of the connection lock ran out.
    /// </summary>
    public sealed record ProviderUnavailable(TimeSpan? RetryAfter, bool TimedOut) : TokenOutcome;
}
