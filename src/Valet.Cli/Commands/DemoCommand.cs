using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Valet.Cli.Infrastructure;
using Valet.Core;
using Valet.Core.Domain;
using Valet.Core.Keys;
using Valet.Core.Stores;
using Valet.Server.Dashboard;
using Valet.Server.Demo;
using Valet.Server.Flows;
using Valet.Server.Hosting;

namespace Valet.Cli.Commands;

/// <summary>
/// <c>valet demo</c>: Valet on its embedded default (SQLite) plus a built-in, clearly labelled demo OAuth provider, and a
/// walkthrough: connect an account in the browser, mint an agent key, get a token through the agent route.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var noWalkthrough = new Option<bool>("--no-walkthrough") { Description = "Only run the server with the demo provider" };
        var command = new Command("demo", "Try Valet offline: the server plus a built-in demo OAuth provider and a guided connect → token")
            .With(ServeCommand.Urls, noWalkthrough);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var urls = parse.GetValue(ServeCommand.Urls) ?? ValetSettings.DefaultUrl;
            var baseUrl = urls.Split(';')[0].TrimEnd('/').Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal);
            var overrides = DemoAuthorizationServer.ProviderConfiguration(baseUrl, Ids.RandomToken(24));

            var app = await ServeCommand.BuildHostAsync(["--urls", urls], overrides, cancellationToken);

            await using (app)
            {
                await ServeCommand.StartAsync(app, "is `valet serve` already running? stop it, or pass --urls http://127.0.0.1:7879", cancellationToken);

                Console.Out.WriteLine($"Valet is running at {baseUrl} on SQLite in {app.Services.GetRequiredService<ValetSettings>().DataDirectory}.");
                Console.Out.WriteLine("DEMO MODE: a built-in demo OAuth provider named 'demo' is on (local, in-process, not a real service).");
                Console.Out.WriteLine($"API reference: {baseUrl}/docs");
                var connectionId = parse.GetValue(noWalkthrough) ? null : await WalkthroughAsync(app, baseUrl, cancellationToken);

                // The walkthrough ends in the dashboard, signed in, on the new connection (or on Integrations).
                var link = await app.Services.GetRequiredService<SignInLinks>().IssueAsync(Org.DefaultId,
                    connectionId is null ? "/" : "/connections/" + Uri.EscapeDataString(connectionId), cancellationToken);
                Console.Out.WriteLine();
                Console.Out.WriteLine(connectionId is null
                    ? "The dashboard — open this link to sign in (it works once, for 5 minutes; `valet dashboard` prints a new one):"
                    : "Step 3 — see the connection in the dashboard. Open this link to sign in (it works once, for 5 minutes; `valet dashboard` prints a new one):");
                Console.Out.WriteLine($"  {link!.Url}");

                // From a clone, `valet` is not on PATH yet; and on another address or data directory the CLI must be told where.
                var dataDirectory = app.Services.GetRequiredService<ValetSettings>().DataDirectory;
                var environment = string.Join(" ", new[]
                {
                    baseUrl == ValetSettings.DefaultUrl ? null : "VALET_URL=" + baseUrl,
                    Environment.GetEnvironmentVariable("VALET_DATA_DIR") is { Length: > 0 } ? "VALET_DATA_DIR=" + dataDirectory : null,
                }.OfType<string>());
                Console.Out.WriteLine("Valet keeps running. Ctrl+C stops it. In another terminal" +
                    (environment.Length == 0 ? ":" : $", with {environment} set:") + " `valet connections list`, `valet connect demo --force`");
                Console.Out.WriteLine("  (from a clone, without the tool installed: `dotnet run --project src/Valet.Cli -- connections list`).");
                await app.WaitForShutdownAsync(cancellationToken);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Runs the walkthrough; the new connection's id, or null when the person did not finish connecting.</summary>
    private static async Task<string?> WalkthroughAsync(WebApplication app, string baseUrl, CancellationToken cancellationToken)
    {
        var services = app.Services;
        var (started, _) = await services.GetRequiredService<ConnectStarter>().StartAsync(Org.DefaultId, DemoAuthorizationServer.ProviderId, null, null,
            CallbackTransport.Gateway, null, cancellationToken);
        Console.Out.WriteLine();
        Console.Out.WriteLine("Step 1 — connect an account. Open this URL in a browser and click Allow:");
        Console.Out.WriteLine($"  {started!.AuthorizationUrl.AbsoluteUri}");
        await Console.Out.FlushAsync(cancellationToken);

        var flows = services.GetRequiredService<IFlowStore>();
        var time = services.GetRequiredService<TimeProvider>();
        Flow? flow;
        do
        {
            await Task.Delay(TimeSpan.FromMilliseconds(300), time, cancellationToken);
            flow = await flows.FindAsync(started.Flow.Id, time.GetUtcNow(), cancellationToken);
        }
        // The store reads a flow past its expiry as expired; the margin is only a backstop (its expiry moves while exchanging).
        while (flow is { Status: FlowStatus.Pending or FlowStatus.Exchanging } && time.GetUtcNow() < flow.ExpiresAt + TimeSpan.FromSeconds(10));

        if (flow?.Status != FlowStatus.Complete)
        {
            Console.Out.WriteLine($"The connection did not complete ({flow?.Error ?? flow?.Status.ToString().ToLowerInvariant()}). Run `valet connect demo` to try again.");
            return null;
        }

        Console.Out.WriteLine($"Connected: {flow.ConnectionId}.");
        var minted = ApiKeySecrets.Mint();
        await services.GetRequiredService<IApiKeyStore>().CreateAsync(new ApiKey
        {
            Id = Ids.New("key"),
            OrgId = Org.DefaultId,
            Name = "demo agent",
            Prefix = minted.Prefix,
            Hash = minted.Hash,
            // This connection only: a data directory from an earlier run may hold other demo connections (`valet connect
            // demo --force`), and a key allowed the whole provider would then get 409 ambiguous_connection by provider.
            Permissions = [new Permission(PermissionKind.Connection, flow.ConnectionId!)],
            CreatedAt = DateTimeOffset.UtcNow,
        }, cancellationToken);

        Console.Out.WriteLine();
        Console.Out.WriteLine($"Step 2 — an agent gets a token with its API key (created for you, allowed connection:{flow.ConnectionId}):");
        Console.Out.WriteLine($"  curl -s -X POST -H 'Authorization: Bearer {minted.Key.Reveal()}' {baseUrl}/v1/providers/demo/token");
        using var http = new HttpClient { DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", minted.Key.Reveal()) } };
        using var response = await http.PostAsync($"{baseUrl}/v1/providers/demo/token", null, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            // Not expected, but the server keeps running either way: say what came back instead of ending the process.
            Console.Out.WriteLine($"  → HTTP {(int)response.StatusCode}: {Shorten(text, 300)}");
            return flow.ConnectionId;
        }

        var body = JsonDocument.Parse(text).RootElement;
        Console.Out.WriteLine($"  → HTTP {(int)response.StatusCode}: access_token {Shorten(body.Str("access_token"))}, expires_at {body.Str("expires_at")}, scopes {(body.TryGetProperty("scopes", out var scopes) ? scopes.ToString() : "none")}");

        // The other half: the agent calls the provider's API through Valet, which injects the token (docs/proxy.md).
        Console.Out.WriteLine("  or lets Valet call the provider's API for it, the token injected (the agent never holds it):");
        Console.Out.WriteLine($"  curl -s -H 'Authorization: Bearer {minted.Key.Reveal()}' {baseUrl}/v1/proxy/{flow.ConnectionId}/me");
        using var answer = await http.GetAsync($"{baseUrl}/v1/proxy/{flow.ConnectionId}/me", cancellationToken);
        Console.Out.WriteLine($"  → HTTP {(int)answer.StatusCode}: {Shorten((await answer.Content.ReadAsStringAsync(cancellationToken)).ReplaceLineEndings(" "), 120)}");
        Console.Out.WriteLine();
        Console.Out.WriteLine("That is Valet's job: the agent never saw a refresh token or a client secret, and Valet refreshes for it.");
        Console.Out.WriteLine("Connect a real provider: see README (register the redirect URI, set VALET_PROVIDERS__GITHUB__CLIENTID/__CLIENTSECRET).");
        return flow.ConnectionId;
    }

    private static string Shorten(string token, int length = 12) => token.Length <= length ? token : token[..length] + "…";
}
