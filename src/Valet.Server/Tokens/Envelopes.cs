using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Flows;
using Valet.Server.Http;

namespace Valet.Server.Tokens;

internal static class EnvelopeCodes
{
    public const string NeedsAuthentication = "needs_authentication";
    public const string ReauthRequired = "reauth_required";
    public const string MissingScopes = "missing_scopes";
}

/// <summary>
/// Auth-recovery envelopes (SPEC §5): HTTP 409 problem+json telling the caller what a person must do. An ordinary org
/// gets a gated <c>connect_url</c> and a <c>flow_id</c> to wait on; a headless org gets no URL anywhere and no flow row,
/// only what its integrator needs to run its own OAuth dance and re-import.
/// </summary>
internal sealed class Envelopes(IOrgStore orgs, ICredentialStore credentials, ConnectStarter starter, Hosting.PublicBaseUrl publicBase)
{
    public async Task<Dictionary<string, object?>> BuildAsync(string code, string orgId, string provider, Connection? connection,
        IReadOnlyList<string> requiredScopes, IReadOnlyList<string> missingScopes, HttpRequest request, CancellationToken cancellationToken)
    {
        var org = await orgs.FindAsync(orgId, cancellationToken);
        var headless = org?.Headless ?? false;
        var (title, detail) = code switch
        {
            EnvelopeCodes.NeedsAuthentication => ("Authentication needed", $"No usable {provider} connection for this key yet: a person must connect an account."),
            EnvelopeCodes.ReauthRequired => ("Re-authentication required", $"The {provider} grant is no longer valid: a person must reconnect."),
            _ => ("Missing scopes", $"The {provider} connection lacks scopes this call needs: a person must grant them."),
        };

        var envelope = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["type"] = "urn:valet:problem:" + code,
            ["title"] = title,
            ["status"] = StatusCodes.Status409Conflict,
            ["detail"] = detail,
            ["code"] = code,
            ["provider"] = provider,
            ["connection_id"] = connection?.Id,
            ["required_scopes"] = requiredScopes,
            ["missing_scopes"] = missingScopes,
            ["headless"] = headless,
        };

        if (headless)
        {
            envelope["credential_id"] = connection?.CredentialId ?? await FirstCredentialAsync(orgId, provider, cancellationToken);
            return envelope;
        }

        // Scopes to ask for: what the grant has plus what is missing, so reconnecting never narrows it.
        var scopes = (connection?.Scopes ?? []).Concat(requiredScopes).Distinct(StringComparer.Ordinal).ToList();
        // One flow per (org, provider, credential, scopes), reused by every envelope until a person starts on it.
        var flow = await starter.EnvelopeFlowAsync(orgId, provider, scopes.Count > 0 ? scopes : null, connection?.CredentialId, cancellationToken);
        if (flow is not null)
        {
            envelope["flow_id"] = flow.Id;
            envelope["connect_url"] = publicBase.For("/connect-authorize?flow=" + Uri.EscapeDataString(flow.Id));
        }

        return envelope;
    }

    public static IResult ToResult(Dictionary<string, object?> envelope) =>
        Results.Json(envelope, statusCode: StatusCodes.Status409Conflict, contentType: Problems.ContentType);

    private async Task<string?> FirstCredentialAsync(string orgId, string provider, CancellationToken cancellationToken)
    {
        await foreach (var credential in credentials.ListAsync(orgId, cancellationToken))
        {
            if (credential.Provider == provider)
            {
                return credential.Id;
            }
        }

        return null;
    }
}
