using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>SPEC §7 operator sessions against the real server: revocable server-side, cookie attributes, trusted proxies.</summary>
public sealed class SessionTests
{
    private const string OtherAdminToken = "another-admin-token-ZYXWVUTSRQ-9876543210";

    [Fact]
    public async Task SignOut_EndsTheSession_TheOldCookieReplayedIs401()
    {
        await using var server = await ValetTestServer.StartAsync();
        using var browser = SessionKit.Client(server.BaseUrl);
        var cookie = await SessionKit.SessionCookieAsync(browser);
        using (var me = await SessionKit.SendAsync(browser, HttpMethod.Get, "/me", cookie))
        {
            var body = await me.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("default", body.GetProperty("org").GetString());
            Assert.Equal("admin", body.GetProperty("operator").GetString());
            Assert.True(body.TryGetProperty("since", out _));
        }

        using var signOut = await SessionKit.SignOutAsync(browser, cookie);

        Assert.Equal(HttpStatusCode.Redirect, signOut.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await SessionKit.MeAsync(browser, cookie));
    }

    [Fact]
    public async Task ChangedAdminToken_EndsSessionsIssuedForTheOldOne_AcrossARestart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "valet-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            string cookie;
            await using (var first = await ValetTestServer.StartAsync(dataDirectory: dir))
            {
                using var browser = SessionKit.Client(first.BaseUrl);
                cookie = await SessionKit.SessionCookieAsync(browser);
            }

            // Same token after a restart: the session survives (the key ring and the session row live in the database).
            await using (var same = await ValetTestServer.StartAsync(dataDirectory: dir))
            {
                using var browser = SessionKit.Client(same.BaseUrl);
                Assert.Equal(HttpStatusCode.OK, await SessionKit.MeAsync(browser, cookie));
            }

            await using var changed = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["ADMIN_TOKEN"] = OtherAdminToken }, dir);
            using var after = SessionKit.Client(changed.BaseUrl);

            Assert.Equal(HttpStatusCode.Unauthorized, await SessionKit.MeAsync(after, cookie));
            Assert.Equal(HttpStatusCode.OK, await SessionKit.MeAsync(after, await SessionKit.SessionCookieAsync(after, OtherAdminToken)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task SignInAndSignOut_WithoutTheirFormsAntiforgeryToken_Are400_AndChangeNothing()
    {
        await using var server = await ValetTestServer.StartAsync();
        using var browser = SessionKit.Client(server.BaseUrl);

        // Login CSRF: another site posting the (right) token must not sign the person in.
        using var forged = await browser.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = ValetTestServer.AdminToken, ["org"] = "default",
        }));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.Null(SessionKit.SetCookieOrNull(forged));

        var cookie = await SessionKit.SessionCookieAsync(browser);
        using var forgedSignOut = await SessionKit.SendAsync(browser, HttpMethod.Post, "/signout", cookie);
        Assert.Equal(HttpStatusCode.BadRequest, forgedSignOut.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await SessionKit.MeAsync(browser, cookie));
    }

    [Fact]
    public async Task HttpsPublicUrl_SessionCookieIsHostPrefixed_Secure_HttpOnly_Lax()
    {
        await using var tls = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["PUBLIC_URL"] = "https://valet.example" });
        await using var local = await ValetTestServer.StartAsync();
        using var tlsBrowser = SessionKit.Client(tls.BaseUrl);
        using var localBrowser = SessionKit.Client(local.BaseUrl);

        var behindTls = SessionKit.SetCookie(await SessionKit.SignInAsync(tlsBrowser)).ToLowerInvariant();
        var onLocalHttp = SessionKit.SetCookie(await SessionKit.SignInAsync(localBrowser)).ToLowerInvariant();

        Assert.StartsWith("__host-valet_session=", behindTls, StringComparison.Ordinal);
        Assert.Contains("; secure", behindTls, StringComparison.Ordinal);
        Assert.Contains("; path=/", behindTls, StringComparison.Ordinal);
        Assert.DoesNotContain("domain=", behindTls, StringComparison.Ordinal);
        Assert.StartsWith("valet_session=", onLocalHttp, StringComparison.Ordinal);
        Assert.DoesNotContain("; secure", onLocalHttp, StringComparison.Ordinal);
        foreach (var cookie in new[] { behindTls, onLocalHttp })
        {
            Assert.Contains("; httponly", cookie, StringComparison.Ordinal);
            Assert.Contains("; samesite=lax", cookie, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// X-Forwarded-Proto is observable through the cookie's Secure flag (set when the request is https). Believed only
    /// from a listed proxy: not by default, not from a peer outside the list.
    /// </summary>
    [Fact]
    public async Task ForwardedHeaders_AreIgnoredFromAnUntrustedPeer_AndHonouredFromAListedProxy()
    {
        var forwarded = new Dictionary<string, string> { ["X-Forwarded-Proto"] = "https", ["X-Forwarded-For"] = "203.0.113.7" };

        async Task<bool> SecureAsync(string? trustedProxies)
        {
            await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["TRUSTED_PROXIES"] = trustedProxies });
            using var browser = SessionKit.Client(server.BaseUrl);
            using var response = await SessionKit.SignInAsync(browser, headers: forwarded);
            return SessionKit.SetCookie(response).Contains("; secure", StringComparison.OrdinalIgnoreCase);
        }

        Assert.False(await SecureAsync(null));
        Assert.False(await SecureAsync("10.0.0.0/8, 192.0.2.1"));
        Assert.True(await SecureAsync("127.0.0.1"));
    }
}
