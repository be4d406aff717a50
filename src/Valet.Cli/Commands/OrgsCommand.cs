using System.CommandLine;
using System.Text.Json;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

internal static class OrgsCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("id") { Description = "Org id (a slug)" };
        var name = new Option<string?>("--name") { Description = "Display name (default: the id)" };
        var headless = new Option<bool>("--headless") { Description = "White-label org: its end users never see Valet's pages" };
        var create = new Command("create", "Create an org").With(id, name, headless, Verb.Json).WithApi(async (parse, api, ct) =>
        {
            var body = ValetApi.EnsureSuccess(await api.PostAsync("v1/orgs",
                new { id = parse.GetValue(id), name = parse.GetValue(name), headless = parse.GetValue(headless) }, ct));
            return Print(body, parse.GetValue(Verb.Json));
        });

        var list = new Command("list", "List orgs").With(Verb.Json).WithApi(async (parse, api, ct) =>
        {
            var body = ValetApi.EnsureSuccess(await api.GetAsync("v1/orgs", ct));
            if (parse.GetValue(Verb.Json))
            {
                CliJson.Print(body);
            }
            else
            {
                Table.Print(["id", "name", "headless"], body.EnumerateArray().Select(o => (IReadOnlyList<string>)[o.Str("id"), o.Str("name"), o.Str("headless")]));
            }

            return ExitCodes.Success;
        });

        var showId = new Argument<string>("id") { Description = "Org id" };
        var show = new Command("show", "Show an org").With(showId, Verb.Json).WithApi(async (parse, api, ct) =>
            Print(ValetApi.EnsureSuccess(await api.GetAsync("v1/orgs/" + Uri.EscapeDataString(parse.GetValue(showId)!), ct)), parse.GetValue(Verb.Json)));

        var setId = new Argument<string>("id") { Description = "Org id" };
        var value = new Argument<bool>("headless") { Description = "true or false", DefaultValueFactory = _ => true }.TrueOrFalse();
        var setHeadless = new Command("set-headless", "Make an org headless (true) or ordinary (false)").With(setId, value, Verb.Json)
            .WithApi(async (parse, api, ct) =>
                Print(ValetApi.EnsureSuccess(await api.SendAsync(HttpMethod.Patch, "v1/orgs/" + Uri.EscapeDataString(parse.GetValue(setId)!),
                    new { headless = parse.GetValue(value) }, ct)), parse.GetValue(Verb.Json)));

        return new Command("orgs", "Manage orgs (tenants)").With(create, list, show, setHeadless);
    }

    private static int Print(JsonElement org, bool json)
    {
        if (json)
        {
            CliJson.Print(org);
        }
        else
        {
            Console.Out.WriteLine($"{org.Str("id")}  name={org.Str("name")}  headless={org.Str("headless").ToLowerInvariant()}");
        }

        return ExitCodes.Success;
    }
}
