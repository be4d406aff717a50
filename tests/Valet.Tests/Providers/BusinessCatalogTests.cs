using Valet.Core.Providers;

namespace Valet.Tests.Providers;

/// <summary>
/// Issue 15, item 6: the business, commerce, finance and social providers of the catalog (BuiltInBusinessProviders.cs) and each
/// documented quirk as data. The sources are cited beside each entry and in docs/providers.md.
/// </summary>
public sealed class BusinessCatalogTests
{
    private static readonly string[] IdList =
    [
        "xero", "x", "linkedin", "reddit", "twitch", "strava", "typeform", "pinterest", "freshbooks", "eventbrite", "square",
    ];

    public static TheoryData<string> Ids() => new(IdList);

    [Theory]
    [MemberData(nameof(Ids))]
    public void Catalog_HasProvider_WithHttpsEndpoints_PublicHosts_AndNoClient(string id)
    {
        var p = BuiltInProviders.Find(id);

        Assert.NotNull(p);
        Assert.Equal(id, p.Id);
        Assert.Equal(AuthMode.OAuth2, p.AuthMode);
        Assert.False(string.IsNullOrWhiteSpace(p.DisplayName));
        Assert.All(new[] { p.AuthorizationEndpoint, p.TokenEndpoint, p.UserInfoEndpoint }, u => Assert.Equal("https", u!.Scheme));
        Assert.True(p.RevocationEndpoint is null || p.RevocationEndpoint.Scheme == "https");
        Assert.NotEmpty(p.ApiBaseUrls);
        Assert.All(p.ApiBaseUrls, api => Assert.StartsWith("https://", api, StringComparison.Ordinal));
        Assert.All(Hosts(p), host => Assert.Equal(AddressClass.Public, NetworkAddresses.Classify(new Uri("https://" + host))));
        Assert.False(p.AllowPrivateNetwork);
        Assert.Null(p.ClientId);
        Assert.Null(p.ClientSecret);
        Assert.Empty(p.ConnectionParameters);
        Assert.Equal(1, BuiltInProviders.All.Count(q => q.Id == id));
    }

    [Fact]
    public void Catalog_HoldsEveryBusinessProvider_AllInTheCatalog()
    {
        Assert.All(BuiltInBusinessProviders.All, p => Assert.Same(p, BuiltInProviders.Find(p.Id)));
        Assert.Equal(IdList.Order(), BuiltInBusinessProviders.All.Select(p => p.Id).Order());
    }

    [Fact]
    public void BasicOnlyClients_AreClientSecretBasic()
    {
        // Reddit ("HTTP basic auth"), X (confidential clients), Pinterest (generated client: basic) and Xero.
        Assert.All(new[] { "reddit", "x", "pinterest", "xero" },
            id => Assert.Equal(TokenEndpointAuthMethod.ClientSecretBasic, BuiltInProviders.Find(id)!.TokenEndpointAuth));
        Assert.All(new[] { "linkedin", "twitch", "strava", "typeform", "freshbooks", "eventbrite", "square" },
            id => Assert.Equal(TokenEndpointAuthMethod.ClientSecretPost, BuiltInProviders.Find(id)!.TokenEndpointAuth));
    }

    [Fact]
    public void Reddit_AsksForAPermanentGrant_AndCallsItsApiOnAnotherHost()
    {
        var reddit = BuiltInProviders.Find("reddit")!;

        Assert.Equal("permanent", reddit.ExtraAuthorizationParameters["duration"]);
        Assert.Equal("www.reddit.com", reddit.TokenEndpoint!.Host);
        Assert.Equal(["https://oauth.reddit.com"], reddit.ApiBaseUrls);
        Assert.Equal("oauth.reddit.com", reddit.UserInfoEndpoint!.Host);
        Assert.Equal("https://www.reddit.com/api/v1/revoke_token", reddit.RevocationEndpoint!.AbsoluteUri);
    }

    [Fact]
    public void CommaSeparatedScopes_StravaAndPinterest_SpaceForTheRest()
    {
        Assert.Equal(",", BuiltInProviders.Find("strava")!.ScopeSeparator);
        Assert.Equal(",", BuiltInProviders.Find("pinterest")!.ScopeSeparator);
        Assert.All(new[] { "xero", "x", "linkedin", "reddit", "twitch", "typeform", "freshbooks", "square" },
            id => Assert.Equal(" ", BuiltInProviders.Find(id)!.ScopeSeparator));
    }

    [Fact]
    public void RefreshTokensNeedAScope_XOfflineAccess_XeroOfflineAccess_TypeformOffline()
    {
        Assert.Contains("offline.access", BuiltInProviders.Find("x")!.DefaultScopes);
        Assert.Contains("offline_access", BuiltInProviders.Find("xero")!.DefaultScopes);
        Assert.Contains("offline", BuiltInProviders.Find("typeform")!.DefaultScopes);
    }

    [Fact]
    public void Square_TakesJsonBodies_AndTheRestForms()
    {
        Assert.Equal(TokenRequestFormat.Json, BuiltInProviders.Find("square")!.TokenRequestFormat);
        Assert.Equal("false", BuiltInProviders.Find("square")!.ExtraAuthorizationParameters["session"]);
        Assert.All(BuiltInBusinessProviders.All.Where(p => p.Id != "square"), p => Assert.Equal(TokenRequestFormat.Form, p.TokenRequestFormat));
    }

    [Fact]
    public void Revocation_OnlyWhereItIsRfc7009()
    {
        string[] revocable = ["xero", "x", "reddit", "twitch", "freshbooks"];
        Assert.Equal(revocable.Order(), BuiltInBusinessProviders.All.Where(p => p.RevocationEndpoint is not null).Select(p => p.Id).Order());
    }

    [Fact]
    public void Identity_IsReadFromEachProvidersUserInfoShape()
    {
        Assert.Equal(("data.id", "data.username"), Of("x"));
        Assert.Equal(("sub", "name"), Of("linkedin"));
        Assert.Equal(("id", "name"), Of("reddit"));
        Assert.Equal(("sub", "preferred_username"), Of("twitch"));
        Assert.Equal(("response.id", "response.first_name"), Of("freshbooks"));
        Assert.Equal(("merchant.id", "merchant.business_name"), Of("square"));
        Assert.All(BuiltInBusinessProviders.All, p => Assert.False(p.Identity.UsePost));

        static (string, string?) Of(string id) => (BuiltInProviders.Find(id)!.Identity.IdPath, BuiltInProviders.Find(id)!.Identity.LoginPath);
    }

    private static IEnumerable<string> Hosts(ProviderDefinition p) =>
        new[] { p.AuthorizationEndpoint, p.TokenEndpoint, p.RevocationEndpoint, p.UserInfoEndpoint }.OfType<Uri>().Select(u => u.Host)
            .Concat(p.ApiBaseUrls.Select(a => new Uri(a).Host));
}
