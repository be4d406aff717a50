using System.Net;
using Microsoft.Extensions.Configuration;
using Valet.Core;

namespace Valet.Server.Hosting;

/// <summary>
/// SPEC §3 settings, read from configuration where environment variables arrive without their <c>VALET_</c> prefix
/// (<c>VALET_DATABASE</c> → <c>DATABASE</c>). A <c>valet.json</c> in the data directory may hold the same keys.
/// </summary>
internal sealed record ValetSettings
{
    public const string DefaultUrl = "http://127.0.0.1:7878";

    public required string DataDirectory { get; init; }
    public string? Database { get; init; }
    public string? PublicUrl { get; init; }
    public string? AdminToken { get; init; }
    public string? ServiceToken { get; init; }
    public string? EncryptionKey { get; init; }
    public string? EncryptionKeys { get; init; }

    /// <summary>
    /// <c>VALET_TRUSTED_PROXIES</c>: the reverse proxies (IPs or CIDRs, comma-separated) whose <c>X-Forwarded-For</c> and
    /// <c>X-Forwarded-Proto</c> are believed. Empty: forwarded headers are ignored from everyone.
    /// </summary>
    public IReadOnlyList<IPNetwork> TrustedProxies { get; init; } = [];

    /// <summary>True when the public URL is https: session cookies are then <c>Secure</c> and <c>__Host-</c> prefixed.</summary>
    public bool PublicUrlIsHttps => PublicUrl is not null && PublicUrl.StartsWith("https://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Enables the built-in demo OAuth provider (<c>valet demo</c>). Never on unless asked.</summary>
    public bool Demo { get; init; }

    public static string DefaultDataDirectory(IConfiguration? configuration = null)
    {
        var configured = configuration?["DATA_DIR"] ?? Environment.GetEnvironmentVariable("VALET_DATA_DIR");
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return Path.GetFullPath(configured);
        }

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(home) ? Directory.GetCurrentDirectory() : home, ".valet");
    }

    public static ValetSettings From(IConfiguration configuration)
    {
        var settings = new ValetSettings
        {
            DataDirectory = DefaultDataDirectory(configuration),
            Database = Read(configuration, "DATABASE", "Database"),
            PublicUrl = Read(configuration, "PUBLIC_URL", "PublicUrl")?.TrimEnd('/'),
            AdminToken = Read(configuration, "ADMIN_TOKEN", "AdminToken"),
            ServiceToken = Read(configuration, "SERVICE_TOKEN", "ServiceToken"),
            EncryptionKey = Read(configuration, "ENCRYPTION_KEY", "EncryptionKey"),
            EncryptionKeys = Read(configuration, "ENCRYPTION_KEYS", "EncryptionKeys"),
            Demo = string.Equals(Read(configuration, "DEMO", "Demo"), "true", StringComparison.OrdinalIgnoreCase),
            TrustedProxies = ParseProxies(Read(configuration, "TRUSTED_PROXIES", "TrustedProxies")),
        };

        if (settings.PublicUrl is not null &&
            (!Uri.TryCreate(settings.PublicUrl, UriKind.Absolute, out var publicUrl) || (publicUrl.Scheme != Uri.UriSchemeHttps && publicUrl.Scheme != Uri.UriSchemeHttp)))
        {
            throw new ValetConfigurationException("VALET_PUBLIC_URL must be an absolute http(s) URL.");
        }

        if (settings.AdminToken is not null && AdminTokenWeakness(settings.AdminToken) is { } weakness)
        {
            throw new ValetConfigurationException($"VALET_ADMIN_TOKEN is too weak: {weakness} (generate one with `openssl rand -base64 32`).");
        }

        // The service principal reaches every org's tokens and /internal/* (it is the CLI's), more than the admin token: an
        // operator-chosen one must be at least as strong.
        if (settings.ServiceToken is not null && AdminTokenWeakness(settings.ServiceToken) is { } serviceWeakness)
        {
            throw new ValetConfigurationException($"VALET_SERVICE_TOKEN is too weak: {serviceWeakness} (generate one with `openssl rand -base64 32`).");
        }

        return settings;
    }

    public const int AdminTokenMinLength = 32;
    public const int AdminTokenMinDistinct = 8;

    /// <summary>
    /// Why an admin token is too weak to guard every org, or null. Not an entropy estimate: it refuses what is obviously
    /// not random — too short, too few distinct characters, or one block repeated (<c>abcdabcd…</c>). Eight distinct
    /// characters, not ten: 32 random hex characters fall below ten about once in 10,000 tokens, below eight practically never.
    /// </summary>
    public static string? AdminTokenWeakness(string token)
    {
        if (token.Length < AdminTokenMinLength)
        {
            return $"it must be at least {AdminTokenMinLength} characters";
        }

        if (token.Distinct().Count() < AdminTokenMinDistinct)
        {
            return $"it must contain at least {AdminTokenMinDistinct} different characters";
        }

        // A string is a repetition of a shorter block exactly when it occurs in itself doubled, off its start.
        return (token + token).IndexOf(token, 1, StringComparison.Ordinal) < token.Length ? "it is one block repeated" : null;
    }

    private static IReadOnlyList<IPNetwork> ParseProxies(string? value)
    {
        if (value is null)
        {
            return [];
        }

        var networks = new List<IPNetwork>();
        foreach (var item in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (IPNetwork.TryParse(item, out var network))
            {
                networks.Add(network);
            }
            else if (IPAddress.TryParse(item, out var address))
            {
                networks.Add(new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            }
            else
            {
                throw new ValetConfigurationException($"VALET_TRUSTED_PROXIES: '{item}' is not an IP address or CIDR range.");
            }
        }

        return networks;
    }

    private static string? Read(IConfiguration configuration, params string[] keys)
    {
        foreach (var key in keys)
        {
            var value = configuration[key];
            if (!string.IsNullOrWhiteSpace(value))
            {
                return value.Trim();
            }
        }

        return null;
    }

    public override string ToString() => $"ValetSettings {{ DataDirectory = {DataDirectory}, PublicUrl = {PublicUrl} }}";
}
