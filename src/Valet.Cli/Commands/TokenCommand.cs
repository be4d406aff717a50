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
                Console.Error.WriteLine($"valet: {response.Body.Str("code")}: {response.Body.Str("detail")}{NextStep(response.Body)}");
                return ExitCodes.Failure;
            }

            if (response.Status == 409 && response.Body.ValueKind == JsonValueKind.Object && response.Body.TryGetProperty("required_scopes", out _))
            {
                throw new CliException(ValetApi.Describe(response) + NextStep(response.Body), code: response.ErrorCode);
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
    /// What a person does about an auth-recovery envelope, from the CLI: open its connect link. Without one there is
    /// nothing to add: the envelope's detail already says why and what to do (a headless org's integrator imports; a
    /// provider an operator connects names the operator's step; "No connect link: …" names what must happen first — a
    /// client configured, or fewer pending flows — which `valet connect` would meet too).
    /// </summary>
    private static string NextStep(JsonElement envelope) =>
        envelope.Str("connect_url") is { Length: > 0 } url ? $" Open {url} to grant it." : string.Empty;
}
