using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Credentials;

/// <summary>
/// <c>valet connect PROVIDER --device</c> (RFC 8628) against oidc-provider's deviceFlow: the CLI prints the user code and
/// verification URI on stderr, a person enters the code in Chromium on the IdP's device page, the server polls
/// (honouring slow_down) and stores the connection; denial and expiry end the CLI with one line, exit 1.
/// </summary>
[Collection(CredentialsPostgresCollection.Name)]
public sealed partial class DeviceFlowTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _server = await ValetTestServer.StartAsync(DeviceProvider(idp, "idpdev"));
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    internal static Dictionary<string, string?> DeviceProvider(IdpFixture idp, string id) => new()
    {
        [$"Providers:{id}:Issuer"] = idp.Issuer,
        [$"Providers:{id}:ClientId"] = CredentialsKit.DeviceClientId,
        [$"Providers:{id}:ClientSecret"] = CredentialsKit.DeviceClientSecret,
        [$"Providers:{id}:Scopes"] = "openid offline_access profile",
        [$"Providers:{id}:ApiBaseUrl"] = idp.Issuer + "/api",
        [$"Providers:{id}:AllowPrivateNetwork"] = "true",
    };

    [Fact]
    public async Task Device_UserCodeEnteredInChromium_Connects_HonouringSlowDown_JsonIsOneDocument()
    {
        // The first poll is told to slow down: the next one must wait interval + 5 s (1 + 5 here).
        await idp.SetFaultAsync("oauth_error", grant: "device_code", times: 1, error: "slow_down");
        await using var cli = await DeviceCli.StartAsync(_server, ["connect", "idpdev", "--device", "--json"]);
        var (uri, code) = await cli.PromptAsync();
        Assert.StartsWith(idp.Issuer + "/device", uri, StringComparison.Ordinal);

        await Task.Delay(TimeSpan.FromSeconds(4));
        Assert.Equal(1, await DeviceCallsAsync(idp)); // slowed down: one poll in four seconds, not four

        await EnterCodeAsync(browser, uri, code, "dora");
        var result = await cli.ExitAsync();

        Assert.True(result.ExitCode == 0, result.StdErr);
        var outcome = JsonDocument.Parse(result.StdOut).RootElement; // exactly one document
        Assert.Equal("complete", outcome.GetProperty("status").GetString());
        Assert.Equal("dora", outcome.GetProperty("account").GetProperty("login").GetString());
        Assert.Contains(code, result.StdErr, StringComparison.Ordinal);
        Assert.Contains("Device flow", _server.Logs.All, StringComparison.Ordinal);
        Assert.Contains("polling every 6 s", _server.Logs.All, StringComparison.Ordinal);

        var connectionId = outcome.GetProperty("connection_id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = connectionId });
        using var agent = _server.Client(key);
        var token = await (await agent.PostAsync($"/v1/connections/{connectionId}/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(await idp.IsActiveAsync(token.GetProperty("access_token").GetString()!));
        using var admin = _server.Client();
        Assert.True((await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{connectionId}")).GetProperty("has_refresh_token").GetBoolean());
    }

    [Fact]
    public async Task Device_DeniedInChromium_EndsInOneLine_Exit1()
    {
        await using var cli = await DeviceCli.StartAsync(_server, ["connect", "idpdev", "--device"]);
        var (uri, code) = await cli.PromptAsync();

        await EnterCodeAsync(browser, uri, code, "dora", deny: true);
        var result = await cli.ExitAsync();

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("access_denied", result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1], StringComparison.Ordinal);
        using var admin = _server.Client();
        Assert.Equal("[]", await admin.GetStringAsync("/v1/orgs/default/connections"));
    }

    [Fact]
    public async Task Device_ExpiredToken_AndUnsupportedProvider_AreOneLine_Exit1()
    {
        await idp.SetFaultAsync("oauth_error", grant: "device_code", times: 1, error: "expired_token");
        await using var cli = await DeviceCli.StartAsync(_server, ["connect", "idpdev", "--device", "--json"]);
        await cli.PromptAsync();
        var expired = await cli.ExitAsync();
        Assert.Equal(1, expired.ExitCode);
        Assert.Equal("flow_expired", JsonDocument.Parse(expired.StdOut).RootElement.GetProperty("error").GetString());

        var unsupported = await CliRunner.RunAsync(["connect", "github", "--device"], DeviceCli.Env(_server));
        Assert.Equal(1, unsupported.ExitCode);
        Assert.Contains("device_flow_unsupported", Assert.Single(unsupported.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Device_CliGivesUp_TheFlowIsCancelled_ACodeEnteredLaterConnectsNothing()
    {
        // The browser flow is cancelled when the CLI gives up; the device flow was not: the server kept polling, and
        // whoever entered the code later (a person who saw it on a shared screen) connected their account to the org.
        await using var cli = await DeviceCli.StartAsync(_server, ["connect", "idpdev", "--device", "--json", "--timeout", "3s"]);
        var (uri, code) = await cli.PromptAsync();
        var result = await cli.ExitAsync();
        Assert.Equal(1, result.ExitCode);
        Assert.Equal("timeout", JsonDocument.Parse(result.StdOut).RootElement.GetProperty("error").GetString());

        var polls = await DeviceCallsAsync(idp);
        await EnterCodeAsync(browser, uri, code, "latecomer");
        await Task.Delay(TimeSpan.FromSeconds(3)); // three poll intervals of this flow (1 s), had it still been pending

        Assert.Equal(polls, await DeviceCallsAsync(idp)); // nobody polls a cancelled flow
        using var admin = _server.Client();
        Assert.Equal("[]", await admin.GetStringAsync("/v1/orgs/default/connections"));
    }

    [Fact]
    public async Task Device_Cancel_IsRefusedOnceTheCodeWasApproved_AndIdempotentOnACancelledFlow()
    {
        using var cli = _server.Client(_server.ServiceToken);
        async Task<JsonElement> StartAsync()
        {
            using var started = await cli.PostAsJsonAsync("/internal/oauth/connect/device", new { provider = "idpdev" });
            var body = await started.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(started.IsSuccessStatusCode, body.ToString());
            return body;
        }

        // Approved and stored: the CLI's late cancel is told so (409 flow_decided), and the connection stays.
        var approved = await StartAsync();
        var handle = "/internal/oauth/connect/device/" + Uri.EscapeDataString(approved.GetProperty("state").GetString()!);
        await EnterCodeAsync(browser, approved.GetProperty("verification_uri").GetString()!, approved.GetProperty("user_code").GetString()!, "erin");
        Assert.True(await CredentialsKit.EventuallyAsync(
            async () => (await cli.GetFromJsonAsync<JsonElement>(handle)).GetProperty("status").GetString() == "complete", TimeSpan.FromSeconds(20)));
        using (var late = await cli.PostAsync(handle + "/cancel", null))
        {
            Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
            Assert.Equal("flow_decided", (await late.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }

        Assert.Equal("complete", (await cli.GetFromJsonAsync<JsonElement>(handle)).GetProperty("status").GetString());

        // Cancelled while pending: 204, and again 204 (a retried cancel is not an error).
        var given = await StartAsync();
        var other = "/internal/oauth/connect/device/" + Uri.EscapeDataString(given.GetProperty("state").GetString()!) + "/cancel";
        Assert.Equal(HttpStatusCode.NoContent, (await cli.PostAsync(other, null)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await cli.PostAsync(other, null)).StatusCode);
    }

    [Fact]
    public async Task Device_AFlowLeftCompletingByANodeThatStopped_ReadsAsInterrupted_NotPendingForEver()
    {
        using var cli = _server.Client(_server.ServiceToken);
        using var started = await cli.PostAsJsonAsync("/internal/oauth/connect/device", new { provider = "idpdev" });
        var body = await started.Content.ReadFromJsonAsync<JsonElement>();
        var handle = "/internal/oauth/connect/device/" + Uri.EscapeDataString(body.GetProperty("state").GetString()!);

        // As a node leaves it when it is killed between claiming the approved grant and storing it, some minutes ago.
        await using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_server.DataDirectory, "valet.db")};Pooling=False"))
        {
            await db.OpenAsync();
            await using var command = db.CreateCommand();
            command.CommandText = "UPDATE device_flows SET status = 'completing', updated_at = updated_at - 180000";
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        var status = await cli.GetFromJsonAsync<JsonElement>(handle);
        Assert.Equal(("error", "interrupted"), (status.GetProperty("status").GetString(), status.GetProperty("error").GetString()));
        using var cancel = await cli.PostAsync(handle + "/cancel", null);
        var problem = await cancel.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Conflict, cancel.StatusCode);
        Assert.Contains("nothing was stored", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    internal static async Task<int> DeviceCallsAsync(IdpFixture idp) => (await idp.StatsAsync()).GetProperty("device_code").GetInt32();

    /// <summary>A person on the IdP's device page: enters the code, confirms (or aborts), signs in and consents.</summary>
    internal static async Task EnterCodeAsync(BrowserFixture browser, string verificationUri, string userCode, string login, bool deny = false)
    {
        var page = await browser.NewPageAsync();
        try
        {
            await page.GotoAsync(verificationUri);
            await page.Locator("input[name=user_code]").FillAsync(userCode);
            await page.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
            await page.GetByText("Confirm Device").WaitForAsync();
            if (deny)
            {
                await page.Locator("button[name=abort]").ClickAsync();
                await page.WaitForLoadStateAsync();
                return;
            }

            await page.Locator("button[autofocus]").ClickAsync();
            await page.Locator("input[name=login]").FillAsync(login);
            await page.Locator("input[name=password]").FillAsync("any-password");
            await page.Locator("button[type=submit]").ClickAsync();
            var consent = page.GetByRole(AriaRole.Button, new() { Name = "Continue" });
            var success = page.GetByText("Sign-in Success");
            await consent.Or(success).First.WaitForAsync();
            if (await success.CountAsync() == 0)
            {
                await consent.ClickAsync();
                await success.WaitForAsync();
            }
        }
        finally
        {
            await page.Context.CloseAsync();
        }
    }

    /// <summary>The CLI as a subprocess whose stderr is read as it comes, to catch the code prompt.</summary>
    private sealed partial class DeviceCli : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly Task<string> _stdout;
        private readonly List<string> _stderr = [];
        private readonly TaskCompletionSource<(string Uri, string Code)> _prompt = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private DeviceCli(Process process)
        {
            _process = process;
            _stdout = process.StandardOutput.ReadToEndAsync();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    return;
                }

                lock (_stderr)
                {
                    _stderr.Add(e.Data);
                }

                if (Prompt().Match(e.Data) is { Success: true } m)
                {
                    _prompt.TrySetResult((m.Groups[1].Value, m.Groups[2].Value));
                }
            };
            process.BeginErrorReadLine();
            process.StandardInput.Close();
        }

        public static Dictionary<string, string?> Env(ValetTestServer server) => new()
        {
            ["VALET_URL"] = server.BaseUrl.ToString(),
            ["VALET_DATA_DIR"] = server.DataDirectory,
        };

        public static Task<DeviceCli> StartAsync(ValetTestServer server, string[] args) =>
            Task.FromResult(new DeviceCli(Process.Start(CliRunner.StartInfo(args, Env(server)))!));

        public async Task<(string Uri, string Code)> PromptAsync()
        {
            var done = await Task.WhenAny(_prompt.Task, _process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(done == _prompt.Task, "no code prompt on stderr: " + StdErr);
            return await _prompt.Task;
        }

        public async Task<CliResult> ExitAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await _process.WaitForExitAsync(timeout.Token);
            return new CliResult(_process.ExitCode, await _stdout, StdErr);
        }

        private string StdErr
        {
            get
            {
                lock (_stderr)
                {
                    return string.Join('\n', _stderr);
                }
            }
        }

        public ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            _process.Dispose();
            return ValueTask.CompletedTask;
        }

        [GeneratedRegex(@"open (\S+) and enter the code: (\S+)")]
        private static partial Regex Prompt();
    }
}
