using Microsoft.Extensions.Configuration;
using Valet.Core.Providers;

namespace Valet.Tests.Providers;

public sealed class BuiltInProvidersTests
{
    public static TheoryData<string> RequiredIds() =>
    [
        "github", "gitlab", "google", "microsoft", "slack", "notion", "linear", "atlassian", "dropbox", "salesforce",
        "hubspot", "discord", "zoom", "asana", "figma", "spotify",
    ];

    [Theory]
    [MemberData(nameof(RequiredIds))]
    public void Catalog_HasProvider_WithHttpsEndpointsAndApiBases(string id)
    {
        var p = BuiltInProviders.Find(id);

        Assert.NotNull(p);
        Assert.Equal(id, p.Id);
        Assert.False(string.IsNullOrWhiteSpace(p.DisplayName));
        Assert.Equal("https", p.AuthorizationEndpoint!.Scheme);
        Assert.Equal("https", p.TokenEndpoint!.Scheme);
        Assert.NotNull(p.UserInfoEndpoint);
        Assert.NotEmpty(p.ApiBaseUrls);
        Assert.All(p.ApiBaseUrls, api => Assert.StartsWith("https://", api, StringComparison.Ordinal));
        Assert.False(p.AllowPrivateNetwork);
        Assert.Null(p.ClientId);
    }

    [Fact]
    public async Task Catalog_PassesItsOwnValidation_WithEmptyConfiguration()
    {
        var catalog = await ProviderCatalogBuilder.BuildAsync(new ConfigurationBuilder().Build(), new HttpClient(), default);

        Assert.Equal(BuiltInProviders.All.Count, catalog.All.Count);
        Assert.Same(catalog.Find("github"), catalog.Find("GitHub"));
    }

    [Fact]
    public void Catalog_HasAtLeastFortyOneOAuthProviders_EachIdOnce()
    {
        // Issue 15, item 6: the built-in OAuth catalog (the work-tool and business files included), beside the API-key one.
        var oauth = BuiltInProviders.All.Where(p => p.AuthMode == AuthMode.OAuth2).ToList();

        Assert.InRange(oauth.Count, 41, int.MaxValue); // README: "The built-in catalog has 41 OAuth providers"
        Assert.Equal(BuiltInProviders.All.Count, BuiltInProviders.All.Select(p => p.Id).Distinct(StringComparer.OrdinalIgnoreCase).Count());
    }

    [Fact]
    public void Google_ProxiesToTheWorkspaceApisServiceEndpoints()
    {
        // Each Workspace API's REST reference names its service endpoint; a host not listed is refused by the proxy.
        var google = BuiltInProviders.Find("google")!;
        foreach (var host in new[] { "www", "gmail", "people", "sheets", "docs", "drive", "slides", "forms", "tasks" })
        {
            Assert.Contains($"https://{host}.googleapis.com", google.ApiBaseUrls);
        }
    }

    [Fact]
    public void Discord_IdentityCall_NamesAnApiVersion()
    {
        // Unversioned Discord paths reach its default version, v6, which is deprecated (docs/providers.md).
        var discord = BuiltInProviders.Find("discord")!;
        Assert.Equal("/api/v10/users/@me", discord.UserInfoEndpoint!.AbsolutePath);
        Assert.Equal(["https://discord.com/api"], discord.ApiBaseUrls);
    }

    [Fact]
    public void Quirks_AreDeclaredAsData()
    {
        var slack = BuiltInProviders.Find("slack")!;
        Assert.True(slack.Has(ProviderQuirks.SlackNestedAuthedUser | ProviderQuirks.OkFalseErrors | ProviderQuirks.UserScopeParameter));
        Assert.Equal(",", slack.ScopeSeparator);
        var notion = BuiltInProviders.Find("notion")!;
        Assert.Equal(TokenEndpointAuthMethod.ClientSecretBasic, notion.TokenEndpointAuth);
        Assert.True(notion.ApiHeaders.ContainsKey("Notion-Version"));
        Assert.True(BuiltInProviders.Find("salesforce")!.Has(ProviderQuirks.InstanceUrlApiBase));
        var atlassian = BuiltInProviders.Find("atlassian")!;
        Assert.Equal("api.atlassian.com", atlassian.ExtraAuthorizationParameters["audience"]);
        Assert.Equal("offline", BuiltInProviders.Find("dropbox")!.ExtraAuthorizationParameters["token_access_type"]);
        Assert.True(BuiltInProviders.Find("dropbox")!.Identity.UsePost);
        Assert.Equal(TokenEndpointAuthMethod.ClientSecretBasic, BuiltInProviders.Find("zoom")!.TokenEndpointAuth);
    }

    [Fact]
    public void ManagedTargets_GitHubApi_AndMicrosoftMailAndCalendar()
    {
        var github = Assert.Single(BuiltInProviders.Find("github")!.Targets);
        Assert.Equal(("api", ""), (github.Name, github.Path)); // the API base itself, wherever it is configured

        var microsoft = BuiltInProviders.Find("microsoft")!;
        Assert.Contains("offline_access", microsoft.DefaultScopes);
        Assert.StartsWith("https://login.microsoftonline.com/common/oauth2/v2.0/", microsoft.AuthorizationEndpoint!.AbsoluteUri, StringComparison.Ordinal);
        var mail = microsoft.Targets.Single(t => t.Name == "mail");
        var calendar = microsoft.Targets.Single(t => t.Name == "calendar");
        Assert.Equal("v1.0/me/messages", mail.Path);
        Assert.Equal("v1.0/me/calendar", calendar.Path);
        Assert.All(BuiltInProviders.All.SelectMany(p => p.Targets), t => Assert.Null(t.BaseUrl)); // catalog targets all move with ApiBaseUrl
        Assert.Equal(["Mail.Read"], mail.RequiredScopes);
        Assert.Equal(["Calendars.Read"], calendar.RequiredScopes);
    }
}
