using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>SPEC §10: `valet dashboard` prints a single-use sign-in link that expires in 5 minutes.</summary>
public sealed class SignInLinkTests : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData(3, "Open this link to sign in")] // xdg-open's "no browser found"
    [InlineData(0, "Opened your browser")]
    public async Task ValetDashboard_SaysItOpenedABrowser_OnlyWhenTheOpenerSucceeded(int openerExit, string said)
    {
        // Stand-in openers on PATH: the real xdg-open and sensible-browser of whatever machine runs this are not the test.
        var bin = Directory.CreateTempSubdirectory("valet-openers-").FullName;
        foreach (var opener in new[] { "xdg-open", "sensible-browser" })
        {
            var script = Path.Combine(bin, opener);
            await File.WriteAllTextAsync(script, $"#!/bin/sh\nexit {openerExit}\n");
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        }

        var result = await CliRunner.RunAsync(["dashboard"], new Dictionary<string, string?>
        {
            ["VALET_URL"] = _server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = _server.DataDirectory,
            ["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH"),
        });

        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.StartsWith(said, result.StdErr, StringComparison.Ordinal);
        Directory.Delete(bin, recursive: true);
    }

    [Fact]
    public async Task ValetDashboard_PrintsALink_ThatSignsInOnce_AsTheLocalOperator_OnTheAskedPage()
    {
        var result = await CliRunner.RunAsync(["dashboard", "--no-browser", "--page", "/keys"],
            new Dictionary<string, string?> { ["VALET_URL"] = _server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = _server.DataDirectory });

        Assert.True(result.ExitCode == 0, result.StdErr);
        var url = result.StdOut.Trim();
        Assert.StartsWith(new Uri(_server.BaseUrl, "/signin/link/").ToString(), url, StringComparison.Ordinal);
        Assert.Contains("expires in 5 minutes", result.StdErr, StringComparison.Ordinal);

        using var client = SessionKit.Client(_server.BaseUrl);
        using var first = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Redirect, first.StatusCode);
        Assert.Equal("/keys", first.Headers.Location!.OriginalString);
        var cookie = SessionKit.SetCookie(first).Split(';')[0];
        using var me = await SessionKit.SendAsync(client, HttpMethod.Get, "/me", cookie);
        var body = await me.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("local", body.GetProperty("operator").GetString());
        Assert.Equal("default", body.GetProperty("org").GetString());

        using var second = await client.GetAsync(url);
        Assert.Equal(HttpStatusCode.Gone, second.StatusCode);
        var page = await second.Content.ReadAsStringAsync();
        Assert.Contains("already been used", page, StringComparison.Ordinal);
        Assert.Contains("signin_link_used", page, StringComparison.Ordinal);
        Assert.Null(SessionKit.SetCookieOrNull(second));
    }

    [Fact]
    public async Task ExpiredLink_IsRefusedWithAClearPage_AndSignsNobodyIn()
    {
        var token = Ids.RandomToken(32);
        await _server.Services.GetRequiredService<ISignInLinkStore>().CreateAsync(new SignInLinkRecord
        {
            TokenHash = Ids.Sha256Hex(token),
            OrgId = "default",
            Operator = "local",
            ReturnPath = "/",
            ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(-1),
        }, DateTimeOffset.UtcNow.AddMinutes(-5), CancellationToken.None);
        using var client = SessionKit.Client(_server.BaseUrl);

        using var response = await client.GetAsync("/signin/link/" + token);

        Assert.Equal(HttpStatusCode.Gone, response.StatusCode);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains("has expired", page, StringComparison.Ordinal);
        Assert.Contains("valet dashboard", page, StringComparison.Ordinal);
        Assert.Null(SessionKit.SetCookieOrNull(response));
    }

    [Fact]
    public async Task TheLinkRoute_IsForTheServicePrincipalOnly_AndTheStoreKeepsOnlyTheHash()
    {
        using var admin = _server.Client();
        using var refused = await admin.PostAsJsonAsync("/internal/dashboard/signin-link", new { org = "default" });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);

        using var service = _server.Client(_server.ServiceToken);
        using var issued = await service.PostAsJsonAsync("/internal/dashboard/signin-link", new { org = "default" });
        var body = await issued.Content.ReadFromJsonAsync<JsonElement>();
        var token = body.GetProperty("url").GetString()!.Split('/')[^1];
        var expires = body.GetProperty("expires_at").GetDateTimeOffset();
        Assert.InRange(expires - DateTimeOffset.UtcNow, TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5));

        var store = _server.Services.GetRequiredService<ISignInLinkStore>();
        Assert.Null(await store.ConsumeAsync(token, CancellationToken.None));
        Assert.NotNull(await store.ConsumeAsync(Ids.Sha256Hex(token), CancellationToken.None));
    }
}
