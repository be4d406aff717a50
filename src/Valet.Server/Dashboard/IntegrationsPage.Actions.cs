using Microsoft.AspNetCore.Http;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Connections;
using Valet.Server.Flows;
using Valet.Server.Hosting;
using Valet.Server.Http;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>The Integrations page's forms: Connect (or Reconnect) and Add secret.</summary>
internal static partial class IntegrationsPage
{
    /// <summary>
    /// Connect (a provider) and Reconnect (a connection): a gateway flow through the API's <see cref="ConnectStarter"/>,
    /// returning to the page it was pressed on.
    /// </summary>
    public static async Task<IResult> ConnectAsync(DashboardPage page, IFormCollection form)
    {
        Connection? existing = null;
        if (form["connection"].ToString() is { Length: > 0 } reconnect)
        {
            existing = reconnect.Length <= 64 ? await page.Service<IConnectionStore>().FindAsync(reconnect, page.Aborted) : null;
            if (existing is null || existing.OrgId != page.Org.Id || !page.User.CanOperate(existing.OrgId))
            {
                return await RenderAsync(page, ["That connection is not in this org any more: it may have been disconnected. Connect the provider again instead."],
                    StatusCodes.Status404NotFound);
            }
        }

        var provider = existing?.Provider ?? form["provider"].ToString();
        var definition = page.Service<IProviderCatalog>().Find(provider);
        if (definition is null)
        {
            return await RenderAsync(page, [$"Unknown provider '{provider}'."], StatusCodes.Status422UnprocessableEntity);
        }

        // A templated provider's values (a Zendesk subdomain): a reconnect reuses the connection's own; a new connection takes
        // what the form's labelled inputs hold. The flow engine checks them (ConnectionParameters), as for the API.
        var parameters = existing?.Parameters;
        if (existing is null && definition.ConnectionParameters.Count > 0)
        {
            parameters = definition.ConnectionParameters.ToDictionary(p => p.Name, p => form["param_" + p.Name].ToString(), StringComparer.Ordinal);
        }

        // A reconnect keeps the connection's own client; otherwise the flow engine's rule (ClientResolver.OrgCredentialIdAsync):
        // the org's newest client for the provider, else the platform's.
        var credentialId = existing?.CredentialId;

        // Reconnecting never narrows the grant: the provider's defaults plus every scope the connection holds (as the
        // reauth envelope's flow asks for what the grant has).
        IReadOnlyList<string>? scopes = existing?.Scopes is { Count: > 0 } granted
            ? [.. definition.DefaultScopes.Concat(granted).Distinct(StringComparer.Ordinal)]
            : null;
        var back = existing is null ? "/"
            : form["back"] == "connection" ? $"/connections/{U(existing.Id)}?reconnect={U(existing.Id)}"
            : $"/?reconnect={U(existing.Id)}";
        var (started, problem) = await page.Service<ConnectStarter>().StartAsync(page.Org.Id, definition.Id, scopes, credentialId, CallbackTransport.Gateway,
            page.Service<PublicBaseUrl>().For(back), parameters, page.Aborted);
        if (started is null)
        {
            // The API's refusal, in its words: a bad parameter names the parameter and what it must be (never the value).
            var refused = problem as ProblemResult;
            var message = refused?.Code switch
            {
                "invalid_parameters" or "not_connectable" => $"{definition.DisplayName} was not connected: {Detail(refused)}",
                _ => $"{definition.DisplayName} cannot be connected now: it has no OAuth client, or too many connections are pending. See the card below.",
            };
            return await RenderAsync(page, [message], refused?.StatusCode ?? StatusCodes.Status422UnprocessableEntity,
                existing is null ? new Retry(definition.Id, [message], parameters) : null);
        }

        return Results.Redirect(started.AuthorizationUrl.AbsoluteUri);
    }

    private static string Detail(ProblemResult? problem) =>
        problem?.Value is IReadOnlyDictionary<string, object?> body && body.TryGetValue("detail", out var detail) && detail is string text ? text : "the request was refused.";

    /// <summary>
    /// <b>Add secret</b>: an <c>api_key</c> or <c>basic</c> connection through the API's rule (<see cref="OperatorConnections.CreateAsync"/>),
    /// so the same validation, the same in-place replacement for an account that exists, the same audit. The secret goes
    /// nowhere but the store: the answer is a redirect naming the connection, or this page with the problems in words.
    /// </summary>
    public static async Task<IResult> AddSecretAsync(DashboardPage page, IFormCollection form)
    {
        var catalog = page.Service<IProviderCatalog>();
        var provider = catalog.Find(form["provider"].ToString());
        if (provider is null || !AuthModes.IsStatic(provider.AuthMode))
        {
            return await RenderAsync(page, ["That provider does not take a secret here: connect it with its Connect button."], StatusCodes.Status422UnprocessableEntity);
        }

        var (apiKey, username, password) = SecretForms.Read(provider, form);
        var account = form["account"].ToString() is { Length: > 0 } name && !string.IsNullOrWhiteSpace(name) ? new ImportAccount(name.Trim(), name.Trim(), null) : null;
        var site = form["api_base_url"].ToString() is { Length: > 0 } url ? url : null;
        var validation = new Validation();
        var saved = await OperatorConnections.CreateAsync(page.Org.Id, new CreateConnectionRequest(provider.Id, account, apiKey, username, password, null, null, site),
            validation, catalog, page.Service<ICredentialStore>(), page.Service<IConnectionStore>(), page.Service<ConnectionRegistry>(), page.Service<ClientResolver>(),
            page.Service<TimeProvider>(), page.Org.Headless, page.Aborted);
        if (saved is not var (connection, created))
        {
            var messages = SecretForms.Messages(validation).Select(m => $"{provider.DisplayName}: {m}").ToList();
            return await RenderAsync(page, messages, StatusCodes.Status422UnprocessableEntity, new Retry(provider.Id, messages));
        }

        return DashboardPage.Done($"/connections/{U(connection.Id)}", created ? "secret_added" : "secret_replaced");
    }
}
