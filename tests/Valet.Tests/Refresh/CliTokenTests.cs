using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>The real <c>valet</c> executable against a real server: <c>valet token</c>, <c>valet orgs set-headless</c>, and no server.</summary>
[Collection("idp")]
public sealed class CliTokenTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
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

    private Dictionary<string, string?> Environment => new()
    {
        ["VALET_URL"] = _server.BaseUrl.GetLeftPart(UriPartial.Authority),
        ["VALET_DATA_DIR"] = _server.DataDirectory,
    };

    [Fact]
    public async Task ValetToken_PrintsAFreshAccessToken_RefreshingAnExpiredOneFirst()
    {
        var connectionId = await RefreshKit.ConnectAsync(_server, browser, "cli-user");
        var before = await RefreshKit.StoredAsync(_server.Services, connectionId);
        await RefreshKit.ExpireAsync(_server.Services, connectionId);
        var refreshes = await idp.RefreshRequestsAsync();

        var result = await CliRunner.RunAsync(["token", connectionId], Environment);

        Assert.True(result.ExitCode == 0, result.StdErr);
        var token = result.StdOut.Trim();
        Assert.DoesNotContain('\n', token);
        Assert.NotEqual(before.AccessToken.Reveal(), token);
        Assert.Equal((await RefreshKit.StoredAsync(_server.Services, connectionId)).AccessToken.Reveal(), token);
        Assert.True(await idp.IsActiveAsync(token));
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshes);
    }

    [Fact]
    public async Task ValetOrgsSetHeadless_FlipsTheOrg()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme" })).EnsureSuccessStatusCode();

        var on = await CliRunner.RunAsync(["orgs", "set-headless", "acme", "true"], Environment);

        Assert.True(on.ExitCode == 0, on.StdErr);
        Assert.True((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/acme")).GetProperty("headless").GetBoolean());
        var off = await CliRunner.RunAsync(["orgs", "set-headless", "acme", "false", "--json"], Environment);
        Assert.True(off.ExitCode == 0, off.StdErr);
        Assert.False(JsonDocument.Parse(off.StdOut).RootElement.GetProperty("headless").GetBoolean());
        Assert.False((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/acme")).GetProperty("headless").GetBoolean());
    }

    [Fact]
    public async Task ValetToken_Json_OnAnEnvelope_PrintsItWhole_AndOneStderrLine_Exit1()
    {
        using var admin = _server.Client();
        var credentialId = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "default");
        var connectionId = await EnvelopeMatrixTests.ImportAsync(admin, "default", credentialId, "cli-scoped", scopes: ["read"]);

        var result = await CliRunner.RunAsync(["token", connectionId, "--scopes", "write", "--json"], Environment);

        Assert.Equal(1, result.ExitCode);
        var envelope = JsonDocument.Parse(result.StdOut).RootElement;
        Assert.Equal("missing_scopes", envelope.GetProperty("code").GetString());
        var line = Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("valet: missing_scopes: ", line, StringComparison.Ordinal);

        // The line says what a person does next: open the envelope's connect link (an ordinary org has one).
        var link = envelope.GetProperty("connect_url").GetString()!;
        Assert.EndsWith($" Open {link} to grant it.", line, StringComparison.Ordinal);
        var plain = await CliRunner.RunAsync(["token", connectionId, "--scopes", "write"], Environment);
        Assert.Equal(1, plain.ExitCode);
        Assert.Contains(" to grant it.", Assert.Single(plain.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        Assert.Equal(string.Empty, plain.StdOut);
    }

    [Fact]
    public async Task ValetToken_ServerUnreachable_Exits1_WithOneLineNamingTheUrlAndValetServe()
    {
        var url = $"http://127.0.0.1:{RefreshKit.FreePort()}";

        var result = await CliRunner.RunAsync(["token", "conn_whatever"], new Dictionary<string, string?>
        {
            ["VALET_URL"] = url,
            ["VALET_DATA_DIR"] = _server.DataDirectory,
        });

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(string.Empty, result.StdOut);
        var line = Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(url, line, StringComparison.Ordinal);
        Assert.Contains("valet serve", line, StringComparison.Ordinal);
    }
}
