using System.Xml.Linq;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Dashboard;

namespace Valet.Server.Hosting;

/// <summary>
/// Operator sessions (cookie scheme beside the bearer default, Data Protection keys in Valet's database) and which
/// proxies may speak for the client (<c>VALET_TRUSTED_PROXIES</c>). See docs/decisions.md, "Sessions".
/// </summary>
internal static class SessionSetup
{
    public const string CookieName = "valet_session";
    public const string SecureCookieName = "__Host-valet_session";

    public static IServiceCollection AddValetSessions(this IServiceCollection services, ValetSettings settings)
    {
        // One application name and one key ring for all nodes: a cookie minted by any node opens on every other.
        services.AddDataProtection().SetApplicationName("valet");
        services.AddSingleton<IConfigureOptions<KeyManagementOptions>>(sp => new ConfigureOptions<KeyManagementOptions>(options =>
            options.XmlRepository = new DatabaseXmlRepository(sp.GetRequiredService<IDataProtectionKeyStore>())));

        services.AddSingleton<OperatorSessions>();
        services.AddSingleton<SessionValidation>();
        services.AddAuthentication().AddCookie(ValetClaims.SessionScheme, options =>
        {
            // Behind TLS (an https public URL) the cookie is Secure and __Host- prefixed: no subdomain or plain-http page
            // can set or read it. Locally (http on 127.0.0.1) a Secure cookie would never come back, so it is Secure
            // only when the request itself was https (directly, or as a trusted proxy says).
            var https = settings.PublicUrlIsHttps;
            options.Cookie.Name = https ? SecureCookieName : CookieName;
            options.Cookie.SecurePolicy = https ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest;
            options.Cookie.HttpOnly = true;
            options.Cookie.SameSite = SameSiteMode.Lax;
            options.Cookie.Path = "/";
            options.ExpireTimeSpan = OperatorSessions.Lifetime;
            options.SlidingExpiration = false;
            options.EventsType = typeof(SessionValidation);
        });
        return services;
    }

    /// <summary>
    /// Honours <c>X-Forwarded-For</c>/<c>X-Forwarded-Proto</c> only from the listed proxies. With none listed (the
    /// default) the middleware is not even added, so no peer — loopback included — can claim another address or https.
    /// </summary>
    public static WebApplication UseValetForwardedHeaders(this WebApplication app)
    {
        var proxies = app.Services.GetRequiredService<ValetSettings>().TrustedProxies;
        if (proxies.Count == 0)
        {
            return app;
        }

        var options = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto, ForwardLimit = null };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var network in proxies)
        {
            options.KnownIPNetworks.Add(network);
        }

        app.UseForwardedHeaders(options);
        return app;
    }

    /// <summary>
    /// The Data Protection key ring in the <c>data_protection_keys</c> table, sealed by the vault (the keys are secrets).
    /// The interface is synchronous; the framework reads the ring rarely (at first use, then about once a day or when it
    /// meets a key it does not know), so blocking on the store here is acceptable.
    /// </summary>
    private sealed class DatabaseXmlRepository(IDataProtectionKeyStore store) : IXmlRepository
    {
        public IReadOnlyCollection<XElement> GetAllElements() =>
            [.. store.ListAsync(CancellationToken.None).GetAwaiter().GetResult().Select(xml => XElement.Parse(xml))];

        public void StoreElement(XElement element, string friendlyName) =>
            store.AddAsync(string.IsNullOrEmpty(friendlyName) ? "key-" + Guid.NewGuid().ToString("N") : friendlyName,
                element.ToString(SaveOptions.DisableFormatting), CancellationToken.None).GetAwaiter().GetResult();
    }
}
