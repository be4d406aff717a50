using System.Security.Cryptography;
using System.Text;
using Valet.Core.Keys;

namespace Valet.Server.Auth;

/// <summary>
/// The operator's admin token and the local service token, kept only as SHA-256 hashes and compared in constant time.
/// </summary>
internal sealed class OperatorTokens(string? adminToken, string? serviceToken)
{
    private readonly byte[]? _admin = adminToken is null ? null : Hash(adminToken);
    private readonly byte[]? _service = serviceToken is null ? null : Hash(serviceToken);

    public bool IsAdmin(ReadOnlySpan<char> presented) => _admin is not null && ApiKeySecrets.Matches(presented, _admin);

    public bool IsService(ReadOnlySpan<char> presented) => _service is not null && ApiKeySecrets.Matches(presented, _service);

    private static byte[] Hash(string value) => SHA256.HashData(Encoding.UTF8.GetBytes(value));
}
