using System.CommandLine;
using System.Text.Json;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary>
/// <c>valet import FILE|-</c>: tokens obtained elsewhere. The JSON body of <c>POST /v1/orgs/{org}/connections/import</c>
/// comes from a file or stdin, never from flags, so tokens stay out of the process list and shell history.
/// </summary>
internal static class ImportCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("file") { Description = "JSON file with provider, credential_id, access_token, … ('-' = stdin)" };
        return new Command("import", "Import tokens a white-label integrator obtained itself").With(file, KeysCommand.Org, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var path = parse.GetValue(file)!;
                var text = await InputFiles.ReadTextAsync(path, "valet import", ct);

                JsonElement body;
                try
                {
                    body = JsonDocument.Parse(text).RootElement.Clone();
                }
                catch (JsonException)
                {
                    throw new CliException($"{(path == "-" ? "stdin" : path)} is not valid JSON.", ExitCodes.Usage);
                }

                var result = ValetApi.EnsureSuccess(await api.PostAsync(
                    $"v1/orgs/{Uri.EscapeDataString(parse.GetValue(KeysCommand.Org)!)}/connections/import", body, ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(result);
                }
                else
                {
                    Console.Out.WriteLine(result.Str("id"));
                }

                return ExitCodes.Success;
            });
    }
}
