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
    public static string? PrefixOf(string presented)
    {
        if (!presented.StartsWith(Scheme, StringComparison.Ordinal) || presented.Length > 200)
        {
            return null;
        }

        var end = presented.IndexOf('_', Scheme.Length);
        return end == Scheme.Length + PrefixRandomLength ? presented[..end] : null;
    }

    public static bool Verify(string presented, byte[] storedHash) =>
        CryptographicOperations.FixedTimeEquals(Hash(presented), storedHash);
}
