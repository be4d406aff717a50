using System.Net;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// Exactly-once refresh on one server (SQLite) against the real oidc-provider, whose refresh tokens rotate and whose
/// reuse detection revokes the grant: a second refresh with a spent token would be visible at once.
/// </summary>
[Collection("idp")]
public sealed class RefreshStormTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _server = await ValetTestServer.StartAsync(idp.ProviderSettings());
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task Refresh_IsSingleFlight_For1000ConcurrentCallers_OnOneServer()
    {
        var connectionId = await RefreshKit.ConnectAsync(_server, browser, "storm");
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = connectionId });
        var before = await RefreshKit.StoredAsync(_server.Services, connectionId);
        var refreshesBefore = await idp.RefreshRequestsAsync(); // before the expiry: a proactive refresh of it counts as the one refresh
        await RefreshKit.ExpireAsync(_server.Services, connectionId);

        using var client = RefreshKit.StormClient(key);
        var answers = await RefreshKit.StormAsync(client, [_server.BaseUrl], connectionId, 1000);

        Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.OK, $"{a.Status}: {a.Text}"));
        var tokens = answers.Select(a => a.AccessToken).Distinct().ToList();
        var token = Assert.Single(tokens);
        Assert.NotEqual(before.AccessToken.Reveal(), token);
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshesBefore);
        Assert.True(await idp.IsActiveAsync(token!));
        var after = await RefreshKit.StoredAsync(_server.Services, connectionId);
        Assert.Equal(token, after.AccessToken.Reveal());
        Assert.True(await idp.IsActiveAsync(after.RefreshToken!.Value.Reveal()));
    }

    [Fact]
    public async Task TwentyRefreshCycles_UnderConcurrency_NeverTripTheIdpsReuseDetection()
    {
        const int Cycles = 20;
        const int CallersPerCycle = 50;
        var connectionId = await RefreshKit.ConnectAsync(_server, browser, "cycles");
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = connectionId });
        using var client = RefreshKit.StormClient(key);
        var refreshesBefore = await idp.RefreshRequestsAsync();
        var seenAccess = new HashSet<string> { (await RefreshKit.StoredAsync(_server.Services, connectionId)).AccessToken.Reveal() };
        var seenRefresh = new HashSet<string> { (await RefreshKit.StoredAsync(_server.Services, connectionId)).RefreshToken!.Value.Reveal() };

        for (var cycle = 1; cycle <= Cycles; cycle++)
        {
            await RefreshKit.ExpireAsync(_server.Services, connectionId);
            var answers = await RefreshKit.StormAsync(client, [_server.BaseUrl], connectionId, CallersPerCycle);

            Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.OK, $"cycle {cycle}: {a.Status}: {a.Text}"));
            var token = Assert.Single(answers.Select(a => a.AccessToken).Distinct());
            Assert.True(seenAccess.Add(token!), $"cycle {cycle} handed out an access token seen before");
            Assert.True(seenRefresh.Add((await RefreshKit.StoredAsync(_server.Services, connectionId)).RefreshToken!.Value.Reveal()),
                $"cycle {cycle}: the IdP rotates refresh tokens, so the stored one must be new");
            Assert.Equal(cycle, await idp.RefreshRequestsAsync() - refreshesBefore);
        }

        // The grant survived 20 rotations: the stored refresh token is live and one more refresh works.
        var stored = await RefreshKit.StoredAsync(_server.Services, connectionId);
        Assert.True(await idp.IsActiveAsync(stored.RefreshToken!.Value.Reveal()));
        await RefreshKit.ExpireAsync(_server.Services, connectionId);
        var final = await RefreshKit.TokenAsync(client, new Uri(_server.BaseUrl, $"/v1/connections/{connectionId}/token"));
        Assert.Equal(HttpStatusCode.OK, final.Status);
        Assert.DoesNotContain(final.AccessToken!, seenAccess);
        Assert.True(await idp.IsActiveAsync(final.AccessToken!));
        Assert.Equal(Cycles + 1, await idp.RefreshRequestsAsync() - refreshesBefore);
    }
}
