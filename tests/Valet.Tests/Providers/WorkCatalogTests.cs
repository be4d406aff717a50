using Valet.Core.Providers;

namespace Valet.Tests.Providers;

/// <summary>The work and developer tools of the catalog (BuiltInWorkProviders.cs): present, well-formed, and each documented quirk as data.</summary>
public sealed class WorkCatalogTests
{
    private static readonly string[] Ids =
    [
        "box", "bitbucket", "todoist", "miro", "calendly", "webex", "intercom", "airtable-oauth", "clickup", "pipedrive", "codeberg", "webflow",
        "monday",
    ];

    public static TheoryData<string> WorkIds() => new(Ids);

    [Theory]
    [MemberData(nameof(WorkIds))]
    public void Catalog_HasWorkProvider_WithPublicHttpsEndpointsApiBasesAndNoClient(string id)
    {
        var p = BuiltInProviders.Find(id);

        Assert.NotNull(p);
        Assert.Equal(id, p.Id);
        Assert.Equal(ProviderSource.Catalog, p.Source);
        Assert.Equal(AuthMode.OAuth2, p.AuthMode);
        Assert.False(string.IsNullOrWhiteSpace(p.DisplayName));
        Uri[] endpoints = [p.AuthorizationEndpoint!, p.TokenEndpoint!, p.UserInfoEndpoint!, .. p.RevocationEndpoint is { } r ? [r] : Array.Empty<Uri>()];
        Assert.All(endpoints, e =>
        {
            Assert.Equal("https", e.Scheme);
            Assert.Equal(AddressClass.Public, NetworkAddresses.Classify(e));
        });
        Assert.NotEmpty(p.ApiBaseUrls);
        Assert.All(p.ApiBaseUrls, api =>
        {
            Assert.StartsWith("https://", api, StringComparison.Ordinal);
            Assert.Equal(AddressClass.Public, NetworkAddresses.Classify(new Uri(api)));
        });
        Assert.False(p.AllowPrivateNetwork);
        Assert.Null(p.ClientId);
        Assert.Null(p.ClientSecret);
        Assert.False(string.IsNullOrWhiteSpace(p.Identity.IdPath));
        Assert.Single(BuiltInProviders.All, q => q.Id == id);
    }

    [Fact]
    public void Catalog_HasAtLeastThirteenWorkProviders_AllInTheTheory()
    {
        var ids = BuiltInWorkProviders.All.Select(p => p.Id).ToList();

        Assert.True(ids.Count >= 13, $"{ids.Count} work providers");
        Assert.Equal(Ids.Order(StringComparer.Ordinal), ids.Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("bitbucket")] // curl -u "client_id:secret" (developer.atlassian.com/cloud/bitbucket/oauth-2)
    [InlineData("calendly")] // "pass client_id and client_secret via Basic HTTP Authorization header"
    [InlineData("airtable-oauth")] // "Authorization is required if your integration has a client secret"
    [InlineData("pipedrive")]
    public void BasicClients_AuthenticateWithHttpBasic(string id) =>
        Assert.Equal(TokenEndpointAuthMethod.ClientSecretBasic, BuiltInProviders.Find(id)!.TokenEndpointAuth);

    [Theory]
    [InlineData("box")]
    [InlineData("todoist")]
    [InlineData("miro")] // client_id and client_secret as body parameters
    [InlineData("webex")]
    [InlineData("intercom")]
    [InlineData("clickup")]
    [InlineData("codeberg")]
    [InlineData("webflow")]
    public void PostClients_SendTheSecretInTheForm(string id)
    {
        var p = BuiltInProviders.Find(id)!;

        Assert.Equal(TokenEndpointAuthMethod.ClientSecretPost, p.TokenEndpointAuth);
        Assert.Equal(TokenRequestFormat.Form, p.TokenRequestFormat);
    }

    [Fact]
    public void NoWorkProvider_TakesANamedQuirk_AndOnlyMondayTakesJsonBodies()
    {
        // None of these documents nested tokens, HTTP-200 errors or an instance URL: each difference is data. JSON token,
        // refresh and revoke bodies are monday's alone ("Content-Type: application/json", migrating-to-the-new-oauth-flow).
        Assert.All(BuiltInWorkProviders.All, p =>
        {
            Assert.Equal(p.Id == "monday" ? TokenRequestFormat.Json : TokenRequestFormat.Form, p.TokenRequestFormat);
            Assert.Equal(ProviderQuirks.None, p.Quirks);
            Assert.Empty(p.ConnectionParameters);
            Assert.Null(p.UrlTemplates);
        });
    }

    [Fact]
    public void Scopes_AreJoinedAsEachProviderDocuments()
    {
        var todoist = BuiltInProviders.Find("todoist")!;
        Assert.Equal(",", todoist.ScopeSeparator); // ",".join(scopes) in Doist's client
        Assert.Equal(["data:read"], todoist.DefaultScopes);

        Assert.Equal(" ", BuiltInProviders.Find("airtable-oauth")!.ScopeSeparator); // "a space delimited list"
        Assert.Equal(["user.email:read"], BuiltInProviders.Find("airtable-oauth")!.DefaultScopes); // "at least one scope"; whoami's email

        // Chosen on the app, not per authorization: no scope parameter is sent.
        Assert.Empty(BuiltInProviders.Find("intercom")!.DefaultScopes);
        Assert.Empty(BuiltInProviders.Find("clickup")!.DefaultScopes);
        Assert.Empty(BuiltInProviders.Find("codeberg")!.DefaultScopes); // "OAuth2 scopes are not yet implemented"
        Assert.Empty(BuiltInProviders.Find("bitbucket")!.DefaultScopes);
    }

    [Fact]
    public void Bitbucket_IsNotAtlassian3LO()
    {
        var bitbucket = BuiltInProviders.Find("bitbucket")!;

        Assert.Empty(bitbucket.ExtraAuthorizationParameters); // no audience, no prompt
        Assert.DoesNotContain("offline_access", bitbucket.DefaultScopes);
        Assert.Equal("bitbucket.org", bitbucket.TokenEndpoint!.Host);
    }

    [Fact]
    public void Identity_IsReadFromEachProvidersOwnShape()
    {
        Assert.Equal(("user.id", "user.name"), Paths("miro")); // GET /v1/oauth-token
        Assert.Equal(("resource.uri", "resource.name"), Paths("calendly")); // GET /users/me
        Assert.Equal(("data.id", "data.name"), Paths("pipedrive"));
        Assert.Equal(("user.id", "user.username"), Paths("clickup"));
        Assert.Equal("login", BuiltInProviders.Find("box")!.Identity.EmailPath); // Box's login is the email
        Assert.All(BuiltInWorkProviders.All.Where(p => p.Id != "monday"), p => Assert.False(p.Identity.UsePost));

        static (string, string?) Paths(string id) => (BuiltInProviders.Find(id)!.Identity.IdPath, BuiltInProviders.Find(id)!.Identity.LoginPath);
    }

    [Fact]
    public void Revocation_IsOnlyWhereAnRfc7009EndpointIsKnown()
    {
        Assert.Equal(new Uri("https://api.box.com/oauth2/revoke"), BuiltInProviders.Find("box")!.RevocationEndpoint);
        // token, client_id, client_secret, token_type_hint: RFC 7009's parameters, in monday's JSON body.
        Assert.Equal(new Uri("https://auth.monday.com/oauth_ms/oauth/revoke"), BuiltInProviders.Find("monday")!.RevocationEndpoint);
        Assert.All(BuiltInWorkProviders.All.Where(p => p.Id is not ("box" or "monday")), p => Assert.Null(p.RevocationEndpoint));
    }

    [Fact]
    public void Monday_IsOAuth21_WithAGraphQlPostIdentity_AndMeReadRequired()
    {
        var monday = BuiltInProviders.Find("monday")!;

        // https://developer.monday.com/apps/docs/oauth-2-1: the OAuth 2.1 token endpoint, not the legacy /oauth2/token.
        Assert.Equal(new Uri("https://auth.monday.com/oauth2/authorize"), monday.AuthorizationEndpoint);
        Assert.Equal(new Uri("https://auth.monday.com/oauth_ms/oauth/token"), monday.TokenEndpoint);
        Assert.Equal(TokenEndpointAuthMethod.ClientSecretPost, monday.TokenEndpointAuth); // client_id and client_secret in the body
        Assert.Equal(" ", monday.ScopeSeparator);

        // The me query: "Required scope: me:read", sent with whatever else a connect names.
        Assert.Equal(["me:read"], monday.DefaultScopes);
        Assert.Equal(["me:read"], monday.RequiredScopes);
        Assert.Equal(["me:read", "boards:read"], monday.AuthorizationScopes(["boards:read"]));

        // One GraphQL endpoint: the identity is a POST of the me query to it, read from data.me.
        Assert.Equal(new Uri("https://api.monday.com/v2"), monday.UserInfoEndpoint);
        Assert.True(monday.Identity.UsePost);
        Assert.Equal("""{"query":"{ me { id name email } }"}""", monday.Identity.PostJson);
        Assert.Equal(("data.me.id", "data.me.name", "data.me.email"), (monday.Identity.IdPath, monday.Identity.LoginPath, monday.Identity.EmailPath));
        Assert.Equal(["https://api.monday.com/v2"], monday.ApiBaseUrls);

        // API-Version is optional (the Current version answers without it): none pinned; an agent sends its own.
        Assert.Empty(monday.ApiHeaders);
    }
}
