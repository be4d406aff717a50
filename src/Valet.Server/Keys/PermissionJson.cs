using System.Text.Json;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Http;

namespace Valet.Server.Keys;

/// <summary>
/// One permission on the wire: exactly one member is set (null members are not written), so it reads
/// <c>{"connection": ID}</c>, <c>{"provider": PROVIDER}</c> or <c>{"target": ID}</c>.
/// </summary>
internal sealed record PermissionItem(string? Connection = null, string? Provider = null, string? Target = null, bool? Reveal = null);

/// <summary>Permissions on the wire: <c>{"connection": ID}</c>, <c>{"provider": PROVIDER}</c> or <c>{"target": ID}</c>.</summary>
internal static class PermissionJson
{
    public const int MaxPermissions = 200;

    public static PermissionItem ToJson(Permission permission) => permission.Kind switch
    {
        PermissionKind.Connection => new PermissionItem(Connection: permission.Value, Reveal: permission.Reveal ? true : null),
        PermissionKind.Provider => new PermissionItem(Provider: permission.Value, Reveal: permission.Reveal ? true : null),
        _ => new PermissionItem(Target: permission.Value),
    };

    public static IReadOnlyList<PermissionItem> ToJson(IEnumerable<Permission> permissions) => [.. permissions.Select(ToJson)];

    /// <summary>Parses and checks each permission against the org; every problem goes into <paramref name="validation"/>.</summary>
    public static async Task<List<Permission>> ParseAsync(JsonElement? element, string orgId, Validation validation, IProviderCatalog catalog,
        IConnectionStore connections, ITargetStore targets, CancellationToken cancellationToken)
    {
        var result = new List<Permission>();
        if (element is not { ValueKind: JsonValueKind.Array } array)
        {
            if (element is { ValueKind: not (JsonValueKind.Undefined or JsonValueKind.Null) })
            {
                validation.Add("permissions", "must be an array");
            }

            return result;
        }

        if (array.GetArrayLength() > MaxPermissions)
        {
            validation.Add("permissions", $"at most {MaxPermissions} permissions");
            return result;
        }

        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            var field = $"permissions[{index++}]";
            // "reveal": true may accompany a connection or provider permission (static secrets on the token route, SPEC §13).
            var reveal = false;
            if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("reveal", out var revealValue))
            {
                if (revealValue.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    validation.Add(field, "reveal must be true or false");
                    continue;
                }

                reveal = revealValue.ValueKind == JsonValueKind.True;
            }

            var members = item.ValueKind == JsonValueKind.Object ? item.EnumerateObject().Where(p => p.Name != "reveal").ToList() : [];
            if (members.Count != 1)
            {
                validation.Add(field, "must be an object with exactly one of connection, provider or target (and optionally reveal)");
                continue;
            }

            var property = members[0];
            if (reveal && property.Name == "target")
            {
                validation.Add(field, "reveal applies to connection and provider permissions only");
                continue;
            }

            if (property.Value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(property.Value.GetString()) ||
                property.Value.GetString()!.Length > 128)
            {
                validation.Add(field, "the value must be a non-empty string of at most 128 characters");
                continue;
            }

            var value = property.Value.GetString()!;
            switch (property.Name)
            {
                case "connection":
                    var connection = await connections.FindAsync(value, cancellationToken);
                    if (connection is null || connection.OrgId != orgId)
                    {
                        validation.Add(field, $"no connection '{value}' in this org");
                        continue;
                    }

                    result.Add(new Permission(PermissionKind.Connection, value) { Reveal = reveal });
                    break;
                case "provider":
                    var provider = catalog.Find(value);
                    if (provider is null)
                    {
                        validation.UnknownProvider(field, value);
                        continue;
                    }

                    result.Add(new Permission(PermissionKind.Provider, provider.Id) { Reveal = reveal });
                    break;
                case "target":
                    var target = await targets.FindAsync(value, cancellationToken);
                    if (target is null || target.OrgId != orgId)
                    {
                        validation.Add(field, $"no target '{value}' in this org");
                        continue;
                    }

                    result.Add(new Permission(PermissionKind.Target, value));
                    break;
                default:
                    validation.Add(field, $"unknown permission kind '{property.Name}' (connection, provider or target)");
                    break;
            }
        }

        return [.. result.Distinct()];
    }
}
