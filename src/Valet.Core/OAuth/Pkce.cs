using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Valet.Core.OAuth;

/// <summary>RFC 7636 PKCE with S256 only (plain is never offered).</summary>
public static class Pkce
{
    public const string Method = "S256";

    /// <summary>A verifier of 32 random bytes, base64url without padding (43 characters, 256 bits).</summary>
    public static string CreateVerifier() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>BASE64URL(SHA256(ASCII(verifier))).</summary>
    public static string ComputeChallenge(string verifier)
    {
        ArgumentException.ThrowIfNullOrEmpty(verifier);
        return Base64Url.EncodeToString(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
    }
}
