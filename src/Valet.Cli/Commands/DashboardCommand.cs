using System.CommandLine;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary>
/// <c>valet dashboard</c> (local mode): asks the server for a single-use sign-in link that expires in 5 minutes, prints it
/// on stdout and opens the browser on it. The link is a credential until used: it is printed, never logged.
/// </summary>
internal static class DashboardCommand
{
    public static Command Create()
    {
        var page = new Option<string>("--page") { Description = "The dashboard page to land on, e.g. /keys", DefaultValueFactory = _ => "/" };
        var noBrowser = new Option<bool>("--no-browser") { Description = "Only print the link" };
        return new Command("dashboard", "Open the operator dashboard, signed in (a single-use link valid for 5 minutes)")
            .With(page, noBrowser, Verb.Json, KeysCommand.Org)
            .WithApi(async (parse, api, ct) =>
            {
                if (parse.GetValue(page) is not { Length: > 0 } landing || landing[0] != '/')
                {
                    // The server calls it "return"; here it is --page, and a page is a path on the dashboard.
                    throw new CliException($"--page takes a dashboard path starting with '/', such as /keys, not '{CliJson.Printable(parse.GetValue(page) ?? string.Empty)}'.",
                        ExitCodes.Usage);
                }

                var body = ValetApi.EnsureSuccess(await api.PostAsync("internal/dashboard/signin-link", new
                {
                    org = parse.GetValue(KeysCommand.Org),
                    @return = parse.GetValue(page),
                }, ct));
                var url = body.Str("url");
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(new Dictionary<string, object?> { ["url"] = url, ["expires_at"] = body.Str("expires_at") });
                }
                else
                {
                    Console.Out.WriteLine(url);
                }

                if (!parse.GetValue(noBrowser) && ConnectCommand.TryOpenBrowser(url))
                {
                    Console.Error.WriteLine("Opened your browser on the dashboard. The link signs in once and expires in 5 minutes.");
                }
                else
                {
                    Console.Error.WriteLine("Open this link to sign in to the dashboard. It signs in once and expires in 5 minutes.");
                }

                return ExitCodes.Success;
            });
    }
}
