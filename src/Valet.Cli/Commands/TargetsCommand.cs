using System.CommandLine;
using System.Text.Json;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary><c>valet targets list [--org] [--json]</c>: the named API surfaces bound to an org's connections.</summary>
internal static class TargetsCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List an org's targets (managed ones come from the provider catalog)").With(KeysCommand.Org, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var body = ValetApi.EnsureSuccess(await api.GetAsync($"v1/orgs/{Uri.EscapeDataString(parse.GetValue(KeysCommand.Org)!)}/targets", ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Table.Print(["id", "name", "provider", "connection", "managed", "required scopes", "base url"], body.EnumerateArray().Select(t =>
                        (IReadOnlyList<string>)[t.Str("id"), t.Str("name"), t.Str("provider"), t.Str("connection_id"), t.Str("managed").ToLowerInvariant(),
                            Scopes(t), t.Str("base_url")]));
                }

                return ExitCodes.Success;
            });

        return new Command("targets", "Targets: named API surfaces agents call through /v1/targets/{id}/…").With(list);
    }

    private static string Scopes(JsonElement target) =>
        target.TryGetProperty("required_scopes", out var scopes) && scopes.ValueKind == JsonValueKind.Array
            ? string.Join(' ', scopes.EnumerateArray().Select(s => s.GetString()))
            : string.Empty;
}
