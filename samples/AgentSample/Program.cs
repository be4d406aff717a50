// A small agent on Valet.Client: bootstrap, one API call through Valet's proxy, and — when a person must act — say
// what they must do, wait for them, and try again.
//
//   VALET_URL=http://127.0.0.1:7878 VALET_API_KEY=vk_… dotnet run --project samples/AgentSample [PROVIDER] [PATH]
//
// PROVIDER (or a connection id) defaults to the first one the key may use; PATH (under the provider's API base) defaults
// to "user".
using Valet.Client;

namespace AgentSample;

internal static class Program
{
    private static readonly TimeSpan PersonTimeout = TimeSpan.FromMinutes(5);

    public static async Task<int> Main(string[] args)
    {
        var apiKey = Environment.GetEnvironmentVariable("VALET_API_KEY");
        if (string.IsNullOrWhiteSpace(apiKey))
        {
            await Console.Error.WriteLineAsync("Set VALET_API_KEY to an agent key (valet keys create NAME --allow provider:github).");
            return 2;
        }

        var baseUrl = new Uri(Environment.GetEnvironmentVariable("VALET_URL") ?? "http://127.0.0.1:7878");
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancel.Cancel();
        };

        using var valet = new ValetClient(baseUrl, apiKey);
        try
        {
            return await RunAsync(valet, args, cancel.Token);
        }
        catch (ValetApiException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return 1;
        }
        catch (HttpRequestException e)
        {
            await Console.Error.WriteLineAsync($"Valet is not reachable at {baseUrl} ({e.Message}). Start it with `valet serve`.");
            return 1;
        }
    }

    private static async Task<int> RunAsync(ValetClient valet, string[] args, CancellationToken cancellationToken)
    {
        // 1. What may this key use, and what needs a person?
        var bootstrap = await valet.GetBootstrapAsync(cancellationToken);
        Console.WriteLine($"org {bootstrap.Org}: {bootstrap.Connections.Count} connection(s), {bootstrap.Targets.Count} target(s)");
        foreach (var c in bootstrap.Connections)
        {
            Console.WriteLine($"  {c.Id}  {c.Provider}  {c.Account?.Login ?? c.Account?.Id}  {c.Status}");
        }

        foreach (var need in bootstrap.Needs)
        {
            Console.WriteLine($"  {need.Provider}: {need.Code}");
        }

        // PROVIDER may also be a connection id (conn_…), for a key with several connections of one provider.
        var wanted = args.Length > 0 ? args[0]
            : bootstrap.Connections.Count > 0 ? bootstrap.Connections[0].Provider
            : bootstrap.Needs.Count > 0 ? bootstrap.Needs[0].Provider : null;
        if (wanted is null)
        {
            await Console.Error.WriteLineAsync("This key may use nothing yet: give it a permission (valet keys create … --allow provider:ID).");
            return 1;
        }

        var path = args.Length > 1 ? args[1] : "user";

        // 2. Which connection: the bootstrap already names them, so no token is fetched just to learn an id (a key
        //    without "reveal" would be refused one for an API-key provider anyway: the proxy is the way to use those).
        var matching = bootstrap.Connections.Where(c => c.Id == wanted || c.Provider == wanted).ToList();
        if (matching.Count > 1 && await DefaultConnectionAsync(valet, wanted, cancellationToken) is { } chosen)
        {
            matching = [.. matching.Where(c => c.Id == chosen)];
        }

        if (matching.Count > 1)
        {
            await Console.Error.WriteLineAsync($"This key may use {matching.Count} {wanted} connections; name one by its id: "
                + string.Join(", ", matching.Select(c => $"{c.Id} ({c.Account?.Login ?? c.Account?.Email ?? c.Account?.Id})")));
            return 2;
        }

        var connection = matching.SingleOrDefault();
        var requirement = connection?.Envelope ?? (connection is null ? bootstrap.Needs.FirstOrDefault(n => n.Provider == wanted) : null);
        if (connection is null && requirement is null)
        {
            await Console.Error.WriteLineAsync($"This key may not use '{wanted}' (bootstrap lists what it may use).");
            return 1;
        }

        // 3. A person acts first if the bootstrap says so; then one call through the proxy, recovering once more if the
        //    call itself finds the grant gone (a refresh refused between the bootstrap and now).
        var acted = false;
        for (var attempt = 1; ; attempt++)
        {
            if (requirement is not null)
            {
                if (acted)
                {
                    await Console.Error.WriteLineAsync($"Still {requirement.Code} after the person acted: {requirement.Detail}");
                    return 1;
                }

                if (await PersonActsAsync(valet, requirement, cancellationToken) is not { } connected)
                {
                    return 1;
                }

                acted = true;
                connection = null;
                requirement = null;
                wanted = connected;
            }

            var connectionId = connection?.Id ?? wanted;
            try
            {
                using var response = await valet.GetAsync(ValetRoute.Connection(connectionId), path, cancellationToken);
                Console.WriteLine($"GET {path} via {connectionId}: {(int)response.StatusCode}");
                Console.WriteLine(await response.Content.ReadAsStringAsync(cancellationToken));
                return response.IsSuccessStatusCode ? 0 : 1;
            }
            catch (ValetAuthRequiredException e)
            {
                requirement = e.Requirement;
            }
            catch (ValetProviderUnavailableException e) when (attempt == 1)
            {
                var wait = e.RetryAfter ?? TimeSpan.FromSeconds(5);
                await Console.Error.WriteLineAsync($"The provider is unavailable; trying again in {wait.TotalSeconds:0} s.");
                await Task.Delay(wait, cancellationToken);
            }
        }
    }

    /// <summary>
    /// Several connections of one provider: the one an agent asking by provider gets (the org's default), learned from the
    /// token route's answer. Null when that is ambiguous, or when the route does not hand this key a token (an API-key
    /// provider's secret, for a key without "reveal": such keys use the proxy with a connection id).
    /// </summary>
    private static async Task<string?> DefaultConnectionAsync(ValetClient valet, string provider, CancellationToken cancellationToken)
    {
        try
        {
            return (await valet.GetProviderTokenAsync(provider, cancellationToken: cancellationToken)).ConnectionId;
        }
        catch (ValetApiException)
        {
            return null;
        }
    }

    /// <summary>Says what the person must do; for an ordinary org waits for them. The connection they made, or null.</summary>
    private static async Task<string?> PersonActsAsync(ValetClient valet, ValetAuthRequirement e, CancellationToken cancellationToken)
    {
        var scopes = e.RequiredScopes.Count > 0 ? string.Join(' ', e.RequiredScopes) : "(default scopes)";
        if (e.Headless)
        {
            // White-label org: no Valet page to send anyone to. The integrator runs its own OAuth dance and imports.
            if (e.CredentialId is null)
            {
                Console.WriteLine($"{e.Code}: {e.Detail}"); // what comes first: the org's own client, or (API-key provider) the secret
                return null;
            }

            Console.WriteLine($"{e.Code}: run your own OAuth authorization for provider '{e.Provider}' with scopes {scopes}");
            Console.WriteLine($"  using credential {e.CredentialId}, then import the tokens (POST /v1/orgs/{{org}}/connections/import).");
            return null;
        }

        Console.WriteLine(e.Code switch
        {
            ValetEnvelopeCodes.MissingScopes => $"The {e.Provider} connection lacks {string.Join(' ', e.MissingScopes)}.",
            ValetEnvelopeCodes.ReauthRequired => $"The {e.Provider} connection must be reconnected.",
            _ => $"No {e.Provider} account is connected yet.",
        });
        if (e.ConnectUrl is null || e.FlowId is null)
        {
            // Valet could not start a flow (e.g. no OAuth client is configured for the provider): nothing to wait on.
            Console.WriteLine($"Valet has no way to connect {e.Provider} yet: an operator must configure an OAuth client for it.");
            return null;
        }

        Console.WriteLine($"An operator of this org should open: {e.ConnectUrl}");
        Console.WriteLine($"Waiting up to {PersonTimeout.TotalMinutes:0} minutes…");

        var flow = await e.WaitForFlowAsync(valet, PersonTimeout, cancellationToken);
        Console.WriteLine($"Flow {flow.Status}{(flow.Error is null ? "" : ": " + flow.Error)}");
        return flow.IsComplete ? flow.ConnectionId : null;
    }
}
