using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Valet.Core.Vault;

namespace Valet.Server.Dashboard;

internal sealed record OperatorSession(string OrgId, string Operator, DateTimeOffset Since, DateTimeOffset Expires);

/// <summary>
/// Stateless dashboard sessions: <c>org|operator|since|expires</c> with an HMAC-SHA256 under a key derived (HKDF) from the
/// current vault key, so every node sharing the key accepts a session minted by any other. HttpOnly, SameSite=Lax.
/// </summary>
internal sealed class SessionCookies(VaultKeyRing ring, TimeProvider time)
{
    public const string CookieName = "valet_session";
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    private readonly byte[] _key = HKDF.DeriveKey(HashAlgorithmName.SHA256, ring.Keys[0].Key.ToArray(), 32,
        info: Encoding.ASCII.GetBytes("valet dashboard session v1"));

    public void Issue(HttpResponse response, string orgId, string operatorName)
    {
        var now = time.GetUtcNow();
        var payload = string.Join('|', orgId, operatorName, now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            (now + Lifetime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        var value = System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload)) + "." + Sign(payload);
        response.Cookies.Append(CookieName, value, new CookieOptions
        {
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = response.HttpContext.Request.IsHttps,
            Path = "/",
            MaxAge = Lifetime,
        });
    }

    public OperatorSession? Read(HttpRequest request)
    {
        if (!request.Cookies.TryGetValue(CookieName, out var value) || value is null || value.Length > 1024)
        {
            return null;
        }

        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            return null;
        }

        string payload;
        try
        {
            payload = Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(value.AsSpan(0, dot)));
        }
        catch (FormatException)
        {
            return null;
        }

        var expected = Encoding.ASCII.GetBytes(Sign(payload));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(value[(dot + 1)..])))
        {
            return null;
        }

        var parts = payload.Split('|');
        if (parts.Length != 4 || !long.TryParse(parts[2], CultureInfo.InvariantCulture, out var since) ||
            !long.TryParse(parts[3], CultureInfo.InvariantCulture, out var expires))
        {
            return null;
        }

        var session = new OperatorSession(parts[0], parts[1], DateTimeOffset.FromUnixTimeSeconds(since), DateTimeOffset.FromUnixTimeSeconds(expires));
        return session.Expires > time.GetUtcNow() ? session : null;
    }

    public static void Clear(HttpResponse response) => response.Cookies.Delete(CookieName);

    private string Sign(string payload) => System.Buffers.Text.Base64Url.EncodeToString(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(payload)));
}
