using System.CommandLine;
using System.Text.Json;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

internal static class ProvidersCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List catalog, configured and runtime providers: where each comes from, its auth mode, and which are ready").With(Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var body = ValetApi.EnsureSuccess(await api.GetAsync("v1/providers", ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Table.Print(["id", "name", "source", "auth", "ready", "targets"], body.EnumerateArray().Select(p => (IReadOnlyList<string>)
                        [p.Str("id"), p.Str("display_name"), p.Str("source"), p.Str("auth_mode"),
                            string.Equals(p.Str("ready"), "true", StringComparison.OrdinalIgnoreCase) ? "yes" : "no (no client configured)",
                            string.Join(",", p.GetProperty("targets").EnumerateArray().Select(t => t.GetString()))]));
                }

                return ExitCodes.Success;
            });

        var setId = new Argument<string>("id") { Description = "Provider id (a slug)" };
        var file = new Option<string>("--file") { Description = "JSON document: the keys of the provider (snake case), '-' for stdin", Required = true };
        var set = new Command("set", "Register or replace a provider at run time from a JSON file").With(setId, file, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var path = parse.GetValue(file)!;
                var text = await InputFiles.ReadTextAsync(path, "--file", ct);
                JsonElement document;
                try
                {
                    document = JsonDocument.Parse(text).RootElement.Clone();
                }
                catch (JsonException e)
                {
                    throw new CliException($"{(path == "-" ? "stdin" : path)} is not valid JSON ({e.Message})", ExitCodes.Usage);
                }

                var body = ValetApi.EnsureSuccess(await api.SendAsync(HttpMethod.Put, "v1/providers/" + Uri.EscapeDataString(parse.GetValue(setId)!),
                    document, ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    var provider = body.GetProperty("provider");
                    Console.Out.WriteLine($"{provider.Str("id")}  {provider.Str("auth_mode")}  {provider.Str("source")}");
                }

                return ExitCodes.Success;
            });

        var deleteId = new Argument<string>("id") { Description = "Provider id" };
        var delete = new Command("delete", "Delete a runtime provider (refused while connections use it)").With(deleteId, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var body = ValetApi.EnsureSuccess(await api.SendAsync(HttpMethod.Delete, "v1/providers/" + Uri.EscapeDataString(parse.GetValue(deleteId)!),
                    null, ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Console.Out.WriteLine($"Deleted provider {body.Str("id")}.");
                }

                return ExitCodes.Success;
            });

        return new Command("providers", "Provider catalog, and providers registered at run time").With(list, set, delete);
    }
}
