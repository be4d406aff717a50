using System.Net;
using System.Text.Json;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Tokens;

namespace Valet.Tests.OAuth;

/// <summary>Answers that used to crash a flow or get stored: lifetimes out of range, odd token types, unsendable token values.</summary>
public sealed class TokenResponseReaderTests
{
    private static readonly ProviderDefinition GitHub = BuiltInProviders.Find("github")!;
    private static readonly ProviderDefinition Slack = BuiltInProviders.Find("slack")!;

    private static TokenResult Read(object body, ProviderDefinition? provider = null, HttpStatusCode status = HttpStatusCode.OK)
    {
        using var response = new HttpResponseMessage(status);
        return TokenResponseReader.Read(provider ?? GitHub, response, JsonSerializer.Serialize(body), TimeProvider.System);
    }

    private static TokenResult ReadRaw(string json)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.OK);
        return TokenResponseReader.Read(GitHub, response, json, TimeProvider.System);
    }

    [Theory]
    [InlineData("300000000000", 315_360_000L)]
    [InlineData("1e400", 315_360_000L)]
    [InlineData("9223372036854775807000", 315_360_000L)]
    [InlineData("3600", 3600L)]
    [InlineData("\"3600\"", 3600L)]
    [InlineData("3600.9", 3600L)]
    [InlineData("0", null)]
    [InlineData("-5", null)]
    [InlineData("\"soon\"", null)]
    public void ExpiresIn_IsClampedToTenYears_AndNonPositiveOrUnreadableIsAbsent(string raw, long? expected)
    {
        var result = ReadRaw($$"""{"access_token":"at","expires_in":{{raw}}}""");

        Assert.True(result.IsSuccess, result.Error?.ToString());
        Assert.Equal(expected, result.Tokens!.ExpiresIn);
    }

    private static string Jwt(string payloadJson) =>
        "eyJhbGciOiJIUzI1NiJ9." + System.Buffers.Text.Base64Url.EncodeToString(System.Text.Encoding.UTF8.GetBytes(payloadJson)) + ".c2ln";

    [Fact]
    public void WithoutExpiresIn_AJwtAccessTokensExp_IsItsExpiry_NeverOverExpiresIn_AndOnlyWhenPlausible()
    {
        // monday's OAuth 2.1 answer has no expires_in; its access token is a JWT whose exp says when it ends. Without
        // reading it the connection counted as never expiring and the token route handed out an expired token.
        var now = DateTimeOffset.UtcNow;
        var exp = DateTimeOffset.FromUnixTimeSeconds(now.AddHours(1).ToUnixTimeSeconds());
        var options = new RefreshOptions();

        var jwt = Read(new { access_token = Jwt($$"""{"sub":"u1","exp":{{exp.ToUnixTimeSeconds()}}}"""), token_type = "Bearer" }).Tokens!;
        Assert.Null(jwt.ExpiresIn);
        Assert.Equal(exp, jwt.AccessTokenExp);
        Assert.Equal(exp, RefreshPolicy.ExpiryFrom(jwt, now, options));
        Assert.Equal(exp, TokenRules.ExpiresAt(now, jwt));

        // expires_in, when given, is the provider's word: the JWT is not read.
        var both = Read(new { access_token = Jwt($$"""{"exp":{{exp.ToUnixTimeSeconds()}}}"""), expires_in = 600 }).Tokens!;
        Assert.Null(both.AccessTokenExp);
        Assert.Equal(now.AddSeconds(600), TokenRules.ExpiresAt(now, both));

        // Not a JWT, no exp, an exp that is past, absurd or not a number: no expiry, as before.
        foreach (var token in new[]
        {
            "opaque-token", "a.b", Jwt("""{"sub":"u1"}"""), Jwt($$"""{"exp":{{now.AddMinutes(-5).ToUnixTimeSeconds()}}}"""),
            Jwt("""{"exp":99999999999999}"""), Jwt("""{"exp":"tomorrow"}"""), "x.!!!.y", "x." + System.Buffers.Text.Base64Url.EncodeToString("[1]"u8) + ".y",
        })
        {
            var tokens = Read(new { access_token = token }).Tokens!;
            Assert.Null(TokenRules.ExpiresAt(now, tokens));
            Assert.Null(RefreshPolicy.ExpiryFrom(tokens, now, options));
        }
    }

    [Fact]
    public void AnyLifetime_GivesAnExpiry_WithoutThrowing()
    {
        var now = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var options = new RefreshOptions();

        Assert.Equal(now + TokenRules.MaxLifetime, TokenRules.ExpiresAt(now, long.MaxValue));
        Assert.Equal(now + TokenRules.MaxLifetime, RefreshPolicy.ExpiryFrom(new TokenSet { AccessToken = new("a"), ExpiresIn = long.MaxValue }, now, options));
        Assert.Null(TokenRules.ExpiresAt(now, long.MinValue));
        Assert.Equal(now.AddSeconds(60), TokenRules.ExpiresAt(now, 60));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Bearer")]
    [InlineData("bearer")]
    [InlineData("BEARER")]
    public void BearerStyleTokenTypes_AndAbsent_AreBearer(string? tokenType)
    {
        var result = Read(new Dictionary<string, object?> { ["access_token"] = "at", ["token_type"] = tokenType });

        Assert.True(result.IsSuccess, result.Error?.ToString());
        Assert.Equal("Bearer", result.Tokens!.TokenType);
    }

    [Theory]
    [InlineData("DPoP")]
    [InlineData("mac")]
    [InlineData("N_A")]
    [InlineData("bot")] // Slack's word: only for Slack
    [InlineData("Bearer\r\nX-Injected: 1")]
    [InlineData(" bearer")]
    public void OtherTokenTypes_AreAnInvalidAnswer_NeverStored(string tokenType)
    {
        var result = Read(new { access_token = "at", refresh_token = "rt", token_type = tokenType });

        Assert.False(result.IsSuccess);
        Assert.Equal(TokenErrorKind.Transient, result.Error!.Kind);
        Assert.Equal(TokenResponseReader.UnsupportedTokenType, result.Error.Code);
    }

    [Theory]
    [InlineData("bot")]
    [InlineData("user")]
    public void SlackBotAndUserTokens_AreBearer(string tokenType)
    {
        var result = Read(new { ok = true, access_token = "xoxb-1", token_type = tokenType }, Slack);

        Assert.True(result.IsSuccess, result.Error?.ToString());
        Assert.Equal("Bearer", result.Tokens!.TokenType);
    }

    [Theory]
    [InlineData("at\r\nX-Injected: 1", "rt")]
    [InlineData("at\n", "rt")]
    [InlineData("a t", "rt")]
    [InlineData("at\t", "rt")]
    [InlineData("at\u0000", "rt")]
    [InlineData("at\u007f", "rt")]
    [InlineData("tök", "rt")]
    [InlineData("at", "rt\r\nX-Injected: 1")]
    [InlineData("at", "r t")]
    [InlineData("at", "r\u00e9")]
    public void TokensThatCannotBeSent_AreAnInvalidAnswer_NeverStored(string access, string refresh)
    {
        var result = Read(new { access_token = access, refresh_token = refresh, token_type = "Bearer" });

        Assert.False(result.IsSuccess);
        Assert.Equal(TokenErrorKind.Transient, result.Error!.Kind);
        Assert.False(result.Error.IsTerminal);
        Assert.Equal(TokenResponseReader.InvalidTokenValue, result.Error.Code);
    }

    [Fact]
    public void PrintableTokens_AreAccepted_AsIs()
    {
        const string access = "ya29.a0AfB_by-~+/=:!#$%&'*@^`|{}";

        var result = Read(new { access_token = access, refresh_token = "1//0g-x_Y", token_type = "Bearer" });

        Assert.True(result.IsSuccess, result.Error?.ToString());
        Assert.Equal(new Secret(access), result.Tokens!.AccessToken);
    }

    [Theory]
    [InlineData(HttpStatusCode.Found)]
    [InlineData(HttpStatusCode.TemporaryRedirect)]
    [InlineData(HttpStatusCode.PermanentRedirect)]
    [InlineData(HttpStatusCode.MovedPermanently)]
    public void ARedirectAnswer_IsAProviderError_EvenWithTokensInItsBody(HttpStatusCode status)
    {
        var result = Read(new { access_token = "at", token_type = "Bearer" }, status: status);

        Assert.Equal(TokenErrorKind.Transient, result.Error!.Kind);
        Assert.Equal(TokenResponseReader.ProviderRedirect, result.Error.Code);
    }
}
