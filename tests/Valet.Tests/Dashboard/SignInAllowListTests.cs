using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Server.Dashboard;
using Valet.Tests.Tokens;

namespace Valet.Tests.Dashboard;

/// <summary>
/// Who "Sign in with a provider" lets in (docs/dashboard.md, "Who may sign in"): an operator's login matches only where
/// nobody else can take it, an email only when the provider vouches for it, and <c>provider:id</c> always. A display name,
/// a workspace-local handle or an unverified email must not make a stranger an operator.
/// </summary>
public sealed class SignInAllowListTests
{
    private static readonly ProviderDefinition GitHub = BuiltInProviders.All.Single(p => p.Id == "github");
    private static readonly ProviderDefinition Slack = BuiltInProviders.All.Single(p => p.Id == "slack");
    private static readonly ProviderDefinition Google = BuiltInProviders.All.Single(p => p.Id == "google");
    private static readonly ProviderDefinition OwnIdp = new()
    {
        Id = "corp-idp", DisplayName = "Corp", Identity = BuiltInProviders.OidcIdentity, Source = ProviderSource.Configuration,
    };

    private static ProviderSignIn Gate(string operators) => ProviderSignIn.From(
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Dashboard:SignInProvider"] = "github,slack,google,corp-idp",
            ["Dashboard:Operators"] = operators,
        }).Build(),
        new FakeCatalog(GitHub, Slack, Google, OwnIdp));

    [Fact]
    public void ALogin_Matches_OnlyWhereTheProvidersLoginIsUnique_OrTheOperatorsOwnIdp()
    {
        var gate = Gate("alice");

        Assert.True(gate.Allows(GitHub, new AccountIdentity("1", "alice", null)));
        Assert.True(gate.Allows(OwnIdp, new AccountIdentity("s-1", "Alice", null)));
        // Slack's user name is unique only inside one workspace: anyone can make a workspace with an "alice".
        Assert.False(gate.Allows(Slack, new AccountIdentity("U999", "alice", null)));
    }

    [Fact]
    public void ALogin_NeverPassesForAnEmailOrAnIdEntry()
    {
        var gate = Gate("alice@corp.example, github:583231");

        // On the operator's own IdP a login is trusted as a login, not as the email or id it may be set to read like.
        Assert.False(gate.Allows(OwnIdp, new AccountIdentity("mallory-sub", "alice@corp.example", "alice@corp.example", EmailVerified: false)));
        Assert.False(gate.Allows(OwnIdp, new AccountIdentity("mallory-sub", "github:583231", null)));
        Assert.True(gate.Allows(GitHub, new AccountIdentity("583231", "someone", null)));
    }

    [Fact]
    public void AnEmail_Matches_OnlyWhenTheProviderSaysItIsVerified()
    {
        var gate = Gate("alice@corp.example");

        Assert.False(gate.Allows(OwnIdp, new AccountIdentity("mallory", "mallory", "alice@corp.example", EmailVerified: false)));
        Assert.False(gate.Allows(GitHub, new AccountIdentity("2", "mallory", "alice@corp.example")));
        Assert.True(gate.Allows(Google, new AccountIdentity("g-1", "alice@corp.example", "alice@corp.example", EmailVerified: true)));
        // Google's "login" is the email: unverified, it does not match as a login either.
        Assert.False(gate.Allows(Google, new AccountIdentity("g-2", "alice@corp.example", "alice@corp.example", EmailVerified: false)));
    }

    [Fact]
    public void AProviderAndId_Entry_MatchesThatAccountOnly_AtThatProvider()
    {
        var gate = Gate("slack:U123");

        Assert.True(gate.Allows(Slack, new AccountIdentity("U123", "whoever", null)));
        Assert.False(gate.Allows(Slack, new AccountIdentity("U124", "U123", null)));
        Assert.False(gate.Allows(GitHub, new AccountIdentity("U123", null, null)));
    }

    [Theory]
    [InlineData("""{"email":"a@x","email_verified":true}""", "email", true)]
    [InlineData("""{"email":"a@x","email_verified":"true"}""", "email", true)]
    [InlineData("""{"email":"a@x","email_verified":false}""", "email", false)]
    [InlineData("""{"email":"a@x"}""", "email", false)]
    [InlineData("""{"data":{"email":"a@x","email_verified":true}}""", "data.email", true)]
    [InlineData("""{"email_verified":true,"data":{"email":"a@x"}}""", "data.email", false)]
    public void EmailVerified_IsReadBesideTheEmail(string json, string emailPath, bool verified)
    {
        Assert.Equal(verified, OAuthClient.EmailVerified(JsonNode.Parse(json)!.AsObject(), emailPath));
    }
}
