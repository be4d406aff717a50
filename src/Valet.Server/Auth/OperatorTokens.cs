using System.Security.Cryptography;
using System.Text;
using Valet.Core.Keys;

namespace Valet.Server.Auth;

/// <summary>
/// The operator's admin token and the local service token, kept only as SHA-256 hashes and compared in constant time.
/// </summary>
internal sealed class OperatorTokens(string? adminToken, string? serviceToken, string? providerSignIn = null, bool serviceTokenGenerated = false)
{
    /// <summary>
    /// The service token is the one Valet generated (the local <c>service-token</c> file, 256 bits), not one an operator
    /// chose (<c>VALET_SERVICE_TOKEN</c>): only then may it pass an address's lockout (docs/decisions.md, "Rate limits").
    /// </summary>
    public bool ServiceTokenGenerated { get; } = serviceTokenGenerated && serviceToken is not null;

    public const string AdminKind = "admin";
    public const string ServiceKind = "service";

    /// <summary>Sessions signed in through a provider: bound to the sign-in configuration (providers and allow-list), not to a token.</summary>
    public const string ProviderKind = "provider";

    private readonly byte[]? _admin = adminToken is null ? null : Hash(adminToken);
    private readonly byte[]? _service = serviceToken is null ? null : Hash(serviceToken);
    private readonly byte[]? _provider = providerSignIn is null ? null : Hash(providerSignIn);

    public bool IsAdmin(ReadOnlySpan<char> presented) => _admin is not null && ApiKeySecrets.Matches(presented, _admin);

    public bool IsService(ReadOnlySpan<char> presented) => _service is not null && ApiKeySecrets.Matches(presented, _service);

    /// <summary><see cref="AdminKind"/> or <see cref="ServiceKind"/> for a token this server accepts, else null.</summary>
    public string? KindOf(ReadOnlySpan<char> presented) => IsAdmin(presented) ? AdminKind : IsService(presented) ? ServiceKind : null;

    /// <summary>
    /// A short, one-way mark of the token of <paramref name="kind"/> this server accepts now (null if none). A session
    /// records the mark of the token it was issued for; once that token is replaced, the marks differ and the session ends.
    /// </summary>
    public string? Fingerprint(string kind) => kind switch
    {
        AdminKind when _admin is not null => Mark(_admin),
        ServiceKind when _service is not null => Mark(_service),
        ProviderKind when _provider is not null => Mark(_provider),
        _ => null,
    };

    /// <summary>True when <paramref name="fingerprint"/> is the mark of the token of <paramref name="kind"/> accepted now.</summary>
    public bool StillAccepts(string? kind, string? fingerprint) =>
        kind is not null && fingerprint is not null && Fingerprint(kind) is { } current &&
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(current), Encoding.ASCII.GetBytes(fingerprint));

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));

    // 128 bits of a domain-separated hash of the stored hash: enough to tell tokens apart, useless for guessing one.
    private static string Mark(byte[] hash) =>
        System.Buffers.Text.Base64Url.EncodeToString(SHA256.HashData([.. "valet session token v1\0"u8, .. hash]).AsSpan(0, 16));
}
