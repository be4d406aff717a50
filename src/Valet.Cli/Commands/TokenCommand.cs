using System.CommandLine;
using System.Text.Json;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary><c>valet token CONNECTION</c>: a fresh access token (refreshed first when near expiry), for scripts on this machine.</summary>
internal static class TokenCommand
{
    public static Command Create()
    {
        var connection = new Argument<string>("connection") { Description = "Connection id (conn_…)" };
        var scopes = new Option<string?>("--scopes") { Description = "Comma-separated scopes the token must carry" };
        return new Command("token", "Print a fresh access token for a connection").With(connection, scopes, Verb.Json).WithApi(async (parse, api, ct) =>
        {
            var required = parse.GetValue(scopes)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var response = await api.PostAsync($"v1/connections/{Uri.EscapeDataString(parse.GetValue(connection)!)}/token",
                new { scopes = required ?? [] }, ct);
            if (response.Status == 409 && parse.GetValue(Verb.Json))
            {
                // An envelope is data an automation wants whole; still a failure exit, and the one stderr line every failure has.
                CliJson.Print(response.Body);
                Console.Error.WriteLine($"valet: {response.Body.Str("code")}: {response.Body.Str("detail")}{await NextStepAsync(api, response.Body, ct)}");
                return ExitCodes.Failure;
            }

            if (response.Status == 409 && response.Body.ValueKind == JsonValueKind.Object && response.Body.TryGetProperty("required_scopes", out _))
            {
                throw new CliException(ValetApi.Describe(response) + await NextStepAsync(api, response.Body, ct), code: response.ErrorCode);
            }

            var body = ValetApi.EnsureSuccess(response);
            if (parse.GetValue(Verb.Json))
            {
                CliJson.Print(body);
            }
            else
            {
                Console.Out.WriteLine(body.Str("access_token"));
            }

            return ExitCodes.Success;
        });
    }

    /// <summary>
    /// What a person does about an auth-recovery envelope, from the CLI: open its connect link when it has one, else
    /// connect with the scopes it names. A headless org's envelope has no link and is answered by its integrator (import),
    /// and a provider an operator connects (api_key, basic, oauth2_cc) is not connected in a browser: its detail already
    /// says what the operator does, so nothing is added. Which kind of provider it is comes from the provider itself
    /// (<c>GET /v1/providers/{id}</c>, its <c>auth_mode</c>), read only on this failure path; if that cannot be read, no
    /// step is suggested rather than a wrong one.
    /// </summary>
    private static async Task<string> NextStepAsync(ValetApi api, JsonElement envelope, CancellationToken cancellationToken)
    {
        if (envelope.Str("connect_url") is { Length: > 0 } url)
        {
            return $" Open {url} to grant it.";
        }

        if (envelope.Str("headless") == "true" || envelope.Str("provider") is not { Length: > 0 } provider
            || !await IsBrowserConnectedAsync(api, provider, cancellationToken))
        {
            return string.Empty;
        }

        var scopes = envelope.TryGetProperty("required_scopes", out var required) && required.ValueKind == JsonValueKind.Array
            ? string.Join(',', required.EnumerateArray().Select(s => s.GetString()))
            : string.Empty;
        return $" Run `valet connect {provider}{(scopes.Length > 0 ? " --scopes " + scopes : string.Empty)}` to grant it.";
    }

    private static async Task<bool> IsBrowserConnectedAsync(ValetApi api, string provider, CancellationToken cancellationToken)
    {
        var response = await api.GetAsync($"v1/providers/{Uri.EscapeDataString(provider)}", cancellationToken);
        return response.Status == 200 && response.Body.ValueKind == JsonValueKind.Object
            && response.Body.TryGetProperty("provider", out var definition) && definition.ValueKind == JsonValueKind.Object
            && definition.Str("auth_mode") == "oauth2";
    }
}
