using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Keys;
using Valet.Server.Logging;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// <c>/keys</c>: Create key (the secret shown once), Revoke, and Manage access — a dialog of switches (a plain page
/// without script), saved through the API's permission parser (<see cref="PermissionJson"/>).
/// </summary>
internal static class KeysPage
{
    public static Task<IResult> RenderAsync(DashboardPage page) => RenderAsync(page, null, null, StatusCodes.Status200OK);

    private static async Task<IResult> RenderAsync(DashboardPage page, (ApiKey Key, Secret Secret)? created, IEnumerable<string>? errors, int status)
    {
        var keys = new List<ApiKey>();
        await foreach (var key in page.Service<IApiKeyStore>().ListAsync(page.Org.Id, page.Aborted))
        {
            keys.Add(key);
        }

        var choices = await AccessChoicesAsync(page);
        var secret = created is { } made ? $"""
            <div class="secret" role="status" id="new-key"><strong>Key “{E(made.Key.Name)}” created.</strong> Copy the secret now: it is shown only this once.
            <div class="value"><code id="new-key-secret">{E(made.Secret.Reveal())}</code><button type="button" data-copy="new-key-secret" hidden>Copy</button></div></div>
            """ : string.Empty;
        var list = keys.Count == 0 ? "<p class=\"empty\">No keys yet. Create one for each agent.</p>" : $"""
            <div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Access</th><th scope="col">Created</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead><tbody>
            {Join(keys.OrderBy(k => k.CreatedAt), k => Row(page, k, choices))}
            </tbody></table></div>
            """;
        var body = $"""
            <p class="lead">An agent authenticates with a key and may use only what its access allows.</p>
            {secret}
            <section class="card" aria-labelledby="h-create"><h2 id="h-create">Create key</h2>
            <form method="post" action="/keys" class="inline">{page.Antiforgery}
            <div class="field"><label for="key-name">Name</label><input type="text" id="key-name" name="name" maxlength="100" required placeholder="e.g. release-bot"></div>
            <button type="submit" class="primary" id="create-key">Create key</button></form>
            <p class="muted">A new key has no access; grant it with Manage access.</p></section>
            <section class="card" aria-labelledby="h-keys"><h2 id="h-keys">Keys</h2>{list}</section>
            {Join(keys, k => Dialog(page, k, choices))}
            """;
        return page.Render("Keys", "/keys", body, errors, status: status);
    }

    private static string Row(DashboardPage page, ApiKey key, AccessChoices choices)
    {
        var access = key.Permissions.Count == 0 ? "<span class=\"muted\">none</span>"
            : Join(key.Permissions, p => $"<span class=\"chip\">{E(choices.Label(p))}</span> ");
        return $"""
            <tr data-key="{E(key.Id)}"><td>{E(key.Name)}</td><td class="mono">{E(key.Prefix)}</td><td>{access}</td><td>{When(key.CreatedAt)}</td><td>{When(key.LastUsedAt)}</td>
            <td><div class="actions"><a class="button" href="/keys/{U(key.Id)}/access" data-dialog="access-{E(key.Id)}">Manage access</a>
            <details class="confirm"><summary class="button danger" aria-label="Revoke {E(key.Name)}">Revoke</summary>
            <form method="post" action="/keys/{U(key.Id)}/revoke">{page.Antiforgery}<p>Agents holding <strong>{E(key.Name)}</strong> are refused from their next call. This cannot be undone.</p>
            <button type="submit" class="danger" aria-label="Revoke {E(key.Name)} now">Revoke now</button></form></details></div></td></tr>
            """;
    }

    private static string Dialog(DashboardPage page, ApiKey key, AccessChoices choices) => $"""
        <dialog id="access-{E(key.Id)}" aria-labelledby="access-title-{E(key.Id)}">
        <h2 id="access-title-{E(key.Id)}">Access for {E(key.Name)}</h2>{AccessForm(page, key, choices, true)}</dialog>
        """;

    private static string AccessForm(DashboardPage page, ApiKey key, AccessChoices choices, bool inDialog)
    {
        string Switches(string legend, IEnumerable<(PermissionKind Kind, string Value, string Label, string? Note)> items, string empty)
        {
            var list = items.ToList();
            var inner = list.Count == 0 ? $"<p class=\"empty\">{empty}</p>" : Join(list, item =>
            {
                var value = $"{item.Kind.ToString().ToLowerInvariant()}:{item.Value}";
                var on = key.Permissions.Any(p => p.Kind == item.Kind && p.Value == item.Value); // whether or not it may reveal
                return $"""
                    <label class="switch"><input type="checkbox" role="switch" name="access" value="{E(value)}"{(on ? " checked" : string.Empty)}>
                    <span class="what">{E(item.Label)}{(item.Note is null ? string.Empty : $"<small>{E(item.Note)}</small>")}</span></label>
                    """;
            });
            return $"<fieldset><legend>{legend}</legend>{inner}</fieldset>";
        }

        var cancel = inDialog ? "<button type=\"button\" data-close>Cancel</button>" : $"<a class=\"button\" href=\"/keys\">Cancel</a>";
        return $"""
            <form method="post" action="/keys/{U(key.Id)}/access">{page.Antiforgery}
            {Switches("Connections", choices.Connections, "No connections in this org yet.")}
            {Switches("Providers", choices.Providers, "No providers.")}
            {Switches("Targets", choices.Targets, "No targets in this org yet.")}
            <div class="dialog-actions">{cancel}<button type="submit" class="primary">Save access</button></div></form>
            """;
    }

    public static async Task<IResult> AccessPageAsync(DashboardPage page)
    {
        if (await FindAsync(page) is not { } key)
        {
            return NotFound(page);
        }

        return page.Render($"Access for {key.Name}", "/keys",
            $"<p class=\"lead\"><a href=\"/keys\">Keys</a> › {E(key.Name)}</p><section class=\"card\">{AccessForm(page, key, await AccessChoicesAsync(page), false)}</section>");
    }

    public static async Task<IResult> CreateAsync(DashboardPage page, IFormCollection form)
    {
        var validation = new Validation();
        var name = validation.Text("name", form["name"].ToString(), 100);
        if (!validation.IsValid)
        {
            return await RenderAsync(page, null, validation.Messages, StatusCodes.Status422UnprocessableEntity);
        }

        var created = await KeyIssuer.CreateAsync(page.Org.Id, name!, [], page.Service<IApiKeyStore>(), page.Service<TimeProvider>(),
            page.Service<ILoggerFactory>(), page.Aborted);

        // The secret is in this response only (no-store): reloading /keys shows the key without it.
        return await RenderAsync(page, created, null, StatusCodes.Status200OK);
    }

    public static async Task<IResult> RevokeAsync(DashboardPage page, IFormCollection form)
    {
        if (await FindAsync(page) is not { } key || !await page.Service<IApiKeyStore>().DeleteAsync(key.Id, page.Aborted))
        {
            return NotFound(page);
        }

        Log.KeyRevoked(page.Service<ILoggerFactory>().CreateLogger("Valet.Keys"), key.Id);
        return DashboardPage.Done("/keys", "revoked");
    }

    public static async Task<IResult> SaveAccessAsync(DashboardPage page, IFormCollection form)
    {
        if (await FindAsync(page) is not { } key)
        {
            return NotFound(page);
        }

        // The switches become the API's wire form, checked by the same parser as PUT /v1/keys/{id}/permissions.
        var wire = form["access"].Select(v => v ?? string.Empty).Select(v => v.Split(':', 2)).Where(p => p.Length == 2)
            .Select(p => new Dictionary<string, string> { [p[0]] = p[1] }).ToList();
        var validation = new Validation();
        var permissions = await PermissionJson.ParseAsync(JsonSerializer.SerializeToElement(wire), key.OrgId, validation,
            page.Service<IProviderCatalog>(), page.Service<IConnectionStore>(), page.Service<ITargetStore>(), page.Aborted);
        if (!validation.IsValid)
        {
            return await RenderAsync(page, null, validation.Messages, StatusCodes.Status422UnprocessableEntity);
        }

        // The switches say which permissions the key holds, not "reveal" (set through the API or CLI): one left on keeps it.
        permissions = [.. permissions.Select(p => key.Permissions.Any(old => old.Kind == p.Kind && old.Value == p.Value && old.Reveal) ? p with { Reveal = true } : p)];
        if (await page.Service<IApiKeyStore>().SetPermissionsAsync(key.Id, permissions, page.Aborted) is null)
        {
            return NotFound(page);
        }

        Log.KeyPermissionsChanged(page.Service<ILoggerFactory>().CreateLogger("Valet.Keys"), key.Id, permissions.Count);
        return DashboardPage.Done("/keys", "access_saved");
    }

    private static async Task<ApiKey?> FindAsync(DashboardPage page)
    {
        var id = page.Context.Request.RouteValues["id"] as string ?? string.Empty;
        var key = id.Length is > 0 and <= 64 ? await page.Service<IApiKeyStore>().FindAsync(id, page.Aborted) : null;
        return key is not null && page.User.CanOperate(key.OrgId) ? key : null;
    }

    private static IResult NotFound(DashboardPage page) =>
        page.Render("Key not found", "/keys", "<p><a href=\"/keys\">Back to Keys</a></p>", ["No such key in this org. It may have been revoked."],
            status: StatusCodes.Status404NotFound);

    private static async Task<AccessChoices> AccessChoicesAsync(DashboardPage page)
    {
        var connections = new List<(PermissionKind, string, string, string?)>();
        await foreach (var c in page.Service<IConnectionStore>().ListAsync(page.Org.Id, page.Aborted))
        {
            connections.Add((PermissionKind.Connection, c.Id, IntegrationsPage.Label(c), "this account only"));
        }

        var providers = page.Service<IProviderCatalog>().All.OrderBy(p => p.DisplayName, StringComparer.OrdinalIgnoreCase)
            .Select(p => (PermissionKind.Provider, p.Id, p.DisplayName, (string?)"any account of this provider, including future ones")).ToList();
        var targets = new List<(PermissionKind, string, string, string?)>();
        await foreach (var t in page.Service<ITargetStore>().ListAsync(page.Org.Id, page.Aborted))
        {
            targets.Add((PermissionKind.Target, t.Id, t.Name, t.BaseUrl));
        }

        return new AccessChoices(connections, providers, targets);
    }

    private sealed record AccessChoices(
        IReadOnlyList<(PermissionKind Kind, string Value, string Label, string? Note)> Connections,
        IReadOnlyList<(PermissionKind Kind, string Value, string Label, string? Note)> Providers,
        IReadOnlyList<(PermissionKind Kind, string Value, string Label, string? Note)> Targets)
    {
        public string Label(Permission permission) =>
            Connections.Concat(Providers).Concat(Targets).FirstOrDefault(c => c.Kind == permission.Kind && c.Value == permission.Value).Label
            ?? $"{permission.Kind.ToString().ToLowerInvariant()} {permission.Value}";
    }
}
