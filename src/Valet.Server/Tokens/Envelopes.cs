using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Valet.Core.Access;
using Valet.Core.Connections;
using Valet.Core.Flows;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Flows;
using Valet.Server.Http;

namespace Valet.Server.Tokens;

/// <summary>
/// An auth-recovery envelope on the wire (SPEC §5): HTTP 409 problem+json telling the caller what a person must do.
/// <c>type</c> is <c>urn:valet:problem:CODE</c>. An ordinary org's envelope carries a gated <c>connect_url</c> and a
/// <c>flow_id</c> to wait on; a headless org's carries no URL anywhere, only <c>credential_id</c> (present, possibly
/// null) for its integrator to run its own OAuth dance and re-import.
/// </summary>
internal sealed record AuthEnvelope
{
    /// <summary><c>urn:valet:problem:</c> + <see cref="Code"/>.</summary>
    public required string Type { get; init; }

    public required string Title { get; init; }

    /// <summary>Always 409.</summary>
    public int Status { get; init; } = StatusCodes.Status409Conflict;

    public required string Detail { get; init; }

    /// <summary><c>needs_authentication</c>, <c>reauth_required</c> or <c>missing_scopes</c>.</summary>
    public required string Code { get; init; }

    public required string Provider { get; init; }

    /// <summary>The connection a person must repair; null (present) when there is none yet.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
    public string? ConnectionId { get; init; }

    public required IReadOnlyList<string> RequiredScopes { get; init; }

    public required IReadOnlyList<string> MissingScopes { get; init; }

    public required bool Headless { get; init; }

    /// <summary><c>reauth_required</c> only: why the grant needs a person (<c>invalid_grant</c>, <c>mfa_required</c>, <c>consent_required</c>, …; docs/providers.md).</summary>
    public string? Reason { get; init; }

    /// <summary>Headless orgs only: the BYOC credential to run the OAuth dance with (null when the org has none for the provider).</summary>
    public string? CredentialId { get; init; }

    /// <summary>Ordinary orgs: the flow the gated link starts, to wait on with <c>GET /v1/flows/{flow_id}/wait</c>.</summary>
    public string? FlowId { get; init; }

    /// <summary>Ordinary orgs: a Valet URL that works only for a person with a dashboard session of the org.</summary>
    public string? ConnectUrl { get; init; }

    /// <summary>Not on the wire: an operator connects this provider (api_key, basic, oauth2_cc), so the detail says how.</summary>
    [JsonIgnore]
    public bool OperatorConnected { get; init; }

    /// <summary>
    /// JSON contract modifier: <c>credential_id</c> is written exactly when the org is headless (null included), as the
    /// envelope always has; the other optional members are left out when null.
    /// </summary>
    public static void Modify(JsonTypeInfo typeInfo)
    {
        ArgumentNullException.ThrowIfNull(typeInfo);
        if (typeInfo.Type != typeof(AuthEnvelope))
        {
            return;
        }

        foreach (var property in typeInfo.Properties)
        {
            if (property.Name == "credential_id")
            {
                property.ShouldSerialize = static (envelope, _) => ((AuthEnvelope)envelope).Headless;
            }
        }
    }
}

/// <summary>
/// Turns Core's envelope value (<see cref="AccessOutcome.Envelope"/>: what a person must do) into the wire envelope:
/// for an ordinary org a flow (one per org, provider, credential and scopes, reused until a person starts on it) and
/// its gated connect link; for a headless org no flow, no URL, the credential.
/// </summary>
internal sealed class Envelopes(IOrgStore orgs, ClientResolver clients, ConnectStarter starter, Hosting.PublicBaseUrl publicBase,
    Valet.Core.Providers.IProviderCatalog catalog)
{
    public const string ContentType = Problems.ContentType;

    public async Task<AuthEnvelope> BuildAsync(AccessOutcome.Envelope value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(value);

        var org = await orgs.FindAsync(value.OrgId, cancellationToken);
        var headless = org?.Headless ?? false;
        var connection = value.Connection;
        var envelope = new AuthEnvelope
        {
            Type = "urn:valet:problem:" + value.Code,
            Title = value.Title,
            Detail = value.Detail,
            Code = value.Code,
            Provider = value.Provider,
            ConnectionId = connection?.Id,
            RequiredScopes = value.RequiredScopes,
            MissingScopes = value.MissingScopes,
            Headless = headless,
            Reason = value.Code == EnvelopeCodes.ReauthRequired ? value.Reason : null,
        };

        // Scopes to ask for: what the grant has plus what is missing, so reconnecting never narrows it.
        var scopes = (connection?.Scopes ?? []).Concat(value.RequiredScopes).Distinct(StringComparer.Ordinal).ToList();
        if (catalog.Find(value.Provider) is { AuthMode: not AuthMode.OAuth2 } operated)
        {
            // An API key, a basic login or a client-credentials client: an operator stores it, nobody consents in a browser,
            // so there is no connect link in any org and "a person must connect" would send the agent's user nowhere.
            return envelope with
            {
                Detail = OperatorDetail(operated, value, connection?.Id),
                OperatorConnected = true,
                CredentialId = headless ? connection?.CredentialId : null,
            };
        }

        if (headless)
        {
            // The integrator runs the dance itself (SPEC §5): required_scopes is what to ask for — the same union a connect
            // link would ask for, else the provider's defaults — or following one envelope would narrow the grant, and the
            // next call needing the old scopes would ask for those alone, back and forth.
            var provider = catalog.Find(value.Provider);
            var credentialId = connection?.CredentialId ?? await clients.OrgCredentialIdAsync(value.OrgId, value.Provider, cancellationToken);
            return envelope with
            {
                // The provider's required scopes too (offline_access…), as a connect link's flow adds them: without them the
                // integrator's re-import would have no refresh token.
                RequiredScopes = provider?.AuthorizationScopes(scopes) ?? scopes,
                CredentialId = credentialId,
                Detail = envelope.Detail + HeadlessNextStep(provider, value.OrgId, credentialId),
            };
        }

        var start = await starter.EnvelopeFlowAsync(value.OrgId, value.Provider, scopes.Count > 0 ? scopes : null, connection?.CredentialId, cancellationToken,
            connection?.Parameters);
        return start switch
        {
            { Flow: { } flow } => envelope with { FlowId = flow.Id, ConnectUrl = publicBase.For("/connect-authorize?flow=" + Uri.EscapeDataString(flow.Id)) },

            // No link can work yet: say so, rather than leave the agent looking for a URL that is not there.
            { Error: FlowStartError.NoClient } => envelope with
            {
                Detail = envelope.Detail + " No connect link: this provider has no OAuth client yet; an operator must configure one (or register the org's own) first.",
            },
            { Error: FlowStartError.CredentialNotFound or FlowStartError.CredentialMismatch } => envelope with
            {
                Detail = envelope.Detail + " No connect link: the OAuth client this connection was made with is gone; an operator must connect the account again with another client.",
            },
            { Error: FlowStartError.TooManyPending } => envelope with
            {
                Detail = envelope.Detail + " No connect link: the org has too many unfinished connect flows; try again when some have ended or expired.",
            },
            _ => envelope,
        };
    }

    /// <summary>409 problem+json.</summary>
    public static JsonHttpResult<AuthEnvelope> ToResult(AuthEnvelope envelope) =>
        TypedResults.Json(envelope, statusCode: StatusCodes.Status409Conflict, contentType: ContentType);

    public async Task<JsonHttpResult<AuthEnvelope>> ResultAsync(AccessOutcome.Envelope value, CancellationToken cancellationToken) =>
        ToResult(await BuildAsync(value, cancellationToken));

    /// <summary>
    /// What the integrator of a headless org does first when the envelope alone does not say: an import there must pin the
    /// org's own OAuth client (SPEC §5), so without one that comes first; an API-key or basic provider has no OAuth at all,
    /// its secret is stored as a connection.
    /// </summary>
    private static string HeadlessNextStep(ProviderDefinition? provider, string orgId, string? credentialId) => provider switch
    {
        { AuthMode: AuthMode.OAuth2 } oauth when credentialId is null =>
            $" This org has no OAuth client of its own for {oauth.Id} yet: register one (POST /v1/orgs/{orgId}/credentials), run the authorization with it, and import the tokens pinned to it.",
        { AuthMode: AuthMode.OAuth2 } =>
            $" Run the authorization with credential {credentialId} for required_scopes, then import the tokens: POST /v1/orgs/{orgId}/connections/import.",
        _ => string.Empty,
    };

    /// <summary>
    /// The envelope's detail for a provider an operator connects (api_key, basic, oauth2_cc): what is wrong, and the one
    /// route that fixes it. The same in ordinary and headless orgs, since neither has a connect link for it.
    /// </summary>
    internal static string OperatorDetail(ProviderDefinition provider, AccessOutcome.Envelope value, string? connectionId)
    {
        var p = provider.Id;
        var post = $"POST /v1/orgs/{value.OrgId}/connections";
        var account = connectionId is null ? "" : $" --account {value.Connection?.AccountId}";
        var what = provider.AuthMode switch
        {
            AuthMode.OAuth2ClientCredentials => $"with the provider and a registered client's credential_id (valet connections add {p} --credential ID{account})",
            AuthMode.Basic => $"with the provider, a username and a password (valet connections add {p} --username NAME --secret -{account})",
            _ => $"with the provider and its secret (valet connections add {p} --secret -{account})",
        };
        return value.Code switch
        {
            EnvelopeCodes.NeedsAuthentication =>
                $"No usable {p} connection for this key yet. {p} is connected by an operator, not in a browser: {post} {what}.",
            EnvelopeCodes.ReauthRequired => value.Reason switch
            {
                "invalid_client" => $"The {p} client was refused (invalid_client): an operator fixes or replaces the client, then posts connection {connectionId} again with its account id ({post} with account.id {value.Connection?.AccountId}: valet connections add {p} --credential ID{account}).",
                "invalid_scope" => $"The {p} client may not have the scopes it asks for (invalid_scope): an operator posts connection {connectionId} again with scopes it may have ({post}, scopes).",
                _ => $"The {p} connection {connectionId} no longer works ({value.Reason ?? "refused"}): an operator posts it again ({post}) {what}.",
            },
            _ => $"The {p} connection lacks scopes this call needs ({string.Join(", ", value.MissingScopes)}): an operator posts it again with them ({post}, scopes).",
        };
    }
}
