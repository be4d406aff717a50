using System.CommandLine;
using System.Text.Json;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

internal static class ConnectionsCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List an org's connections").With(KeysCommand.Org, Verb.Json).WithApi(async (parse, api, ct) =>
        {
            var body = ValetApi.EnsureSuccess(await api.GetAsync($"v1/orgs/{Uri.EscapeDataString(parse.GetValue(KeysCommand.Org)!)}/connections", ct));
            if (parse.GetValue(Verb.Json))
            {
                CliJson.Print(body);
            }
            else
            {
                Table.Print(["id", "provider", "account", "status", "expires"], body.EnumerateArray().Select(c => (IReadOnlyList<string>)
                    [c.Str("id"), c.Str("provider"), Account(c), c.Str("status"), c.Str("expires_at")]));
            }

            return ExitCodes.Success;
        });

        var showId = new Argument<string>("id") { Description = "Connection id (conn_…)" };
        var show = new Command("show", "Show one connection (never its tokens)").With(showId, Verb.Json).WithApi(async (parse, api, ct) =>
        {
            var c = ValetApi.EnsureSuccess(await api.GetAsync("v1/connections/" + Uri.EscapeDataString(parse.GetValue(showId)!), ct));
            if (parse.GetValue(Verb.Json))
            {
                CliJson.Print(c);
            }
            else
            {
                Console.Out.WriteLine($"{c.Str("id")}  {c.Str("provider")}  {Account(c)}  {c.Str("status")}");
                Console.Out.WriteLine($"  scopes:  {(c.TryGetProperty("scopes", out var s) ? string.Join(' ', s.EnumerateArray().Select(x => x.GetString())) : "(unknown)")}");
                Console.Out.WriteLine($"  expires: {(c.Str("expires_at") is { Length: > 0 } e ? e : "(no expiry)")}");
            }

            return ExitCodes.Success;
        });

        var deleteId = new Argument<string>("id") { Description = "Connection id (conn_…)" };
        var disconnect = new Command("disconnect", "Revoke at the provider where possible, then delete tokens and managed targets")
            .With(deleteId, Verb.Json).WithApi(async (parse, api, ct) =>
            {
                var body = ValetApi.EnsureSuccess(await api.SendAsync(HttpMethod.Delete, "v1/connections/" + Uri.EscapeDataString(parse.GetValue(deleteId)!), null, ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Console.Out.WriteLine($"Disconnected {body.Str("id")} (revoked at the provider: {body.Str("revoked").ToLowerInvariant()}).");
                }

                return ExitCodes.Success;
            });

        return new Command("connections", "Connected accounts").With(list, show, disconnect);
    }

    private static string Account(JsonElement connection)
    {
        var account = connection.GetProperty("account");
        return account.Str("login") is { Length: > 0 } login ? login : account.Str("id");
    }
}
