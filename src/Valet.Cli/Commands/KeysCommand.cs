using System.CommandLine;
using System.Text.Json;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary><c>valet keys</c>: agent API keys only (the encryption key is <c>valet vault</c>).</summary>
internal static class KeysCommand
{
    public static readonly Option<string> Org = new("--org") { Description = "Org id", DefaultValueFactory = _ => "default" };

    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "A name for the key (who holds it)" };
        var allow = new Option<string[]>("--allow")
        {
            Description = "Permission, repeatable: connection:ID, provider:PROVIDER or target:ID; connection and provider may end in :reveal",
            AllowMultipleArgumentsPerToken = false,
        };
        var create = new Command("create", "Create an API key; the secret is printed this once").With(name, allow, Org, Verb.Json)
            .WithApi(async (parse, api, ct) =>
            {
                var permissions = ParsePermissions(parse.GetValue(allow) ?? []);
                var body = ValetApi.EnsureSuccess(await api.PostAsync($"v1/orgs/{Uri.EscapeDataString(parse.GetValue(Org)!)}/keys",
                    new { name = parse.GetValue(name), permissions }, ct));
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(body);
                }
                else
                {
                    Console.Out.WriteLine(body.Str("key"));
                    Console.Error.WriteLine($"Created {body.Str("id")} ({body.Str("prefix")}). The key above is shown only once: store it now.");
                }

                return ExitCodes.Success;
            });

        var list = new Command("list", "List API keys (never their secrets)").With(Org, Verb.Json).WithApi(async (parse, api, ct) =>
        {
            var body = ValetApi.EnsureSuccess(await api.GetAsync($"v1/orgs/{Uri.EscapeDataString(parse.GetValue(Org)!)}/keys", ct));
            if (parse.GetValue(Verb.Json))
            {
                CliJson.Print(body);
            }
            else
            {
                Table.Print(["id", "name", "prefix", "permissions", "last used"], body.EnumerateArray().Select(k => (IReadOnlyList<string>)
                    [k.Str("id"), k.Str("name"), k.Str("prefix"), Permissions(k), k.Str("last_used_at") is { Length: > 0 } used ? used : "never"]));
            }

            return ExitCodes.Success;
        });

        var id = new Argument<string>("id") { Description = "Key id (key_…)" };
        var revoke = new Command("revoke", "Revoke (delete) an API key").With(id, Verb.Json).WithApi(async (parse, api, ct) =>
        {
            ValetApi.EnsureSuccess(await api.SendAsync(HttpMethod.Delete, "v1/keys/" + Uri.EscapeDataString(parse.GetValue(id)!), null, ct));
            if (parse.GetValue(Verb.Json))
            {
                CliJson.Print(new { id = parse.GetValue(id), revoked = true }); // like connections disconnect and providers delete
            }
            else
            {
                Console.Error.WriteLine($"Revoked {parse.GetValue(id)}.");
            }

            return ExitCodes.Success;
        });

        return new Command("keys", "Manage agent API keys").With(create, list, revoke);
    }

    /// <summary>A key's permissions as <c>--allow</c> takes them, comma-separated: <c>provider:myapi:reveal,target:tgt_…</c>.</summary>
    internal static string Permissions(JsonElement key) =>
        key.TryGetProperty("permissions", out var permissions) && permissions.ValueKind == JsonValueKind.Array
            ? string.Join(",", permissions.EnumerateArray().Select(Permission))
            : string.Empty;

    /// <summary>
    /// The inverse of <see cref="ParsePermissions"/>: <c>{"provider": "myapi", "reveal": true}</c> reads <c>provider:myapi:reveal</c>.
    /// A shape this CLI does not know yet is shown member by member rather than failing the whole listing.
    /// </summary>
    internal static string Permission(JsonElement permission)
    {
        if (permission.ValueKind != JsonValueKind.Object)
        {
            return permission.GetRawText();
        }

        var reveal = false;
        var parts = new List<string>();
        foreach (var member in permission.EnumerateObject())
        {
            if (member.Name == "reveal")
            {
                reveal = member.Value.ValueKind == JsonValueKind.True ||
                    (member.Value.ValueKind == JsonValueKind.String && string.Equals(member.Value.GetString(), "true", StringComparison.OrdinalIgnoreCase));
            }
            else
            {
                parts.Add($"{member.Name}:{(member.Value.ValueKind == JsonValueKind.String ? member.Value.GetString() : member.Value.GetRawText())}");
            }
        }

        return string.Join(",", parts) + (reveal ? ":reveal" : string.Empty);
    }

    /// <summary><c>connection:ID</c>, <c>provider:PROVIDER</c>, <c>target:ID</c>; a <c>:reveal</c> suffix on the first two adds <c>"reveal": true</c>.</summary>
    public static List<Dictionary<string, object>> ParsePermissions(IEnumerable<string> values)
    {
        var list = new List<Dictionary<string, object>>();
        foreach (var value in values)
        {
            var colon = value.IndexOf(':', StringComparison.Ordinal);
            var kind = colon > 0 ? value[..colon] : string.Empty;
            var rest = colon > 0 ? value[(colon + 1)..] : string.Empty;
            var reveal = kind is "connection" or "provider" && rest.EndsWith(":reveal", StringComparison.Ordinal);
            if (reveal)
            {
                rest = rest[..^":reveal".Length];
            }

            // No id has a colon in it (connection and target ids, provider slugs): one left over is a typo such as
            // provider:github:bogus or target:x:reveal (a target has no reveal), caught here as usage, not by the server.
            if (kind is not ("connection" or "provider" or "target") || rest.Length == 0 || rest.Contains(':', StringComparison.Ordinal))
            {
                throw new CliException($"--allow '{value}' must be connection:ID, provider:PROVIDER or target:ID (connection and provider may end in :reveal).",
                    ExitCodes.Usage);
            }

            var permission = new Dictionary<string, object> { [kind] = rest };
            if (reveal)
            {
                permission["reveal"] = true;
            }

            list.Add(permission);
        }

        return list;
    }
}
