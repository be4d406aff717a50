using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Valet.Server.Flows;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>The loopback transport (RFC 8252) and `valet connect` as a subprocess against a real `valet serve`.</summary>
[Collection("idp")]
public sealed class LoopbackAndCliTests(IdpFixture idp, BrowserFixture browser) : ConnectTestBase(idp, browser)
{
    private Dictionary<string, string?> CliEnv() => new()
    {
        ["VALET_URL"] = Server.BaseUrl.ToString(),
        ["VALET_DATA_DIR"] = Server.DataDirectory,
    };

    [Fact]
    public async Task Loopback_ServerListensOnAnEphemeralPort_ForOneRedirect_ThenReleasesIt()
    {
        using var service = Server.Client(Server.ServiceToken);
        var start = await (await service.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "idp", callback_transport = "loopback" }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var redirect = new Uri(start.GetProperty("redirect_uri").GetString()!);
        Assert.Equal("127.0.0.1", redirect.Host);
        Assert.NotEqual(Server.BaseUrl.Port, redirect.Port);

        var page = await Browser.AuthorizeAsync(start.GetProperty("auth_url").GetString()!, "leo");

        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        var status = await service.GetFromJsonAsync<JsonElement>("/internal/oauth/connect/status/" + Uri.EscapeDataString(start.GetProperty("state").GetString()!));
        Assert.Equal("complete", status.GetProperty("status").GetString());
        Assert.Equal("leo", status.GetProperty("account").GetProperty("id").GetString());

        // The port is released shortly after the one redirect.
        var deadline = DateTime.UtcNow.AddSeconds(5);
        bool open;
        do
        {
            await Task.Delay(200);
            open = await CanConnectAsync(redirect.Port);
        }
        while (open && DateTime.UtcNow < deadline);
        Assert.False(open, "the loopback listener should be closed after the callback");
    }

    [Fact]
    public async Task Loopback_StartRefused_OpensNoListener_ThatOutlivesTheAnswer()
    {
        using var service = Server.Client(Server.ServiceToken);
        var listeners = Server.Services.GetRequiredService<LoopbackCallbacks>();
        var before = listeners.OpenCount;

        // Refused after the listener had to exist (its redirect URI goes into the flow): an unknown org, an unknown provider.
        var noOrg = await service.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "idp", org = "nope", callback_transport = "loopback" });
        Assert.Equal(HttpStatusCode.NotFound, noOrg.StatusCode);
        var noProvider = await service.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "nope", callback_transport = "loopback" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noProvider.StatusCode);

        Assert.Equal(before, listeners.OpenCount);
    }

    [Fact]
    public async Task Cli_GivingUp_CancelsItsFlow_AndClosesItsLoopbackListener_NowNotAtExpiry()
    {
        var listeners = Server.Services.GetRequiredService<LoopbackCallbacks>();
        var before = listeners.OpenCount;

        var result = await CliRunner.RunAsync(["connect", "idp", "--no-browser", "--json", "--timeout", "2s"], CliEnv());

        Assert.Equal(1, result.ExitCode);
        var url = result.StdErr.Split('\n').First(l => l.StartsWith("Open this URL to continue: ", StringComparison.Ordinal))["Open this URL to continue: ".Length..].Trim();
        var state = System.Web.HttpUtility.ParseQueryString(new Uri(url).Query)["state"]!;
        using var service = Server.Client(Server.ServiceToken);
        var flow = await service.GetFromJsonAsync<JsonElement>($"/internal/oauth/connect/status/{Uri.EscapeDataString(state)}");
        Assert.Equal("error", flow.GetProperty("status").GetString());
        Assert.Equal("cancelled", flow.GetProperty("error").GetString());
        Assert.Equal(before, listeners.OpenCount); // not five minutes later
        Assert.False(await CanConnectAsync(new Uri(System.Web.HttpUtility.ParseQueryString(new Uri(url).Query)["redirect_uri"]!).Port));
    }

    [Fact]
    public async Task Cli_NoBrowser_Json_PrintsTheUrlOnStderr_AndOneJsonDocumentOnStdout()
    {
        using var process = Process.Start(CliRunner.StartInfo(["connect", "idp", "--no-browser", "--json", "--timeout", "60s"], CliEnv()))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var url = await ReadUrlFromStderrAsync(process);

        await Browser.AuthorizeAsync(url, "mallory");
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);

        Assert.Equal(0, process.ExitCode);
        var json = JsonDocument.Parse(await stdout).RootElement;
        Assert.Equal("complete", json.GetProperty("status").GetString());
        Assert.Equal("idp", json.GetProperty("provider").GetString());
        Assert.Equal("mallory", json.GetProperty("account").GetProperty("id").GetString());
        Assert.StartsWith("conn_", json.GetProperty("connection_id").GetString(), StringComparison.Ordinal);
        Assert.Contains("read", json.GetProperty("granted_scopes").EnumerateArray().Select(s => s.GetString()));

        // Connecting again with the same scopes: already connected, no browser needed.
        var again = await CliRunner.RunAsync(["connect", "idp", "--json", "--no-browser", "--timeout", "5s"], CliEnv());
        Assert.True(again.ExitCode == 0, again.StdErr + again.StdOut + json);
        var already = JsonDocument.Parse(again.StdOut).RootElement;
        Assert.Equal("already_connected", already.GetProperty("status").GetString());
        Assert.Equal(json.GetProperty("connection_id").GetString(), already.GetProperty("connection_id").GetString());
        Assert.Equal("mallory", already.GetProperty("account").GetProperty("id").GetString()); // SPEC §6: the outcome's fields
        Assert.Contains("read", already.GetProperty("granted_scopes").EnumerateArray().Select(s => s.GetString()));
    }

    [Fact]
    public async Task Cli_GatewayTransport_AndDeniedConsent_ExitsNonZero_WithAClearLine()
    {
        using var process = Process.Start(CliRunner.StartInfo(["connect", "idp", "--no-browser", "--callback-transport", "gateway", "--force"], CliEnv()))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var url = await ReadUrlFromStderrAsync(process);
        Assert.Contains(Uri.EscapeDataString(Server.BaseUrl.ToString().TrimEnd('/') + "/oauth/callback"), url, StringComparison.Ordinal);

        await Browser.AuthorizeAsync(url, "niaj", deny: true);
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        var stderr = await process.StandardError.ReadToEndAsync();

        Assert.Equal(1, process.ExitCode);
        Assert.Contains("valet: connection failed: access_denied", stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, (await stdout).Trim());
    }

    [Fact]
    public async Task Cli_AgainstAHostedServer_UsesVALET_SERVICE_TOKEN_ForConnect_AndTheAdminTokenAloneIsToldWhy()
    {
        // A CLI on an operator's machine: no data directory of the server's, only tokens in the environment.
        var elsewhere = Directory.CreateTempSubdirectory("valet-cli-").FullName;
        try
        {
            var adminOnly = new Dictionary<string, string?>
            {
                ["VALET_URL"] = Server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = elsewhere, ["VALET_ADMIN_TOKEN"] = ValetTestServer.AdminToken,
            };
            var refused = await CliRunner.RunAsync(["connect", "idp", "--no-browser", "--timeout", "2s"], adminOnly);
            Assert.Equal(1, refused.ExitCode);
            Assert.Contains("VALET_SERVICE_TOKEN", Assert.Single(refused.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);

            var withService = new Dictionary<string, string?>(adminOnly) { ["VALET_SERVICE_TOKEN"] = Server.ServiceToken };
            var started = await CliRunner.RunAsync(["connect", "idp", "--no-browser", "--json", "--timeout", "2s", "--callback-transport", "gateway"], withService);
            Assert.Contains("Open this URL to continue: ", started.StdErr, StringComparison.Ordinal);
            Assert.Equal("timeout", JsonDocument.Parse(started.StdOut).RootElement.GetProperty("error").GetString());

            // The most privileged token never crosses a network in clear text: refused before anything is sent.
            var overHttp = new Dictionary<string, string?>(withService) { ["VALET_URL"] = "http://192.0.2.10:7878" };
            var refusedHttp = await CliRunner.RunAsync(["keys", "list"], overHttp);
            Assert.Equal(2, refusedHttp.ExitCode);
            Assert.Contains("only over https or to a loopback address", Assert.Single(refusedHttp.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)),
                StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(elsewhere, recursive: true);
        }
    }

    [Fact]
    public async Task Cli_NeverSendsTheDataDirectorysServiceToken_ToAnotherHost_AndSaysWhichTokenWasRefused()
    {
        // An operator who ran the demo (a local data directory with its service token) points VALET_URL at a remote node.
        // The remote "node" is reached through an HTTP proxy on 127.0.0.1 (tests listen on loopback only): the proxy sees
        // exactly what the CLI sends to 192.0.2.10.
        using var proxy = new TcpListener(IPAddress.Loopback, 0);
        proxy.Start();
        var seen = AnswerOnce(proxy, 401, """{"type":"about:blank","title":"Unauthorized","status":401,"code":"unauthorized"}""");
        var env = new Dictionary<string, string?>
        {
            ["VALET_URL"] = "http://192.0.2.10:7878", ["VALET_DATA_DIR"] = Server.DataDirectory, ["VALET_ADMIN_TOKEN"] = "operator-admin-token",
            ["HTTP_PROXY"] = $"http://127.0.0.1:{((IPEndPoint)proxy.LocalEndpoint).Port}", ["NO_PROXY"] = "",
        };

        var result = await CliRunner.RunAsync(["keys", "list"], env);

        var request = await seen.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("GET http://192.0.2.10:7878/v1/orgs/default/keys", request, StringComparison.Ordinal);
        Assert.Contains("Authorization: Bearer operator-admin-token", request, StringComparison.Ordinal);
        Assert.DoesNotContain(Server.ServiceToken, request, StringComparison.Ordinal);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("did not accept VALET_ADMIN_TOKEN", Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);

        // No token at all: the line says so, and which variable to set.
        var empty = Directory.CreateTempSubdirectory("valet-cli-none-");
        var none = await CliRunner.RunAsync(["keys", "list"], new Dictionary<string, string?>
        {
            ["VALET_URL"] = Server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = empty.FullName,
        });
        empty.Delete(recursive: true);
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("no token was found to send. Set VALET_ADMIN_TOKEN", none.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cli_ShowsControlCharactersOfAnswers_AsQuestionMarks_NotAsTerminalCommands()
    {
        // Names stored before the server refused control characters, or an account name a provider returned.
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        var answered = AnswerOnce(server, 200, """[{"id":"ctl","name":"a\u001b[31mred\nline2\u009b2J","headless":false}]""", "application/json");

        var result = await CliRunner.RunAsync(["orgs", "list"], new Dictionary<string, string?>
        {
            ["VALET_URL"] = $"http://127.0.0.1:{((IPEndPoint)server.LocalEndpoint).Port}", ["VALET_ADMIN_TOKEN"] = "operator-admin-token",
        });
        await answered.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(result.ExitCode == 0, result.StdErr);
        Assert.DoesNotContain('\u001b', result.StdOut);
        Assert.DoesNotContain('\u009b', result.StdOut);
        var row = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1];
        Assert.Equal("ctl  a?[31mred?line2?2J  false", row);
    }

    [Fact]
    public async Task Cli_ServerUnreachable_OneLine_NamesTheUrl_AndValetServe_Exit1()
    {
        var port = FreePort();
        var env = new Dictionary<string, string?> { ["VALET_URL"] = $"http://127.0.0.1:{port}", ["VALET_DATA_DIR"] = Server.DataDirectory };

        var result = await CliRunner.RunAsync(["connect", "idp", "--no-browser"], env);

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"http://127.0.0.1:{port}", line, StringComparison.Ordinal);
        Assert.Contains("valet serve", line, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.StdOut);
    }

    [Fact]
    public async Task Cli_ConnectionsListShowDisconnect()
    {
        var (connectionId, _) = await ConnectAsync("olivia");

        var list = await CliRunner.RunAsync(["connections", "list", "--json"], CliEnv());
        var show = await CliRunner.RunAsync(["connections", "show", connectionId], CliEnv());
        var disconnect = await CliRunner.RunAsync(["connections", "disconnect", connectionId, "--json"], CliEnv());
        var missing = await CliRunner.RunAsync(["connections", "show", connectionId], CliEnv());

        Assert.Equal(0, list.ExitCode);
        Assert.Equal(connectionId, JsonDocument.Parse(list.StdOut).RootElement[0].GetProperty("id").GetString());
        Assert.Contains("olivia", show.StdOut, StringComparison.Ordinal);
        Assert.True(JsonDocument.Parse(disconnect.StdOut).RootElement.GetProperty("revoked").GetBoolean());
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("connection_not_found", missing.StdErr, StringComparison.Ordinal);
    }

    private static async Task<string> ReadUrlFromStderrAsync(Process process)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await process.StandardError.ReadLineAsync(timeout.Token) is { } line)
        {
            const string prefix = "Open this URL to continue: ";
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line[prefix.Length..];
            }
        }

        throw new InvalidOperationException("valet connect printed no URL");
    }

    private static async Task<bool> CanConnectAsync(int port)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Answers one HTTP request on <paramref name="listener"/> with <paramref name="body"/>; returns the request's head.</summary>
    private static async Task<string> AnswerOnce(TcpListener listener, int status, string body, string contentType = "application/problem+json")
    {
        using var client = await listener.AcceptTcpClientAsync();
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, leaveOpen: true);
        var head = new System.Text.StringBuilder();
        while (await reader.ReadLineAsync() is { Length: > 0 } line)
        {
            head.AppendLine(line);
        }

        var bytes = System.Text.Encoding.UTF8.GetBytes(body);
        var answer = $"HTTP/1.1 {status} Answer\r\nContent-Type: {contentType}\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(answer));
        await stream.WriteAsync(bytes);
        return head.ToString();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
