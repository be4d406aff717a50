using System.CommandLine;
using System.Globalization;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary><c>valet audit [--org] [--limit N] [--before ID] [--json]</c>: the newest audit events first.</summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var limit = new Option<int>("--limit") { Description = "How many events (1-500)", DefaultValueFactory = _ => 50 }.WholeNumber();
        var before = new Option<long?>("--before") { Description = "Page from this event id (exclusive): the 'next' of a previous page" }.WholeNumber();
        return new Command("audit", "Show the audit trail: proxied calls (never headers, bodies or query values) and connection events")
            .With(KeysCommand.Org, limit, before, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                if (parse.GetValue(limit) is < 1 or > 500)
                {
                    throw new CliException($"--limit must be between 1 and 500, not {parse.GetValue(limit).ToString(CultureInfo.InvariantCulture)}.", ExitCodes.Usage);
                }

                var path = $"v1/orgs/{Uri.EscapeDataString(parse.GetValue(KeysCommand.Org)!)}/audit?limit={parse.GetValue(limit).ToString(CultureInfo.InvariantCulture)}";
                if (parse.GetValue(before) is { } from)
                {
                    path += "&before=" + from.ToString(CultureInfo.InvariantCulture);
                }

                var body = ValetApi.EnsureSuccess(await api.GetAsync(path, ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                    return ExitCodes.Success;
                }

                Table.Print(["id", "at", "kind", "key", "connection", "method", "path", "status", "ms", "in", "out", "detail"],
                    body.GetProperty("events").EnumerateArray().Select(e => (IReadOnlyList<string>)
                    [
                        e.Str("id"), e.Str("at"), e.Str("kind"), e.Str("key_id"), e.Str("connection_id"), e.Str("method"), e.Str("path"),
                        e.Str("status"), e.Str("duration_ms"), e.Str("bytes_in"), e.Str("bytes_out"), e.Str("detail"),
                    ]));
                if (body.Str("next") is { Length: > 0 } next)
                {
                    Console.Error.WriteLine($"More: valet audit --before {next}");
                }

                return ExitCodes.Success;
            });
    }
}
