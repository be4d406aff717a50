extern alias sdk;

using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using sdk::Valet.Client;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.ClientSdk;

/// <summary>
/// <see cref="ValetClient"/> against the real server and the real oidc-provider: tokens, bootstrap, the proxy, and every
/// envelope as a typed exception — including the whole recovery: envelope → a person consents in Chromium → wait → retry.
/// </summary>
[Collection("idp")]
public sealed class ClientAgainstServerTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        var settings = idp.ProviderSettings();
        // The proxy reaches the IdP itself, whose userinfo endpoint (/me) is an API that takes the access token.
        settings["Providers:idp:ApiBaseUrl"] = idp.Issuer;
        settings["Refresh:BackoffBase"] = "00:00:01";
        settings["Refresh:Jitter"] = "00:00:00";
        _server = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task Tokens_ByConnectionAndByProvider_AndTheBootstrap_ComeBackTyped()
    {
        var connectionId = await RefreshKit.ConnectAsync(_server, browser, "sdk-tina");
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var valet = new ValetClient(_server.BaseUrl, key);

        var byConnection = await valet.GetTokenAsync(connectionId);
        var byProvider = await valet.GetProviderTokenAsync("idp", ["read"]);
        var bootstrap = await valet.GetBootstrapAsync();

        Assert.Equal(connectionId, byConnection.ConnectionId);
        Assert.Equal(connectionId, byProvider.ConnectionId);
        Assert.Equal("Bearer", byConnection.Scheme);
        Assert.True(byConnection.ExpiresAt > DateTimeOffset.UtcNow);
        Assert.Contains("read", byConnection.Scopes!);
        Assert.True(await idp.IsActiveAsync(byProvider.AccessToken));
        Assert.DoesNotContain(byConnection.AccessToken, byConnection.ToString(), StringComparison.Ordinal);

        Assert.Equal("default", bootstrap.Org);
        var listed = Assert.Single(bootstrap.Connections);
        Assert.Equal(connectionId, listed.Id);
        Assert.Equal("idp", listed.Provider);
        Assert.True(listed.IsActive);
        Assert.Equal("sdk-tina", listed.Account!.Id);
        Assert.Null(listed.Envelope);
        Assert.Empty(bootstrap.Needs);
    }

    [Fact]
    public async Task ProxiedCall_ReachesTheProvidersApi_WithTheTokenInjected()
    {
        var connectionId = await RefreshKit.ConnectAsync(_server, browser, "sdk-uma");
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = connectionId });
        using var valet = new ValetClient(_server.BaseUrl, key);

        using var response = await valet.GetAsync(ValetRoute.Connection(connectionId), "me");

        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.Equal("sdk-uma", body.GetProperty("sub").GetString());
    }

    [Fact]
    public async Task NeedsAuthentication_IsTyped_ThePersonConsentsInChromium_WaitForFlowCompletes_AndTheRetrySucceeds()
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var valet = new ValetClient(_server.BaseUrl, key);

        var envelope = await Assert.ThrowsAsync<ValetNeedsAuthenticationException>(() => valet.GetProviderTokenAsync("idp"));

        Assert.Equal(HttpStatusCode.Conflict, envelope.StatusCode);
        Assert.Equal("needs_authentication", envelope.Code);
        Assert.Equal("idp", envelope.Provider);
        Assert.Null(envelope.ConnectionId);
        Assert.False(envelope.Headless);
        Assert.Null(envelope.CredentialId);
        Assert.NotNull(envelope.FlowId);
        Assert.StartsWith(_server.BaseUrl.GetLeftPart(UriPartial.Authority) + "/connect-authorize?flow=", envelope.ConnectUrl!.AbsoluteUri,
            StringComparison.Ordinal);
        var need = Assert.Single((await valet.GetBootstrapAsync()).Needs);
        Assert.Equal(envelope.FlowId, need.FlowId);

        // Nobody has acted yet: a short wait ends pending.
        var early = await envelope.WaitForFlowAsync(valet, TimeSpan.FromSeconds(1));
        Assert.Equal(ValetFlowStatus.Pending, early.Status);

        // The agent waits while a person (an operator of the org) opens the connect_url and consents at the IdP.
        var waiting = envelope.WaitForFlowAsync(valet, TimeSpan.FromSeconds(90));
        await PersonConnectsAsync(envelope.ConnectUrl!, "sdk-vera");
        var flow = await waiting;

        Assert.True(flow.IsComplete, flow.Status);
        var connectionId = flow.ConnectionId!;
        var token = await valet.GetProviderTokenAsync("idp");
        Assert.Equal(connectionId, token.ConnectionId);
        Assert.True(await idp.IsActiveAsync(token.AccessToken));

        // An operator principal may read the flow itself: the long poll of GET /v1/flows/{id}/wait.
        using var operatorClient = new ValetClient(_server.BaseUrl, ValetTestServer.AdminToken);
        var byOperator = await operatorClient.WaitForFlowAsync(envelope.FlowId!, TimeSpan.FromSeconds(5));
        Assert.Equal(ValetFlowStatus.Complete, byOperator.Status);
        Assert.Equal(connectionId, byOperator.ConnectionId);
    }

    [Theory]
    [InlineData(3, 4)] // polls capped at 2 s, under the client's 3 s timeout
    [InlineData(1.3, 2)] // four fifths would be 1 s, which the server may answer a quarter second late: immediate checks
    public async Task WaitForFlow_StaysUnderTheHttpClientsOwnTimeout(double httpTimeoutSeconds, int waitSeconds)
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(httpTimeoutSeconds) };
        ValetClient.Configure(http, _server.BaseUrl, key);
        var valet = new ValetClient(http);
        var envelope = await Assert.ThrowsAsync<ValetNeedsAuthenticationException>(() => valet.GetProviderTokenAsync("idp"));

        var started = Stopwatch.StartNew();
        var flow = await envelope.WaitForFlowAsync(valet, TimeSpan.FromSeconds(waitSeconds));

        Assert.Equal(ValetFlowStatus.Pending, flow.Status);
        Assert.InRange(started.Elapsed, TimeSpan.FromSeconds(waitSeconds - 0.2), TimeSpan.FromSeconds(waitSeconds + 3));
    }

    [Theory]
    [InlineData(100, 50)]
    [InlineData(-1, 50)]
    [InlineData(30, 24)]
    [InlineData(3, 2)]
    [InlineData(2, 1)]
    [InlineData(1.3, 0)]
    [InlineData(1, 0)]
    [InlineData(0.5, 0)]
    public void PollCap_IsUnderTheHttpClientTimeout(double httpTimeoutSeconds, int expectedSeconds) =>
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds),
            ValetClient.PollCap(httpTimeoutSeconds < 0 ? Timeout.InfiniteTimeSpan : TimeSpan.FromSeconds(httpTimeoutSeconds)));

    [Fact]
    public async Task HeadlessOrg_EnvelopesAreTyped_WithTheCredential_NoUrl_AndNothingToWaitOn()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "sdk-headless", headless = true })).EnsureSuccessStatusCode();
        var credentialId = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "sdk-headless");
        var (_, key) = await _server.CreateKeyAsync("sdk-headless", new { provider = "idp" });
        using var valet = new ValetClient(_server.BaseUrl, key);

        var needs = await Assert.ThrowsAsync<ValetNeedsAuthenticationException>(() => valet.GetProviderTokenAsync("idp", ["read"]));

        Assert.True(needs.Headless);
        Assert.Equal(credentialId, needs.CredentialId);
        Assert.Equal("idp", needs.Provider);
        Assert.Equal(["read"], needs.RequiredScopes);
        Assert.Null(needs.ConnectUrl);
        Assert.Null(needs.FlowId);
        await Assert.ThrowsAsync<InvalidOperationException>(() => needs.WaitForFlowAsync(valet, TimeSpan.FromSeconds(1)));

        // A grant the IdP does not know: the refresh ends in invalid_grant → reauth_required, still headless.
        var connectionId = await EnvelopeMatrixTests.ImportAsync(admin, "sdk-headless", credentialId, "sdk-wes", scopes: ["read"],
            refreshToken: "not-a-real-refresh-token", expiresAt: DateTimeOffset.UtcNow.AddMinutes(-5));
        var dead = await Assert.ThrowsAsync<ValetReauthRequiredException>(() => valet.GetTokenAsync(connectionId));
        Assert.True(dead.Headless);
        Assert.Equal("invalid_grant", dead.Reason);
        Assert.Equal(connectionId, dead.ConnectionId);
        Assert.Equal(credentialId, dead.CredentialId);
        Assert.Null(dead.ConnectUrl);
        var listed = Assert.Single((await valet.GetBootstrapAsync()).Connections);
        Assert.Equal(ValetEnvelopeCodes.ReauthRequired, listed.Envelope!.Code);
        Assert.True(listed.Envelope.Headless);
    }

    [Fact]
    public async Task MissingScopes_AndAmbiguousConnections_AreTyped()
    {
        using var admin = _server.Client();
        var credentialId = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "default");
        var first = await EnvelopeMatrixTests.ImportAsync(admin, "default", credentialId, "sdk-xia", scopes: ["read"]);
        var second = await EnvelopeMatrixTests.ImportAsync(admin, "default", credentialId, "sdk-yul", scopes: ["read"]);
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var valet = new ValetClient(_server.BaseUrl, key);

        var missing = await Assert.ThrowsAsync<ValetMissingScopesException>(() => valet.GetTokenAsync(first, ["read", "write"]));
        var ambiguous = await Assert.ThrowsAsync<ValetAmbiguousConnectionException>(() => valet.GetProviderTokenAsync("idp"));
        var unknown = await Assert.ThrowsAsync<ValetApiException>(() => valet.GetTokenAsync("no-such-connection"));

        Assert.Equal(["write"], missing.MissingScopes);
        Assert.Equal(first, missing.ConnectionId);
        Assert.NotNull(missing.ConnectUrl);
        Assert.Equal(HttpStatusCode.Conflict, ambiguous.StatusCode);
        Assert.Equal(new[] { first, second }.Order(StringComparer.Ordinal), ambiguous.Connections.Select(c => c.Id).Order(StringComparer.Ordinal));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("connection_not_found", unknown.Code);
    }

    [Fact]
    public async Task ProviderUnavailable_OnRefresh_IsTyped_AndCarriesRetryAfter_WhenValetSendsOne()
    {
        var connectionId = await RefreshKit.ConnectAsync(_server, browser, "sdk-zed");
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = connectionId });
        using var valet = new ValetClient(_server.BaseUrl, key);
        await RefreshKit.ExpireAsync(_server.Services, connectionId);

        // The IdP's token endpoint fails with 500: 502 provider_unavailable, Retry-After the backoff (BackoffBase 1 s, no jitter).
        await idp.SetFaultAsync("500");
        var failed = await Assert.ThrowsAsync<ValetProviderUnavailableException>(() => valet.GetTokenAsync(connectionId));
        Assert.Equal(HttpStatusCode.BadGateway, failed.StatusCode);
        Assert.Equal("provider_unavailable", failed.Code);
        Assert.Equal(TimeSpan.FromSeconds(1), failed.RetryAfter);

        // The IdP rate-limits with Retry-After: 3 once the backoff has passed: the exception says how long to wait.
        await idp.SetFaultAsync("429", retryAfter: 3);
        var limited = await EventuallyThrowsAsync(() => valet.GetTokenAsync(connectionId), e => e.RetryAfter >= TimeSpan.FromSeconds(2));
        Assert.Equal(HttpStatusCode.BadGateway, limited.StatusCode);
        Assert.InRange(limited.RetryAfter!.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3));

        // The provider recovers; after RetryAfter the same call succeeds with a live token.
        await idp.SetFaultAsync("none");
        await Task.Delay(limited.RetryAfter.Value);
        Assert.True(await RefreshKit.EventuallyAsync(async () =>
        {
            try
            {
                return await idp.IsActiveAsync((await valet.GetTokenAsync(connectionId)).AccessToken);
            }
            catch (ValetProviderUnavailableException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(1)));
    }

    /// <summary>Calls until the provider_unavailable it throws satisfies <paramref name="until"/> (Valet backs off between provider calls).</summary>
    private static async Task<ValetProviderUnavailableException> EventuallyThrowsAsync(Func<Task> call, Func<ValetProviderUnavailableException, bool> until)
    {
        ValetProviderUnavailableException? last = null;
        await RefreshKit.EventuallyAsync(async () =>
        {
            last = await Assert.ThrowsAsync<ValetProviderUnavailableException>(call);
            return until(last);
        }, TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(500));
        Assert.True(last is not null && until(last), last?.Message);
        return last!;
    }

    /// <summary>A person with the operator's admin token signs in, follows the connect_url to the IdP, and consents in Chromium.</summary>
    private async Task PersonConnectsAsync(Uri connectUrl, string login)
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var person = new HttpClient(handler) { BaseAddress = _server.BaseUrl };
        using var signIn = await SignInForms.SignInAsync(person, new Dictionary<string, string>
        {
            ["token"] = ValetTestServer.AdminToken,
            ["org"] = "default",
            ["return"] = connectUrl.PathAndQuery,
        });
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);

        using var toIdp = await ConnectLinks.ContinueAsync(person, connectUrl);
        Assert.Equal(HttpStatusCode.Redirect, toIdp.StatusCode);
        var page = await browser.AuthorizeAsync(toIdp.Headers.Location!.AbsoluteUri, login);
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();
    }
}
