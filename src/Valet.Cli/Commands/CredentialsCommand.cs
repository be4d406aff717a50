using System.CommandLine;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary>
/// <c>valet credentials</c>: an org's own OAuth clients (BYOC). The client secret is read from stdin, never from a flag,
/// so it does not show up in the process list or shell history.
/// </summary>
internal static class CredentialsCommand
{
    public static Command Create()
    {
        var provider = new Argument<string>("provider") { Description = "Provider id (see valet providers list)" };
        var clientId = new Option<string>("--client-id") { Description = "OAuth client id", Required = true };
        var add = new Command("add", "Register an OAuth client for a provider; the secret is read from stdin")
            .With(provider, clientId, KeysCommand.Org, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var secret = (await SecretInput.ReadAsync("Client secret", ct))?.Trim();
                if (string.IsNullOrEmpty(secret))
                {
                    throw new CliException("no client secret on stdin (pipe it in: `echo \"$SECRET\" | valet credentials add ...`).", ExitCodes.Usage);
                }

                var body = ValetApi.EnsureSuccess(await api.PostAsync($"v1/orgs/{Uri.EscapeDataString(parse.GetValue(KeysCommand.Org)!)}/credentials",
                    new { provider = parse.GetValue(provider), client_id = parse.GetValue(clientId), client_secret = secret }, ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Console.Out.WriteLine(body.Str("id"));
                }

                return ExitCodes.Success;
            });

        var list = new Command("list", "List an org's OAuth clients (secrets are never shown)").With(KeysCommand.Org, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var body = ValetApi.EnsureSuccess(await api.GetAsync($"v1/orgs/{Uri.EscapeDataString(parse.GetValue(KeysCommand.Org)!)}/credentials", ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Table.Print(["id", "provider", "client_id"], body.EnumerateArray().Select(c => (IReadOnlyList<string>)[c.Str("id"), c.Str("provider"), c.Str("client_id")]));
                }

                return ExitCodes.Success;
            });

        return new Command("credentials", "Manage an org's own OAuth clients (BYOC)").With(add, list);
    }
}
