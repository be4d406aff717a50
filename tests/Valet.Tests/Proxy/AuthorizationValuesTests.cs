using Valet.Core.Domain;
using Valet.Server.Proxy;

namespace Valet.Tests.Proxy;

/// <summary>The proxy's Authorization value, built once per stored secret and sent unparsed only when it is safe to.</summary>
public sealed class AuthorizationValuesTests
{
    [Fact]
    public void AVisibleAsciiToken_IsSchemeSpaceToken_BuiltOncePerSecretInstance()
    {
        var secret = new Secret("gho_" + Guid.NewGuid().ToString("N"));
        var calls = 0;

        var first = AuthorizationValues.For(secret, "Bearer", s => { calls++; return s.Reveal(); });
        var second = AuthorizationValues.For(secret, "Bearer", s => { calls++; return s.Reveal(); });

        Assert.Equal("Bearer " + secret.Reveal(), first);
        Assert.Same(first, second);
        Assert.Equal(1, calls);
    }

    [Fact]
    public void ARotatedToken_IsANewSecret_AndGetsItsOwnValue()
    {
        var before = new Secret("token-" + Guid.NewGuid().ToString("N"));
        var after = new Secret("token-" + Guid.NewGuid().ToString("N"));

        Assert.Equal("Bearer " + before.Reveal(), AuthorizationValues.For(before, "Bearer", s => s.Reveal()));
        Assert.Equal("Bearer " + after.Reveal(), AuthorizationValues.For(after, "Bearer", s => s.Reveal()));
    }

    [Fact]
    public void TheSameSecretUnderAnotherScheme_IsNotServedTheCachedValue()
    {
        var secret = new Secret("user:" + Guid.NewGuid().ToString("N"));

        var bearer = AuthorizationValues.For(secret, "Bearer", s => s.Reveal());
        var basic = AuthorizationValues.For(secret, "Basic", s => Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(s.Reveal())));

        Assert.Equal("Bearer " + secret.Reveal(), bearer);
        Assert.Equal("Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(secret.Reveal())), basic);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bear er")]
    [InlineData("Bearer\r\nX-Injected:")]
    public void ASchemeThatIsNotAToken_IsNotBuilt(string scheme)
    {
        Assert.Null(AuthorizationValues.For(new Secret("token-" + Guid.NewGuid().ToString("N")), scheme, s => s.Reveal()));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("line\r\nX-Injected: 1")]
    [InlineData("caf\u00e9")]
    [InlineData("tab\there")]
    public void ACredentialThatIsNotVisibleAscii_IsNotBuilt_SoItIsFormattedAndCheckedPerCallAsBefore(string token)
    {
        Assert.Null(AuthorizationValues.For(new Secret(token), "Bearer", s => s.Reveal()));
    }
}
