using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Playwright;
using Valet.Tests.Credentials;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// Issue 14 in the dashboard: an api_key or basic provider's <b>Add secret</b> form on Integrations and <b>Rotate secret</b>
/// on the connection page, in Chromium against the real server, proven by an agent's proxied call reaching a local API
/// (<see cref="KeyedApi"/>) with the secret injected as the provider says — and the secret in no page, URL or audit event.
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class SecretFormTests(BrowserFixture browser) : IAsyncLifetime
{
    private const string FirstKey = "sk-dash-first-Do-Not-Leak-4c5d";
    private const string SecondKey = "sk-dash-second-Do-Not-Leak-8e9f";
    private const string RefusedKey = "sk refused-Do-Not-Leak";
    private const string Username = "ops@example.test";
    private const string Password = "p@ss word-Do-Not-Leak-31";

    private KeyedApi _api = null!;
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        _api = await KeyedApi.StartAsync();
        var api = _api.BaseUrl.ToString().TrimEnd('/');
        _server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:keyed:DisplayName"] = "Keyed API",
            ["Providers:keyed:AuthMode"] = "api_key",
            ["Providers:keyed:ApiKeyHeader"] = "x-api-key: {secret}",
            ["Providers:keyed:ApiBaseUrl"] = api + "/keyed",
            ["Providers:keyed:AllowPrivateNetwork"] = "true",
            ["Providers:basicapi:DisplayName"] = "Basic API",
            ["Providers:basicapi:AuthMode"] = "basic",
            ["Providers:basicapi:ApiBaseUrl"] = api + "/basic",
            ["Providers:basicapi:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _api.DisposeAsync();
    }

    [Fact]
    public async Task TwoAccountsWithoutADefault_TheCardSaysWhatAgentsGet_TellsLookalikesApart_AndTheNoteGoesWithADefault()
    {
        using var admin = _server.Client();
        var first = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "keyed", api_key = FirstKey, account = new { id = "ops-1", login = "ops" } });
        var second = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "keyed", api_key = SecondKey, account = new { id = "ops-2", login = "ops" } });
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server);

        var card = page.Locator("#provider-keyed");
        Assert.Contains("ambiguous_connection", await card.Locator("#no-default-keyed").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains(first, await card.Locator($"li[data-connection='{first}'] .who").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains(second, await card.Locator($"li[data-connection='{second}'] .who").InnerTextAsync(), StringComparison.Ordinal);
        await card.ScrollIntoViewIfNeededAsync();
        await DashboardKit.ScreenshotAsync(page, "integrations-no-default");
        await DashboardKit.AssertAccessibleAsync(page);

        await card.Locator("#no-default-keyed a").ClickAsync();
        await page.WaitForURLAsync(url => url.EndsWith("/settings#default-keyed", StringComparison.Ordinal));
        await page.Locator("#default-keyed").SelectOptionAsync(second);
        await page.Locator("form[action='/settings/defaults']:has(#default-keyed) button").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=default_saved", StringComparison.Ordinal));

        await page.GotoAsync(new Uri(_server.BaseUrl, "/").ToString());
        Assert.Equal(0, await card.Locator("#no-default-keyed").CountAsync());
        Assert.Equal("Default", await card.Locator($"li[data-connection='{second}'] .badge").InnerTextAsync());
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task AddSecret_ThenAnAgentsProxiedCallCarriesIt_RotateKeepsTheId_RefusalsAreReadable_AndNoPageShowsTheSecret()
    {
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(Username + ":" + Password));
        _api.Accepts = r => r.RawTarget.StartsWith("/keyed/", StringComparison.Ordinal)
            ? r.Header("x-api-key") is FirstKey or SecondKey
            : r.Header("Authorization") == basic;
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        var seen = Record(page);
        await DashboardKit.SignInAsync(page, _server);

        // Integrations: the card offers Add secret (a disclosure), no Connect and no OAuth client advice.
        var card = page.Locator("#provider-keyed");
        Assert.Equal(0, await card.Locator("form[action='/integrations/connect']").CountAsync());
        await card.Locator("summary").ClickAsync();
        Assert.Equal("password", await page.Locator("#add-keyed-key").GetAttributeAsync("type"));
        await page.Locator("#add-keyed-key").FillAsync(FirstKey);
        await DashboardKit.ScreenshotAsync(page, "integrations-add-secret");
        await DashboardKit.AssertAccessibleAsync(page);
        await page.Locator("#add-keyed-save").ClickAsync();

        // The connection's page, saying so; its id in the URL, the secret nowhere.
        await page.WaitForURLAsync(url => url.Contains("done=secret_added", StringComparison.Ordinal));
        var id = new Uri(page.Url).AbsolutePath["/connections/".Length..];
        Assert.Contains("Secret stored", await page.Locator("#flash-ok").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains("API key", await page.Locator("#credential").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal("Keyed API secret", await page.Locator("main h1").InnerTextAsync());
        Assert.Equal(0, await page.Locator("[data-reconnect]").CountAsync()); // nothing to consent to
        await DashboardKit.ScreenshotAsync(page, "connection-api-key");
        await DashboardKit.AssertAccessibleAsync(page);

        // An agent allowed this connection: its proxied call reaches the API with the key in x-api-key, its own header dropped.
        var (_, proxyKey) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(proxyKey);
        using (var call = new HttpRequestMessage(HttpMethod.Get, $"/v1/proxy/{id}/v1/things?limit=1"))
        {
            call.Headers.Add("x-api-key", "agent-chosen");
            using var proxied = await agent.SendAsync(call);
            Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        }

        Assert.Equal("/keyed/v1/things?limit=1", _api.Last.RawTarget);
        Assert.Equal(FirstKey, _api.Last.Header("x-api-key"));

        // A refused rotation: the reason in words (422), nothing changed, the value typed not drawn back.
        await page.Locator("#rotate-key").FillAsync(RefusedKey);
        var refused = await page.RunAndWaitForResponseAsync(() => page.Locator("#rotate-secret").ClickAsync(),
            r => r.Request.Method == "POST" && r.Url.EndsWith($"/connections/{id}/secret", StringComparison.Ordinal));
        Assert.Equal(422, refused.Status);
        Assert.Equal("Not rotated: API key must be printable ASCII without spaces",
            await page.Locator("#flash-error").InnerTextAsync());
        Assert.Equal(string.Empty, await page.Locator("#rotate-key").InputValueAsync());
        await DashboardKit.ScreenshotAsync(page, "connection-rotate-refused");
        await DashboardKit.AssertAccessibleAsync(page);
        using (var still = await agent.GetAsync($"/v1/proxy/{id}/v1/things"))
        {
            Assert.Equal(HttpStatusCode.OK, still.StatusCode);
            Assert.Equal(FirstKey, _api.Last.Header("x-api-key"));
        }

        // Rotate: the same connection id, and the API now sees the new key.
        await page.Locator("#rotate-key").FillAsync(SecondKey);
        await page.Locator("#rotate-secret").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=secret_rotated", StringComparison.Ordinal));
        Assert.Equal("/connections/" + id, new Uri(page.Url).AbsolutePath);
        Assert.Contains("keeps its id", await page.Locator("#flash-ok").InnerTextAsync(), StringComparison.Ordinal);
        using (var rotated = await agent.GetAsync($"/v1/proxy/{id}/v1/things"))
        {
            Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
            Assert.Equal(SecondKey, _api.Last.Header("x-api-key"));
        }

        await DashboardKit.ScreenshotAsync(page, "connection-rotated");
        await page.GotoAsync(new Uri(_server.BaseUrl, "/").ToString());
        Assert.Equal(1, await page.Locator("#provider-keyed li[data-connection]").CountAsync());
        Assert.Equal(id, await page.Locator("#provider-keyed li[data-connection]").GetAttributeAsync("data-connection"));

        // Add secret refusals from Integrations: empty, and longer than the API takes; the form is open again, empty.
        await page.Locator("#provider-keyed summary").ClickAsync();
        await page.Locator("#add-keyed-key").EvaluateAsync("e => e.removeAttribute('required')");
        await PostAddAsync(page, "keyed", 422);
        Assert.Equal("Keyed API: API key is required", await page.Locator("#flash-error").InnerTextAsync());
        Assert.Equal("Keyed API: API key is required", await page.Locator("#add-keyed-error").InnerTextAsync()); // beside the inputs too
        Assert.True(await page.Locator("#add-keyed").EvaluateAsync<bool>("e => e.open"), "the refused form is open again");
        await page.Locator("#add-keyed-key").FillAsync(new string('k', 4097));
        await PostAddAsync(page, "keyed", 422);
        Assert.Equal("Keyed API: API key must be at most 4096 characters", await page.Locator("#flash-error").InnerTextAsync());
        Assert.Equal(string.Empty, await page.Locator("#add-keyed-key").InputValueAsync());
        await DashboardKit.ScreenshotAsync(page, "integrations-add-secret-refused");
        await page.Locator("#provider-keyed").ScreenshotAsync(new() { Path = Path.Combine(DashboardKit.ScreenshotDirectory, "keyed-card-refused.png") });
        await DashboardKit.AssertAccessibleAsync(page);

        // A basic provider: username and password, sent as HTTP Basic; a named account is a connection of its own.
        await page.Locator("#provider-basicapi summary").ClickAsync();
        await page.Locator("#add-basicapi-username").FillAsync(Username);
        Assert.Equal("password", await page.Locator("#add-basicapi-password").GetAttributeAsync("type"));
        await page.Locator("#add-basicapi-password").FillAsync(Password);
        await page.Locator("#add-basicapi-account").FillAsync("billing");
        await page.Locator("#add-basicapi-save").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=secret_added", StringComparison.Ordinal));
        var basicId = new Uri(page.Url).AbsolutePath["/connections/".Length..];
        Assert.Contains("billing", await page.Locator("#account").InnerTextAsync(), StringComparison.Ordinal);
        var (_, basicKey) = await _server.CreateKeyAsync("default", new { connection = basicId });
        using (var basicAgent = _server.Client(basicKey))
        using (var viaBasic = await basicAgent.GetAsync($"/v1/proxy/{basicId}/accounts"))
        {
            Assert.Equal(HttpStatusCode.OK, viaBasic.StatusCode);
            Assert.Equal(basic, _api.Last.Header("Authorization"));
        }

        await DashboardKit.ScreenshotAsync(page, "connection-basic");
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.DoesNotContain(consoleErrors, e => !e.Contains("422", StringComparison.Ordinal));
        await page.Context.CloseAsync();

        // Phone width, dark: the open form and the rotate card fit the screen.
        var (phone, _) = await DashboardKit.NewPageAsync(browser, 390, 844, ColorScheme.Dark);
        var phoneSeen = Record(phone);
        await DashboardKit.SignInAsync(phone, _server);
        await phone.Locator("#provider-basicapi summary").ClickAsync();
        await phone.Locator("#provider-basicapi").ScrollIntoViewIfNeededAsync();
        await DashboardKit.AssertFitsWidthAsync(phone);
        await phone.Locator("#provider-basicapi").ScreenshotAsync(new() { Path = Path.Combine(DashboardKit.ScreenshotDirectory, "integrations-add-secret-phone-dark.png") });
        await phone.GotoAsync(new Uri(_server.BaseUrl, $"/connections/{id}").ToString());
        await DashboardKit.AssertFitsWidthAsync(phone);
        await DashboardKit.ScreenshotAsync(phone, "connection-api-key-phone-dark");
        await DashboardKit.AssertAccessibleAsync(phone);
        await phone.Context.CloseAsync();

        // No secret in any page the browser was given, any URL it visited, or the audit trail.
        using var admin = _server.Client();
        var audit = await admin.GetStringAsync("/v1/orgs/default/audit?limit=200");
        Assert.Contains("connection.", audit, StringComparison.Ordinal);
        var everything = string.Join("\n", (await seen()).Concat(await phoneSeen()).Append(audit));
        Assert.Contains("Rotate secret", everything, StringComparison.Ordinal);
        foreach (var secret in new[] { FirstKey, SecondKey, RefusedKey, Password, Uri.EscapeDataString(Password), WebUtility.HtmlEncode(Password) })
        {
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task SecretForms_WithoutAValidAntiforgeryToken_ChangeNothing_AndAnOAuthConnectionHasNoRotateForm()
    {
        using var client = SessionKit.Client(_server.BaseUrl);
        var cookie = await SessionKit.SessionCookieAsync(client);
        using var forged = new HttpRequestMessage(HttpMethod.Post, "/integrations/secret")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["provider"] = "keyed", ["api_key"] = FirstKey }),
        };
        forged.Headers.Add("Cookie", cookie);

        using var response = await client.SendAsync(forged);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("Form expired", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var admin = _server.Client();
        Assert.Equal("[]", (await admin.GetStringAsync("/v1/orgs/default/connections")).Trim());

        // With its token, a post for a provider that takes no secret (an oauth2 one) is a readable refusal, not a 500.
        var (field, token, afCookie) = await SessionKit.AntiforgeryAsync(client, "/", cookie);
        using var wrong = new HttpRequestMessage(HttpMethod.Post, "/integrations/secret")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { [field] = token, ["provider"] = "github", ["api_key"] = FirstKey }),
        };
        wrong.Headers.Add("Cookie", cookie + "; " + afCookie);
        using var refused = await client.SendAsync(wrong);
        var html = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Contains("does not take a secret here", html, StringComparison.Ordinal);
        Assert.DoesNotContain(FirstKey, html, StringComparison.Ordinal);
    }

    private static async Task PostAddAsync(IPage page, string provider, int status)
    {
        var response = await page.RunAndWaitForResponseAsync(() => page.Locator($"#add-{provider}-save").ClickAsync(),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/integrations/secret", StringComparison.Ordinal));
        Assert.Equal(status, response.Status);
        await page.Locator("#flash-error").WaitForAsync();
    }

    /// <summary>Every URL the page requests and the body of every HTML document it is given, read when asked.</summary>
    private static Func<Task<List<string>>> Record(IPage page)
    {
        var urls = new ConcurrentQueue<string>();
        var bodies = new ConcurrentQueue<Task<string>>();
        page.Request += (_, request) => urls.Enqueue(request.Url + " " + request.PostData);
        page.Response += (_, response) =>
        {
            if (response.Headers.TryGetValue("content-type", out var type) && type.StartsWith("text/html", StringComparison.Ordinal) && response.Status is < 300 or >= 400)
            {
                bodies.Enqueue(ReadAsync(response));
            }
        };
        return async () =>
        {
            var all = urls.Where(u => !u.Contains("/secret ", StringComparison.Ordinal) && !u.Contains("/integrations/secret", StringComparison.Ordinal)).ToList();
            foreach (var body in bodies)
            {
                all.Add(await body);
            }

            Assert.True(bodies.Count >= 3 && all.Count(b => b.Contains("<!doctype html>", StringComparison.Ordinal)) == bodies.Count,
                $"every HTML body was read ({bodies.Count})");
            return all;
        };
    }

    private static async Task<string> ReadAsync(IResponse response)
    {
        try
        {
            return await response.TextAsync();
        }
        catch (PlaywrightException e)
        {
            return "unread: " + e.Message;
        }
    }
}
