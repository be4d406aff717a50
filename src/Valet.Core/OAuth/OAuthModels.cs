using Valet.Core.Domain;

namespace Valet.Core.OAuth;

/// <summary>Client id/secret used against a provider's token endpoint (platform or BYOC).</summary>
public sealed record ClientCredentials(string ClientId, Secret? ClientSecret);

/// <summary>A successful token endpoint response, after quirks are applied.</summary>
public sealed record TokenSet
{
    public required Secret AccessToken { get; init; }
    public Secret? RefreshToken { get; init; }
    public string TokenType { get; init; } = "Bearer";

    /// <summary>Seconds from the response, when present.</summary>
    public long? ExpiresIn { get; init; }

    /// <summary>
    /// The access token's own <c>exp</c>, when the response has no <c>expires_in</c> and the token is a JWT (monday's
    /// tokens). Read, never verified: it only schedules the refresh, as <c>expires_in</c> would (<see cref="TokenRules.ExpiresAt(DateTimeOffset, TokenSet)"/>).
    /// </summary>
    public DateTimeOffset? AccessTokenExp { get; init; }

    /// <summary>Scopes from the response; null when the response did not say.</summary>
    public IReadOnlyList<string>? Scopes { get; init; }

    /// <summary>Salesforce-style <c>instance_url</c>.</summary>
    public string? InstanceUrl { get; init; }

    /// <summary>Identity the token response itself carries (Slack <c>authed_user.id</c>, OIDC <c>id_token</c> sub…).</summary>
    public string? AccountIdHint { get; init; }

    public override string ToString() => $"TokenSet {{ TokenType = {TokenType}, ExpiresIn = {ExpiresIn} }}";
}

public enum TokenErrorKind
{
    /// <summary><c>invalid_grant</c>, revoked or expired grant: a person must reconnect.</summary>
    InvalidGrant,

    /// <summary><c>invalid_client</c> / <c>unauthorized_client</c>: the credential is wrong (terminal).</summary>
    InvalidClient,

    /// <summary>Any other OAuth error answered by the provider (4xx with an <c>error</c>).</summary>
    OtherOAuthError,

    /// <summary>5xx, connection refused, malformed answer: try again later.</summary>
    Transient,

    /// <summary>429: try again after <see cref="TokenError.RetryAfter"/>.</summary>
    RateLimited,

    /// <summary>The request went out and no answer came in time: outcome unknown.</summary>
    Timeout,

    /// <summary>
    /// A person must act before the grant works again (MFA, consent, sign-in, Conditional Access): terminal, like
    /// <see cref="InvalidGrant"/>, with <see cref="TokenError.Code"/> the reason (see <see cref="InteractionReasons"/>).
    /// </summary>
    InteractionRequired,
}

/// <summary>A failed token call. <see cref="Code"/> is the provider's <c>error</c> member (a short code), never its prose.</summary>
public sealed record TokenError(TokenErrorKind Kind, string Code, TimeSpan? RetryAfter = null, int? HttpStatus = null)
{
    public bool IsTerminal => Kind is TokenErrorKind.InvalidGrant or TokenErrorKind.InvalidClient or TokenErrorKind.InteractionRequired;
}

/// <summary>Either a <see cref="TokenSet"/> or a <see cref="TokenError"/>: expected failures are values, not exceptions.</summary>
public sealed record TokenResult
{
    public TokenSet? Tokens { get; private init; }
    public TokenError? Error { get; private init; }

    public bool IsSuccess => Tokens is not null;

    public static TokenResult Success(TokenSet tokens) => new() { Tokens = tokens };

    public static TokenResult Failure(TokenError error) => new() { Error = error };
}

/// <summary>The account a grant belongs to.</summary>
/// <summary>
/// The account a grant belongs to. <paramref name="EmailVerified"/>: the identity endpoint said so (OIDC's
/// <c>email_verified</c> beside the email); false when it did not say.
/// </summary>
public sealed record AccountIdentity(string Id, string? Login, string? Email, bool EmailVerified = false);

public sealed record AuthorizationRequest
{
    public required string ClientId { get; init; }
    public required string RedirectUri { get; init; }
    public required IReadOnlyList<string> Scopes { get; init; }
    public required string State { get; init; }
    public required string CodeChallenge { get; init; }
}
