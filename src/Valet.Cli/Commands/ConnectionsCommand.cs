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
                var kind = c.Str("credential") is { Length: > 0 } credential ? credential : "oauth";
                Console.Out.WriteLine($"  holds:   {(kind == "oauth" ? "OAuth tokens" : kind + " secret (never shown)")}");
                Console.Out.WriteLine($"  scopes:  {(c.TryGetProperty("scopes", out var s) ? string.Join(' ', s.EnumerateArray().Select(x => x.GetString())) : kind == "oauth" ? "(unknown)" : "(none: a static secret has no scopes)")}");
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

        return new Command("connections", "Connected accounts").With(list, show, disconnect, Add(), Rotate());
    }

    private static readonly Option<string> Secret = new("--secret")
    {
        Description = "'-': read the API key (or, with --username, the password) from stdin. Secrets are never taken from the command line.",
    };

    private static readonly Option<string> Username = new("--username") { Description = "Username, for a basic (HTTP Basic) provider" };

    /// <summary><c>valet connections add PROVIDER --secret -</c>: an api_key, basic or client-credentials connection.</summary>
    private static Command Add()
    {
        var provider = new Argument<string>("provider") { Description = "Provider id (see valet providers list)" };
        var account = new Option<string>("--account") { Description = "Account id (default: 'default'; the same id again replaces the secret)" };
        var login = new Option<string>("--login") { Description = "Account login shown in listings" };
        var credential = new Option<string>("--credential") { Description = "oauth2_cc: the BYOC credential id (valet credentials add)" };
        var scopes = new Option<string>("--scopes") { Description = "oauth2_cc: scopes to ask for, comma-separated" };
        var apiBase = new Option<string>("--api-base-url")
        {
            Description = "The site this connection calls, for a provider whose API lives on each customer's own host (jira, confluence: https://SITE.atlassian.net)",
        };
        return new Command("add", "Create a connection holding an API key or a username and password (read from stdin), or a client-credentials one")
            .With(provider, Secret, Username, account, login, credential, scopes, apiBase, KeysCommand.Org, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var username = parse.GetValue(Username);
                var secret = await ReadSecretAsync(parse.GetValue(Secret), username is null ? "API key" : "Password", ct);
                var body = new Dictionary<string, object?> { ["provider"] = parse.GetValue(provider) };
                if (parse.GetValue(account) is not null || parse.GetValue(login) is not null)
                {
                    body["account"] = new { id = parse.GetValue(account) ?? "default", login = parse.GetValue(login) };
                }

                if (secret is not null)
                {
                    body[username is null ? "api_key" : "password"] = secret;
                }

                body["username"] = username;
                body["credential_id"] = parse.GetValue(credential);
                body["api_base_url"] = parse.GetValue(apiBase);
                body["scopes"] = parse.GetValue(scopes)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var answer = await api.PostAsync(
                    $"v1/orgs/{Uri.EscapeDataString(parse.GetValue(KeysCommand.Org)!)}/connections",
                    body.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value), ct);
                if (secret is null && !answer.IsSuccess && answer.Body.ValueKind == JsonValueKind.Object
                    && answer.Body.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object
                    && (errors.TryGetProperty("api_key", out _) || errors.TryGetProperty("password", out _)))
                {
                    // The secret was not asked for: say how to give it, not only that the server misses it.
                    throw new CliException(ValetApi.Describe(answer) + " Pipe the secret in with --secret - (`printf %s \"$KEY\" | valet connections add "
                        + parse.GetValue(provider) + " --secret -`).", code: answer.ErrorCode);
                }

                var created = ValetApi.EnsureSuccess(answer);
                Print(parse, created);
                return ExitCodes.Success;
            });
    }

    /// <summary><c>valet connections rotate ID --secret -</c>: a new secret, same connection.</summary>
    private static Command Rotate()
    {
        var id = new Argument<string>("id") { Description = "Connection id (conn_…)" };
        return new Command("rotate", "Replace the API key (or password) of a connection in place; the new secret is read from stdin")
            .With(id, Secret, Username, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var username = parse.GetValue(Username);
                var secret = await ReadSecretAsync(parse.GetValue(Secret) ?? "-", username is null ? "API key" : "Password", ct);
                object body = username is null ? new { api_key = secret } : new { username, password = secret };
                var rotated = ValetApi.EnsureSuccess(await api.SendAsync(HttpMethod.Put,
                    $"v1/connections/{Uri.EscapeDataString(parse.GetValue(id)!)}/secret", body, ct));
                Print(parse, rotated);
                return ExitCodes.Success;
            });
    }

    private static void Print(ParseResult parse, JsonElement connection)
    {
        if (parse.GetValue(Verb.Json))
        {
            CliJson.Print(connection);
        }
        else
        {
            Console.Out.WriteLine(connection.Str("id"));
        }
    }

    /// <summary>Null without <c>--secret</c>; with <c>--secret -</c> the first line of stdin (prompted on a terminal).</summary>
    private static async Task<string?> ReadSecretAsync(string? option, string what, CancellationToken cancellationToken)
    {
        if (option is null)
        {
            return null;
        }

        if (option != "-")
        {
            throw new CliException("--secret takes '-' only: the secret is read from stdin, never from the command line " +
                "(`printf %s \"$KEY\" | valet connections add PROVIDER --secret -`).", ExitCodes.Usage);
        }

        var secret = await SecretInput.ReadAsync(what, cancellationToken);
        return string.IsNullOrEmpty(secret)
            ? throw new CliException($"no {what.ToLowerInvariant()} on stdin (pipe it in: `printf %s \"$SECRET\" | valet ...`).", ExitCodes.Usage)
            : secret;
    }

    private static string Account(JsonElement connection)
    {
        var account = connection.GetProperty("account");
        return account.Str("login") is { Length: > 0 } login ? login : account.Str("id");
    }
}
