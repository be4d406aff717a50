using System.CommandLine;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

internal static class ProvidersCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List catalog and operator-defined providers, and which are ready").With(Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var body = ValetApi.EnsureSuccess(await api.GetAsync("v1/providers", ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Table.Print(["id", "name", "ready", "targets"], body.EnumerateArray().Select(p => (IReadOnlyList<string>)
                        [p.Str("id"), p.Str("display_name"), string.Equals(p.Str("ready"), "true", StringComparison.OrdinalIgnoreCase) ? "yes" : "no (no client configured)",
                            string.Join(",", p.GetProperty("targets").EnumerateArray().Select(t => t.GetString()))]));
                }

                return ExitCodes.Success;
            });
        return new Command("providers", "Provider catalog").With(list);
    }
}
