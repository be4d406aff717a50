using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Core.Domain;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// The IdP's token endpoint misbehaves (500, hang, 429, invalid_grant) while a connection's token has expired: the
/// caller gets the documented status, and no token Valet holds is lost (the stored refresh token stays live at the IdP).
/// </summary>
[Collection("idp")]
public sealed class RefreshFaultTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;
    private HttpClient _agent = null!;
    private string _connectionId = null!;
    private Connection _before = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        var settings = idp.ProviderSettings();
        settings["Refresh:ProviderTimeout"] = "00:00:02";
        settings["Refresh:BackoffBase"] = "00:00:01";
        settings["Refresh:Jitter"] = "00:00:00";
        _server = await ValetTestServer.StartAsync(settings);
        _connectionId = await RefreshKit.ConnectAsync(_server, browser, "faulty");
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = _connectionId });
        _agent = _server.Client(key);
        await RefreshKit.ExpireAsync(_server.Services, _connectionId);
        _before = await RefreshKit.StoredAsync(_server.Services, _connectionId);
    }

    public async Task DisposeAsync()
    {
        _agent.Dispose();
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task TokenEndpoint500_Gives502_AndTheConnectionIsUntouched_UntilTheFaultClears()
    {
        await idp.SetFaultAsync("500");
        var refreshes = await idp.RefreshRequestsAsync();

        var answer = await RefreshKit.TokenAsync(_agent, _connectionId);

        AssertProviderUnavailable(answer, HttpStatusCode.BadGateway);
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshes);
        await AssertTokensKeptAsync(expectedReason: null);

        await idp.SetFaultAsync("none");
        await AssertRecoversAsync();
    }

    [Fact]
    public async Task TokenEndpointHang_PastProviderTimeout_Gives504_AndTheOldRefreshTokenStillWorks()
    {
        await idp.SetFaultAsync("hang", times: 1);
        var clock = Stopwatch.StartNew();

        var answer = await RefreshKit.TokenAsync(_agent, _connectionId);

        clock.Stop();
        AssertProviderUnavailable(answer, HttpStatusCode.GatewayTimeout);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(15));

        // Unknown outcome: nothing discarded, and the label says why (docs/refresh.md). The hang never reached
        // oidc-provider, so it did not rotate: the old refresh token must still be the stored one, and live.
        await AssertTokensKeptAsync(expectedReason: "refresh_outcome_unknown");
        await AssertRecoversAsync();
    }

    [Fact]
    public async Task TokenEndpoint429_Gives502WithRetryAfter_AndNoSecondProviderCallBeforeItPasses()
    {
        await idp.SetFaultAsync("429", retryAfter: 3);
        var refreshes = await idp.RefreshRequestsAsync();

        var first = await RefreshKit.TokenAsync(_agent, _connectionId);
        var second = await RefreshKit.TokenAsync(_agent, _connectionId);

        AssertProviderUnavailable(first, HttpStatusCode.BadGateway);
        Assert.InRange(int.Parse(first.RetryAfter!, System.Globalization.CultureInfo.InvariantCulture), 1, 3);
        AssertProviderUnavailable(second, HttpStatusCode.BadGateway);
        Assert.NotNull(second.RetryAfter);
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshes);
        await AssertTokensKeptAsync(expectedReason: "rate_limited");

        // Once Retry-After has passed (and the IdP is well again), the next caller refreshes with the same refresh token.
        await idp.SetFaultAsync("none");
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        await AssertRecoversAsync();
    }

    [Fact]
    public async Task InvalidGrant_Gives409ReauthRequired_MarksTheConnection_AndKeepsItsTokens()
    {
        await idp.SetFaultAsync("invalid_grant", times: 1);

        var answer = await RefreshKit.TokenAsync(_agent, _connectionId);

        RefreshKit.AssertEnvelope(answer, "reauth_required");
        Assert.Equal(_connectionId, answer.Body.GetProperty("connection_id").GetString());
        using var admin = _server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{_connectionId}");
        Assert.Equal("reauth_required", connection.GetProperty("status").GetString());
        Assert.Equal("invalid_grant", connection.GetProperty("status_reason").GetString());
        Assert.True(connection.GetProperty("has_refresh_token").GetBoolean());

        var stored = await RefreshKit.StoredAsync(_server.Services, _connectionId);
        Assert.Equal(_before.AccessToken, stored.AccessToken);
        Assert.Equal(_before.RefreshToken, stored.RefreshToken);

        // A dead connection answers from the row: no further provider call, the same envelope.
        var refreshes = await idp.RefreshRequestsAsync();
        RefreshKit.AssertEnvelope(await RefreshKit.TokenAsync(_agent, _connectionId), "reauth_required");
        Assert.Equal(0, await idp.RefreshRequestsAsync() - refreshes);
    }

    private static void AssertProviderUnavailable(TokenAnswer answer, HttpStatusCode status)
    {
        Assert.True(answer.Status == status, $"{answer.Status}: {answer.Text}");
        Assert.Equal("application/problem+json", answer.MediaType);
        Assert.Equal("provider_unavailable", answer.Code);
        Assert.DoesNotContain("access_token", answer.Text, StringComparison.Ordinal);
    }

    /// <summary>Status active, the same tokens stored, and the stored refresh token still live at the IdP.</summary>
    private async Task AssertTokensKeptAsync(string? expectedReason)
    {
        using var admin = _server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{_connectionId}");
        Assert.Equal("active", connection.GetProperty("status").GetString());
        Assert.Equal(expectedReason, connection.TryGetProperty("status_reason", out var reason) ? reason.GetString() : null);

        var stored = await RefreshKit.StoredAsync(_server.Services, _connectionId);
        Assert.Equal(_before.AccessToken, stored.AccessToken);
        Assert.Equal(_before.RefreshToken, stored.RefreshToken);
        Assert.True(await idp.IsActiveAsync(stored.RefreshToken!.Value.Reveal()), "the stored refresh token must still be live at the IdP");
    }

    /// <summary>The next caller refreshes with the kept refresh token: a new, live access token, and the label cleared.</summary>
    private async Task AssertRecoversAsync()
    {
        var refreshes = await idp.RefreshRequestsAsync();
        var answer = await RefreshKit.TokenAsync(_agent, _connectionId);

        Assert.True(answer.Status == HttpStatusCode.OK, $"{answer.Status}: {answer.Text}");
        Assert.NotEqual(_before.AccessToken.Reveal(), answer.AccessToken);
        Assert.True(await idp.IsActiveAsync(answer.AccessToken!));
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshes);
        using var admin = _server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{_connectionId}");
        Assert.Equal("active", connection.GetProperty("status").GetString());
        Assert.False(connection.TryGetProperty("status_reason", out var reason) && reason.ValueKind == JsonValueKind.String);
    }
}
