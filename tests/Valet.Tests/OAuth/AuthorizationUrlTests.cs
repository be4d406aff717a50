using Microsoft.AspNetCore.WebUtilities;
using Valet.Core.OAuth;
using Valet.Core.Providers;

namespace Valet.Tests.OAuth;

public sealed class AuthorizationUrlTests
{
    private static AuthorizationRequest Request(params string[] scopes) => new()
    {
        ClientId = "cid",
        RedirectUri = "http://127.0.0.1:5123/oauth/callback",
        Scopes = scopes,
        State = "state-123",
        CodeChallenge = Pkce.ComputeChallenge("verifier-verifier-verifier-verifier-verifier"),
    };

    private static Dictionary<string, string> Query(Uri url) =>
        QueryHelpers.ParseQuery(url.Query).ToDictionary(p => p.Key, p => p.Value.ToString());

    [Fact]
    public void Google_HasPkceS256_SpaceSeparatedScopes_AndOfflineParameters()
    {
        var url = OAuthTestData.NewClient().BuildAuthorizationUrl(BuiltInProviders.Find("google")!, Request("openid", "email"));
        var q = Query(url);

        Assert.Equal("https://accounts.google.com/o/oauth2/v2/auth", url.GetLeftPart(UriPartial.Path));
        Assert.Equal("code", q["response_type"]);
        Assert.Equal("cid", q["client_id"]);
        Assert.Equal("http://127.0.0.1:5123/oauth/callback", q["redirect_uri"]);
        Assert.Equal("openid email", q["scope"]);
        Assert.Contains("scope=openid%20email", url.AbsoluteUri, StringComparison.Ordinal);
        Assert.Equal("state-123", q["state"]);
        Assert.Equal("S256", q["code_challenge_method"]);
        Assert.Equal(Pkce.ComputeChallenge("verifier-verifier-verifier-verifier-verifier"), q["code_challenge"]);
        Assert.Equal("offline", q["access_type"]);
        Assert.Equal("consent", q["prompt"]);
        Assert.Equal("true", q["include_granted_scopes"]);
    }

    [Fact]
    public void Slack_PutsCommaSeparatedScopesInUserScope()
    {
        var url = OAuthTestData.NewClient().BuildAuthorizationUrl(BuiltInProviders.Find("slack")!, Request("search:read", "users:read"));
        var q = Query(url);

        Assert.Equal("search:read,users:read", q["user_scope"]);
        Assert.False(q.ContainsKey("scope"));
    }

    [Fact]
    public void ExtraParameters_NeverOverrideProtocolOnes_AndExistingQueryIsKept()
    {
        var provider = BuiltInProviders.Find("atlassian")! with
        {
            AuthorizationEndpoint = new Uri("https://auth.example.com/authorize?tenant=t1"),
            ExtraAuthorizationParameters = new Dictionary<string, string> { ["state"] = "evil", ["audience"] = "api.atlassian.com" },
        };

        var q = Query(OAuthTestData.NewClient().BuildAuthorizationUrl(provider, Request("read:me")));

        Assert.Equal("state-123", q["state"]);
        Assert.Equal("t1", q["tenant"]);
        Assert.Equal("api.atlassian.com", q["audience"]);
    }

    [Fact]
    public void Pkce_MatchesRfc7636AppendixB_AndVerifiersAre256BitBase64Url()
    {
        Assert.Equal("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Pkce.ComputeChallenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        var verifier = Pkce.CreateVerifier();
        Assert.Matches("^[A-Za-z0-9_-]{43}$", verifier);
        Assert.NotEqual(verifier, Pkce.CreateVerifier());
    }
}
