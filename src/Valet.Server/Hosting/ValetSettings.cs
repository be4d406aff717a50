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
        };

        if (settings.PublicUrl is not null &&
            (!Uri.TryCreate(settings.PublicUrl, UriKind.Absolute, out var publicUrl) || (publicUrl.Scheme != Uri.UriSchemeHttps && publicUrl.Scheme != Uri.UriSchemeHttp)))
        {
            throw new ValetConfigurationException("VALET_PUBLIC_URL must be an absolute http(s) URL.");
        }

        if (settings.AdminToken is { Length: < 16 })
        {
            throw new ValetConfigurationException("VALET_ADMIN_TOKEN must be at least 16 characters.");
        }

        return settings;
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
