using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;

namespace Valet.Core.Tokens;

/// <summary>The pure half of refreshing: freshness, schedule, and the row each outcome writes.</summary>
internal static class RefreshPolicy
{
    public const string InvalidGrant = "invalid_grant";
    public const string InvalidClient = "invalid_client";
    public const string OutcomeUnknown = "refresh_outcome_unknown";
    public const string NoRefreshToken = "no_refresh_token";
    public const string NoClient = "no_client";
    public const string UnknownProvider = "unknown_provider";

    /// <summary>The connection's parameters no longer bind to its provider's URL templates (the catalog changed).</summary>
    public const string InvalidParameters = "invalid_parameters";

    /// <summary>Active, but the provider asked us to wait (429): on-demand callers honour it too.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>
    /// Usable without refreshing: no expiry (non-expiring), or expiring later than now + skew. For a token Valet fetched
    /// itself (<see cref="Connection.LastRefreshedAt"/> known) the skew is at most half its lifetime, as the proactive
    /// schedule's lead is (<see cref="NextRefresh"/>): a 20-second client-credentials token was never fresh under the
    /// 2-minute default skew, so every call fetched a new one.
    /// </summary>
    public static bool IsFresh(Connection connection, DateTimeOffset now, TimeSpan skew)
    {
        if (connection.ExpiresAt is not { } expiresAt)
        {
            return true;
        }

        if (connection.LastRefreshedAt is { } issued && expiresAt > issued && (expiresAt - issued) / 2 < skew)
        {
            skew = (expiresAt - issued) / 2;
        }

        return expiresAt > now + skew;
    }

    /// <summary>
    /// When the background refresher should renew a token: <c>ProactiveLead</c> before expiry, but never earlier than
    /// half-way through its life (a 60-second token is renewed after 30 s, not in a loop). Null when it never expires.
    /// </summary>
    public static DateTimeOffset? NextRefresh(DateTimeOffset? expiresAt, DateTimeOffset now, TimeSpan proactiveLead)
    {
        if (expiresAt is not { } expiry)
        {
            return null;
        }

        var remaining = expiry - now;
        var lead = remaining <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromTicks(Math.Min(proactiveLead.Ticks, remaining.Ticks / 2));
        return expiry - lead;
    }

    public static DateTimeOffset? ExpiryFrom(TokenSet tokens, DateTimeOffset now, RefreshOptions options)
    {
        // One lifetime rule (TokenRules): expires_in ≤ 0 is as good as absent, and at most MaxLifetime counts.
        return TokenRules.ExpiresAt(now, tokens)
            ?? (options.NoExpiryPolicy == NoExpiryPolicy.AssumedLifetime ? now + options.NoExpiryAssumedLifetime : null);
    }

    /// <summary>The row after a successful refresh. A response without a refresh token keeps the old one.</summary>
    public static Connection Refreshed(Connection current, TokenSet tokens, ProviderDefinition provider, DateTimeOffset now, RefreshOptions options)
    {
        var expiresAt = ExpiryFrom(tokens, now, options);
        return current with
        {
            AccessToken = tokens.AccessToken,
            RefreshToken = tokens.RefreshToken ?? current.RefreshToken,
            TokenType = string.IsNullOrEmpty(tokens.TokenType) ? current.TokenType : tokens.TokenType,
            ExpiresAt = expiresAt,
            Scopes = tokens.Scopes ?? current.Scopes,
            ApiBaseUrl = provider.Has(ProviderQuirks.InstanceUrlApiBase) && !string.IsNullOrEmpty(tokens.InstanceUrl)
                ? tokens.InstanceUrl
                : current.ApiBaseUrl,
            Status = ConnectionStatus.Active,
            StatusReason = null,
            RefreshFailures = 0,
            NextRefreshAt = NextRefresh(expiresAt, now, options.ProactiveLead),
            LastRefreshedAt = now,
            UpdatedAt = now,
        };
    }

    /// <summary>The row after a terminal answer: a person must reconnect. Tokens are kept (nothing is discarded).</summary>
    public static Connection Dead(Connection current, string reason, DateTimeOffset now) => current with
    {
        Status = ConnectionStatus.ReauthRequired,
        StatusReason = reason,
        NextRefreshAt = null,
        UpdatedAt = now,
    };

    /// <summary>
    /// The row after a transient failure: tokens and status untouched; one more failure and a retry time. A timeout
    /// additionally marks the outcome unknown (the provider may have rotated the refresh token without our seeing it).
    /// </summary>
    public static Connection Postponed(Connection current, TokenErrorKind kind, DateTimeOffset nextAttempt, DateTimeOffset now) => current with
    {
        RefreshFailures = current.RefreshFailures + 1,
        NextRefreshAt = nextAttempt,
        StatusReason = kind switch
        {
            TokenErrorKind.Timeout => OutcomeUnknown,
            _ when current.StatusReason == OutcomeUnknown => OutcomeUnknown, // still unconfirmed: the label must survive
            TokenErrorKind.RateLimited => RateLimited,
            _ => null,
        },
        UpdatedAt = now,
    };

    /// <summary>
    /// How long an on-demand caller should wait instead of calling the provider: the provider rate-limited us, or another
    /// caller (on any node) failed after this caller read the row. Null: go ahead.
    /// </summary>
    public static TimeSpan? WaitBeforeRetry(Connection current, Connection? observed, RefreshReason reason, DateTimeOffset now)
    {
        if (reason == RefreshReason.Proactive || current.RefreshFailures == 0 || current.NextRefreshAt is not { } next || next <= now)
        {
            return null;
        }

        var failedMeanwhile = observed is not null && current.RefreshFailures > observed.RefreshFailures;
        return current.StatusReason == RateLimited || failedMeanwhile ? next - now : null;
    }

    /// <summary>A client-credentials connection's client may not have the scopes it asks for (RFC 6749 §5.2).</summary>
    public const string InvalidScope = "invalid_scope";

    /// <summary>
    /// Asking again cannot help. For every grant: dead, client refused, a person must act (<see cref="TokenError.IsTerminal"/>).
    /// For a client-credentials connection also <c>invalid_scope</c> (RFC 6749 §5.2): its client may not have the scopes
    /// it asks for, and retrying with backoff only repeated the refusal while agents read "try again later". There is no
    /// refresh token to lose, so it ends as <c>reauth_required</c> with that reason until an operator posts it again. For a
    /// refresh-token grant it stays retried: an error the spec does not define as the grant's death never kills a grant.
    /// </summary>
    public static bool IsTerminal(TokenError error, ProviderDefinition provider) =>
        error.IsTerminal || (provider.AuthMode == AuthMode.OAuth2ClientCredentials && error.Code == InvalidScope);

    /// <summary>Coarse status reason for a terminal error; an earlier unknown outcome explains an invalid_grant best.</summary>
    public static string TerminalReason(Connection current, TokenError error) =>
        error.Kind == TokenErrorKind.InvalidClient ? InvalidClient
        : error.Kind == TokenErrorKind.InteractionRequired ? error.Code // what the person must do (InteractionReasons)
        : error.Code == InvalidScope ? InvalidScope // client credentials: the scopes must change, an operator's fix
        : current.StatusReason == OutcomeUnknown ? OutcomeUnknown
        : InvalidGrant;

    /// <summary>
    /// The audit detail of a failed refresh that will be retried: the class, and the reason when it says more
    /// (<c>transient: invalid_token_value</c>, <c>oauth_error: http_418</c>; a timeout is just <c>timeout</c>).
    /// </summary>
    public static string FailureDetail(string failureClass, string code) =>
        code == failureClass ? failureClass : failureClass + ": " + code;

    /// <summary>The <c>class</c> tag of <c>valet.refresh.failures</c>.</summary>
    public static string FailureClass(TokenErrorKind kind) => kind switch
    {
        TokenErrorKind.InvalidGrant => "invalid_grant",
        TokenErrorKind.InvalidClient => "invalid_client",
        TokenErrorKind.OtherOAuthError => "oauth_error",
        TokenErrorKind.RateLimited => "rate_limited",
        TokenErrorKind.Timeout => "timeout",
        TokenErrorKind.InteractionRequired => "interaction_required",
        _ => "transient",
    };
}
