using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// The Manage-access switches say which permissions a key holds, not whether it may reveal a static secret (set through
/// the API or CLI): saving the switches keeps "reveal" on a permission left on, and drops it with a permission turned off.
/// </summary>
public sealed class AccessSwitchRevealTests
{
    [Fact]
    public async Task SavingTheSwitches_KeepsRevealOnAPermissionLeftOn()
    {
        await using var provider = await FakeOAuthServer.StartAsync();
        await using var server = await ValetTestServer.StartAsync(provider.ProviderSettings("acme"));
        using var admin = server.Client();
        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider = "acme", client_id = "acme-client", client_secret = "acme-secret" })).Content.ReadFromJsonAsync<JsonElement>();
        var imported = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider = "acme",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = "at-imported",
            expires_in = 3600,
            account = new { id = "user-1" },
        });
        var connectionId = (await imported.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var (keyId, _) = await server.CreateKeyAsync("default", new { connection = connectionId, reveal = true }, new { provider = "acme" });

        using var browser = SessionKit.Client(server.BaseUrl);
        var session = SessionKit.SetCookie(await SessionKit.SignInAsync(browser)).Split(';')[0];

        // The page shows the reveal permission switched on.
        using (var page = new HttpRequestMessage(HttpMethod.Get, $"/keys/{keyId}/access"))
        {
            page.Headers.Add("Cookie", session);
            var html = await (await browser.SendAsync(page)).Content.ReadAsStringAsync();
            Assert.Matches($"value=\"connection:{connectionId}\" checked", html);
        }

        // Save with the connection left on and the provider turned off.
        var (field, token, antiforgery) = await SessionKit.AntiforgeryAsync(browser, $"/keys/{keyId}/access", session);
        using var save = new HttpRequestMessage(HttpMethod.Post, $"/keys/{keyId}/access")
        {
            Content = new FormUrlEncodedContent([new(field, token), new("access", $"connection:{connectionId}")]),
        };
        save.Headers.Add("Cookie", session + "; " + antiforgery);
        var saved = await browser.SendAsync(save);
        Assert.True(saved.StatusCode is HttpStatusCode.SeeOther or HttpStatusCode.Found or HttpStatusCode.OK, $"save answered {(int)saved.StatusCode}");

        var key = await (await admin.GetAsync($"/v1/keys/{keyId}")).Content.ReadFromJsonAsync<JsonElement>();
        var permission = Assert.Single(key.GetProperty("permissions").EnumerateArray());
        Assert.Equal(connectionId, permission.GetProperty("connection").GetString());
        Assert.True(permission.GetProperty("reveal").GetBoolean());
    }
}
