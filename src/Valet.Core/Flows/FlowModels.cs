using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;

namespace Valet.Core.Flows;

public sealed record StartFlowRequest
{
    public required string OrgId { get; init; }
    public required string Provider { get; init; }

    /// <summary>Null or empty = the provider's default scopes.</summary>
    public IReadOnlyList<string>? Scopes { get; init; }

    public string? CredentialId { get; init; }
    public string? ReturnUrl { get; init; }

    /// <summary>Valet's own public origin (<c>https://valet.example.com</c>): a return URL there is always allowed.</summary>
    public string? OwnOrigin { get; init; }
    public CallbackTransport Transport { get; init; } = CallbackTransport.Gateway;

    /// <summary>The exact redirect URI for this flow (gateway URL, or the loopback listener's).</summary>
    public required string RedirectUri { get; init; }

    /// <summary>
    /// For an auth-recovery envelope: reuse the one reusable flow of the same org, provider, credential and scopes instead
    /// of minting a row per call. The state is never revealed (the connect link re-arms the flow), so reuse is safe.
    /// </summary>
    public bool ForEnvelope { get; init; }

    /// <summary>A dashboard sign-in through the provider (<see cref="Flow.SignIn"/>).</summary>
    public bool SignIn { get; init; }

    /// <summary>Values of the provider's connection parameters (a Zendesk <c>subdomain</c>); checked against the provider.</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }
}

/// <summary>Who may sign in to the dashboard through a provider: the operator allow-list.</summary>
public interface ISignInGate
{
    bool Allows(ProviderDefinition provider, AccountIdentity account);
}

public enum FlowStartError
{
    OrgNotFound,
    UnknownProvider,
    CredentialNotFound,

    /// <summary>The credential belongs to another org or provider.</summary>
    CredentialMismatch,

    /// <summary>Neither a BYOC credential nor a platform client for the provider.</summary>
    NoClient,
    InvalidReturnUrl,

    /// <summary>The org has <see cref="FlowOptions.MaxPendingPerOrg"/> pending flows already.</summary>
    TooManyPending,

    /// <summary>A connection parameter is missing, unknown or invalid, or gives a URL the provider may not use.</summary>
    InvalidParameters,
    /// <summary>The provider is not an authorization-code provider (api_key, basic, oauth2_cc): nothing for a person to consent to.</summary>
    NotConnectable,
}

public sealed record FlowStart
{
    public Flow? Flow { get; init; }

    /// <summary>The raw state: only ever placed in the authorization URL (and given to the service principal's CLI).</summary>
    public string? State { get; init; }

    public Uri? AuthorizationUrl { get; init; }
    public FlowStartError? Error { get; init; }
    public string? Detail { get; init; }

    public static FlowStart Failed(FlowStartError error, string detail) => new() { Error = error, Detail = detail };
}

/// <summary>What the authorization server sent to the redirect URI.</summary>
public sealed record CallbackParameters(string? Code, string? State, string? Iss, string? Error);

/// <summary>The outcome of a callback, for the page shown to the person. <see cref="Error"/> is a coarse code.</summary>
public sealed record CallbackOutcome
{
    public required bool Success { get; init; }
    public string? Error { get; init; }
    public Flow? Flow { get; init; }
    public Connection? Connection { get; init; }

    /// <summary>The state matched no flow we can finish (unknown, replayed, expired): HTTP 400.</summary>
    public bool BadState { get; init; }
}

/// <summary>Coarse error codes a flow can end with. Never the provider's prose.</summary>
public static class FlowErrors
{
    public const string AccessDenied = "access_denied";

    /// <summary>A sign-in flow whose account is not on the operator allow-list: nothing was stored.</summary>
    public const string NotAnOperator = "not_an_operator";
    public const string AuthorizationFailed = "authorization_failed";
    public const string MissingCode = "missing_code";
    public const string IssMissing = "iss_missing";
    public const string IssMismatch = "iss_mismatch";
    public const string TokenExchangeFailed = "token_exchange_failed";
    public const string ProviderUnavailable = "provider_unavailable";
    public const string IdentityUnavailable = "identity_unavailable";
    public const string UnknownState = "unknown_state";
    public const string StateReplayed = "state_already_used";
    public const string Expired = "flow_expired";
    public const string NoClient = "no_client";

    /// <summary>Finishing the flow failed unexpectedly after the state was consumed (a bug or a storage fault).</summary>
    public const string ExchangeFailed = "exchange_failed";
}
