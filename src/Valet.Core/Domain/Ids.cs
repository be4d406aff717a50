using System.Buffers.Text;
using System.Security.Cryptography;

namespace Valet.Core.Domain;

/// <summary>Opaque, URL-safe identifiers with a type prefix (<c>conn_…</c>, <c>flow_…</c>).</summary>
public static class Ids
{
    private const string Alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";

    public static string New(string prefix, int length = 20) => prefix + "_" + RandomString(length);

    /// <summary>Lower-case base-36 from a CSPRNG: each character carries ~5.17 bits.</summary>
    public static string RandomString(int length) => RandomNumberGenerator.GetString(Alphabet, length);

    /// <summary>A value of 256 bits from a CSPRNG, base64url (for state, PKCE verifiers, key secrets).</summary>
    public static string RandomToken(int bytes = 32) => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(bytes));

    public static string Sha256Hex(string value) =>
        Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(value)));
}
