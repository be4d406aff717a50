using System.Net;

namespace Valet.Client;

/// <summary>
/// Valet answered with an error (RFC 9457 problem details with a stable <see cref="Code"/>). The base of every Valet
/// exception: catch it to handle them all. Never carries a token or an API key.
/// </summary>
public class ValetApiException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ValetApiException(HttpStatusCode statusCode, string? code, string? title, string? detail, TimeSpan? retryAfter = null)
        : base(MessageOf(statusCode, code, title, detail))
    {
        StatusCode = statusCode;
        Code = code;
        Title = title;
        Detail = detail;
        RetryAfter = retryAfter;
    }

    /// <summary>The HTTP status Valet answered with.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The problem's stable <c>code</c> (e.g. <c>forbidden</c>, <c>connection_not_found</c>), if the answer was problem+json.</summary>
    public string? Code { get; }

    /// <summary>The problem's title.</summary>
    public string? Title { get; }

    /// <summary>The problem's detail sentence.</summary>
    public string? Detail { get; }

    /// <summary>How long to wait before trying again, when Valet sent <c>Retry-After</c> (429, 502/504, 503).</summary>
    public TimeSpan? RetryAfter { get; }

    private static string MessageOf(HttpStatusCode status, string? code, string? title, string? detail) =>
        $"Valet answered {(int)status}{(code is null ? "" : " " + code)}: {detail ?? title ?? "no detail"}";
}

/// <summary>
/// A person must act before the call can succeed (HTTP 409 envelope, SPEC §5). See the subclasses for each
/// <see cref="ValetApiException.Code"/>, and <see cref="Requirement"/> for everything the envelope carries.
/// </summary>
public class ValetAuthRequiredException : ValetApiException
{
    /// <summary>Creates the exception from its envelope.</summary>
    public ValetAuthRequiredException(ValetAuthRequirement requirement)
        : base(HttpStatusCode.Conflict, requirement?.Code, requirement?.Title, requirement?.Detail)
    {
        ArgumentNullException.ThrowIfNull(requirement);
        Requirement = requirement;
    }

    /// <summary>The whole envelope.</summary>
    public ValetAuthRequirement Requirement { get; }

    /// <summary>Provider id.</summary>
    public string Provider => Requirement.Provider;

    /// <summary>The connection concerned, if any.</summary>
    public string? ConnectionId => Requirement.ConnectionId;

    /// <summary>A Valet page a signed-in operator of the org opens to connect or reconnect (null for a headless org).</summary>
    public Uri? ConnectUrl => Requirement.ConnectUrl;

    /// <summary>The flow to wait on (null for a headless org).</summary>
    public string? FlowId => Requirement.FlowId;

    /// <summary>Scopes the call asked for.</summary>
    public IReadOnlyList<string> RequiredScopes => Requirement.RequiredScopes;

    /// <summary>Scopes the connection lacks.</summary>
    public IReadOnlyList<string> MissingScopes => Requirement.MissingScopes;

    /// <summary>Whether the org is headless: no URL, no flow; run your own OAuth dance with <see cref="CredentialId"/> and import.</summary>
    public bool Headless => Requirement.Headless;

    /// <summary>Headless orgs: the BYOC credential to use.</summary>
    public string? CredentialId => Requirement.CredentialId;

    /// <summary>Waits for the person to finish; see <see cref="ValetAuthRequirement.WaitForFlowAsync"/>.</summary>
    /// <exception cref="InvalidOperationException">The envelope has no flow: a headless org's, or one without a <see cref="FlowId"/>.</exception>
    public Task<ValetFlow> WaitForFlowAsync(ValetClient client, TimeSpan timeout, CancellationToken cancellationToken = default) =>
        Requirement.WaitForFlowAsync(client, timeout, cancellationToken);

    internal static ValetAuthRequiredException From(ValetAuthRequirement requirement) => requirement.Code switch
    {
        ValetEnvelopeCodes.NeedsAuthentication => new ValetNeedsAuthenticationException(requirement),
        ValetEnvelopeCodes.ReauthRequired => new ValetReauthRequiredException(requirement),
        ValetEnvelopeCodes.MissingScopes => new ValetMissingScopesException(requirement),
        _ => new ValetAuthRequiredException(requirement),
    };
}

/// <summary><c>needs_authentication</c>: no usable connection for this provider and key yet; a person must connect an account.</summary>
public sealed class ValetNeedsAuthenticationException(ValetAuthRequirement requirement) : ValetAuthRequiredException(requirement);

/// <summary><c>reauth_required</c>: the grant is dead; a person must reconnect.</summary>
public sealed class ValetReauthRequiredException(ValetAuthRequirement requirement) : ValetAuthRequiredException(requirement)
{
    /// <summary>
    /// Why: <c>invalid_grant</c> (revoked or expired: reconnect), <c>invalid_client</c> (an operator must fix the OAuth
    /// client), or what the person must do at the provider (<c>mfa_required</c>, <c>consent_required</c>,
    /// <c>conditional_access</c>, <c>login_required</c>, <c>interaction_required</c>). See <see cref="ValetAuthRequirement.Reason"/>.
    /// </summary>
    public string? Reason => Requirement.Reason;
}

/// <summary><c>missing_scopes</c>: connected, but a person must grant <see cref="ValetAuthRequiredException.MissingScopes"/>.</summary>
public sealed class ValetMissingScopesException(ValetAuthRequirement requirement) : ValetAuthRequiredException(requirement);

/// <summary>
/// <c>provider_unavailable</c> (502/504): the provider could not be reached or could not refresh the token. The
/// connection is unchanged; try again after <see cref="ValetApiException.RetryAfter"/>.
/// </summary>
public sealed class ValetProviderUnavailableException(HttpStatusCode statusCode, string? title, string? detail, TimeSpan? retryAfter)
    : ValetApiException(statusCode, "provider_unavailable", title, detail, retryAfter);

/// <summary>
/// <c>ambiguous_connection</c> (409): several connections of the provider could serve and the org has no default for it.
/// Call by connection id, or have an operator set a default (<c>PUT /v1/orgs/{org}/defaults/{provider}</c>).
/// </summary>
public sealed class ValetAmbiguousConnectionException(string? title, string? detail, IReadOnlyList<ValetConnection> connections)
    : ValetApiException(HttpStatusCode.Conflict, "ambiguous_connection", title, detail)
{
    /// <summary>The connections that could serve.</summary>
    public IReadOnlyList<ValetConnection> Connections { get; } = connections;
}
