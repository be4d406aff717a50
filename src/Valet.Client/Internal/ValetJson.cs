using System.Text.Json.Serialization;

namespace Valet.Client.Internal;

/// <summary>RFC 9457 problem details as Valet writes them, with every member an envelope or another problem may carry.</summary>
internal sealed class ProblemDocument
{
    public string? Type { get; init; }

    public string? Title { get; init; }

    public int? Status { get; init; }

    public string? Detail { get; init; }

    public string? Code { get; init; }

    public string? Provider { get; init; }

    public string? ConnectionId { get; init; }

    public IReadOnlyList<string>? RequiredScopes { get; init; }

    public IReadOnlyList<string>? MissingScopes { get; init; }

    public bool Headless { get; init; }

    public Uri? ConnectUrl { get; init; }

    public string? FlowId { get; init; }

    public string? CredentialId { get; init; }

    public string? Reason { get; init; }

    public IReadOnlyList<ValetConnection>? Connections { get; init; }

    public ValetAuthRequirement ToRequirement() => new()
    {
        Code = Code!,
        Provider = Provider ?? string.Empty,
        ConnectionId = ConnectionId,
        RequiredScopes = RequiredScopes ?? [],
        MissingScopes = MissingScopes ?? [],
        Headless = Headless,
        ConnectUrl = ConnectUrl,
        FlowId = FlowId,
        CredentialId = CredentialId,
        Reason = Reason,
        Title = Title,
        Detail = Detail,
        Type = Type,
    };
}

internal sealed class TokenRequestBody
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<string>? Scopes { get; init; }
}

/// <summary>Every type the client reads or writes, source-generated (no reflection: trimming and AOT safe), snake_case.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ProblemDocument))]
[JsonSerializable(typeof(TokenRequestBody))]
[JsonSerializable(typeof(ValetAccessToken))]
[JsonSerializable(typeof(ValetBootstrap))]
[JsonSerializable(typeof(ValetFlow))]
internal sealed partial class ValetJson : JsonSerializerContext;
