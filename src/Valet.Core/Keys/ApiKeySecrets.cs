using System.Security.Cryptography;
using System.Text;
using Valet.Core.Domain;

namespace Valet.Core.Keys;

/// <summary>
/// Agent API keys look like <c>vk_ab12cd34_…43 chars…</c>: the part before the second underscore is a visible prefix that
/// finds the row; the whole key is hashed (SHA-256; the secret has 256 bits of entropy, so a slow hash buys nothing) and
/// compared in constant time.
/// </summary>
public static class ApiKeySecrets
{
    public const string Scheme = "vk_";
    private const int PrefixRandomLength = 10;

    public sealed record Minted(string Prefix, Secret Key, byte[] Hash);

    public static Minted Mint()
    {
        var prefix = Scheme + Ids.RandomString(PrefixRandomLength);
        var key = prefix + "_" + Ids.RandomToken(32);
        return new Minted(prefix, new Secret(key), Hash(key));
    }

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>The prefix of a presented key, or null when it does not have the shape of a Valet key.</summary>
    public static string? PrefixOf(ReadOnlySpan<char> presented)
    {
        if (!presented.StartsWith(Scheme, StringComparison.Ordinal) || presented.Length > MaxPresentedLength)
        {
            return null;
        }

        var end = presented[Scheme.Length..].IndexOf('_') + Scheme.Length;
        return end == Scheme.Length + PrefixRandomLength ? presented[..end].ToString() : null;
    }

    public static bool Verify(ReadOnlySpan<char> presented, byte[] storedHash) => Matches(presented, storedHash);

    /// <summary>
    /// SHA-256 of <paramref name="presented"/> (UTF-8) compared with <paramref name="expectedHash"/> in constant time,
    /// without allocating: this runs on every authenticated request.
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> presented, ReadOnlySpan<byte> expectedHash)
    {
        if (presented.Length > MaxPresentedLength)
        {
            // Longer than any token Valet issues or accepts as an operator token: hash on the heap, still constant time.
            return CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented.ToArray())), expectedHash);
        }

        Span<byte> utf8 = stackalloc byte[MaxPresentedLength * 3];
        var length = Encoding.UTF8.GetBytes(presented, utf8);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..length], hash);
        return CryptographicOperations.FixedTimeEquals(hash, expectedHash);
    }

    private const int MaxPresentedLength = 200;
}
