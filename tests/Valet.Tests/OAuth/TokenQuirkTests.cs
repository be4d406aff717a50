using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using static Valet.Tests.OAuth.OAuthTestData;

namespace Valet.Tests.OAuth;

/// <summary>One test per provider quirk, each against a local fake that behaves like that provider.</summary>
public sealed class TokenQuirkTests
{
    [Fact]
    public async Task GitHub_FormEncodedAnswer_IsParsed_WhenTheFakeIgnoresAccept()
    {
        string? accept = null;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", (HttpRequest r) =>
        {
            accept = r.Headers.Accept;
            return Results.Text("access_token=gho_abc123&scope=repo%2Cread%3Auser&token_type=bearer", "application/x-www-form-urlencoded");
        }));

        var result = await NewClient().ExchangeCodeAsync(At("github", fake), Client(), "code-1", "http://127.0.0.1/cb", "verifier", default);

        Assert.True(result.IsSuccess, result.Error?.ToString());
        Assert.Equal("application/json", accept);
        Assert.Equal("gho_abc123", result.Tokens!.AccessToken.Reveal());
        Assert.Equal(["repo", "read:user"], result.Tokens.Scopes);
        Assert.Null(result.Tokens.ExpiresIn);
        Assert.Equal("Bearer", result.Tokens.TokenType);
    }

    [Fact]
    public async Task ClientSecretBasic_SendsFormUrlEncodedIdAndSecret_AndNothingInTheBody()
    {
        const string secret = "p@ss:w/rd+&= é%";
        string? authorization = null;
        IFormCollection? form = null;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", async (HttpRequest r) =>
        {
            authorization = r.Headers.Authorization;
            form = await r.ReadFormAsync();
            return Results.Json(new { access_token = "zoom-at", refresh_token = "zoom-rt", expires_in = 3600, token_type = "bearer" });
        }));

        var result = await NewClient().ExchangeCodeAsync(At("zoom", fake), new("my client:id", new Secret(secret)), "c", "http://127.0.0.1/cb", "v", default);

        Assert.True(result.IsSuccess);
        Assert.StartsWith("Basic ", authorization, StringComparison.Ordinal);
        var pair = Encoding.UTF8.GetString(Convert.FromBase64String(authorization!["Basic ".Length..]));
        Assert.Equal("my+client%3Aid:p%40ss%3Aw%2Frd%2B%26%3D+%C3%A9%25", pair);
        var colon = pair.IndexOf(':', StringComparison.Ordinal);
        Assert.Equal("my client:id", WebUtility.UrlDecode(pair[..colon]));
        Assert.Equal(secret, WebUtility.UrlDecode(pair[(colon + 1)..]));
        Assert.False(form!.ContainsKey("client_secret"));
        Assert.False(form.ContainsKey("client_id"));
        Assert.Equal("authorization_code", form["grant_type"]);
        Assert.Equal("v", form["code_verifier"]);
        Assert.Equal(3600, result.Tokens!.ExpiresIn);
    }

    [Fact]
    public async Task ClientSecretPost_SendsIdAndSecretInTheBody_AndNoAuthorizationHeader()
    {
        string? authorization = null;
        IFormCollection? form = null;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", async (HttpRequest r) =>
        {
            authorization = r.Headers.Authorization;
            form = await r.ReadFormAsync();
            return Results.Json(new { access_token = "at" });
        }));

        await NewClient().ExchangeCodeAsync(At("github", fake), Client("s&cret=+"), "c", "http://127.0.0.1/cb", "v", default);

        Assert.True(string.IsNullOrEmpty(authorization));
        Assert.Equal("client-id", form!["client_id"]);
        Assert.Equal("s&cret=+", form["client_secret"]);
    }

    [Fact]
    public async Task Notion_UsesBasicAuth()
    {
        string? authorization = null;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", (HttpRequest r) =>
        {
            authorization = r.Headers.Authorization;
            return Results.Json(new { access_token = "ntn_x", token_type = "bearer", owner = new { user = new { id = "u1" } } });
        }));

        var result = await NewClient().ExchangeCodeAsync(At("notion", fake), Client(), "c", "http://127.0.0.1/cb", "v", default);

        Assert.True(result.IsSuccess);
        Assert.StartsWith("Basic ", authorization, StringComparison.Ordinal);
        Assert.Null(result.Tokens!.ExpiresIn);
    }

    [Fact]
    public async Task Slack_ReadsTheUserTokenNestedUnderAuthedUser()
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", () => Results.Text("""
            {"ok":true,"app_id":"A1","access_token":"xoxb-bot","token_type":"bot","scope":"commands",
             "authed_user":{"id":"U123","scope":"search:read,users:read","access_token":"xoxp-user",
                            "token_type":"user","refresh_token":"xoxe-1-r","expires_in":43200},
             "team":{"id":"T1"}}
            """, "application/json")));

        var result = await NewClient().ExchangeCodeAsync(At("slack", fake), Client(), "c", "http://127.0.0.1/cb", "v", default);

        Assert.True(result.IsSuccess, result.Error?.ToString());
        var tokens = result.Tokens!;
        Assert.Equal("xoxp-user", tokens.AccessToken.Reveal());
        Assert.Equal("xoxe-1-r", tokens.RefreshToken!.Value.Reveal());
        Assert.Equal(["search:read", "users:read"], tokens.Scopes);
        Assert.Equal(43200, tokens.ExpiresIn);
        Assert.Equal("U123", tokens.AccountIdHint);
        Assert.Equal("Bearer", tokens.TokenType);
    }

    [Theory]
    [InlineData("invalid_code", TokenErrorKind.InvalidGrant)]
    [InlineData("invalid_refresh_token", TokenErrorKind.InvalidGrant)]
    [InlineData("invalid_client_id", TokenErrorKind.InvalidClient)]
    [InlineData("invalid_arguments", TokenErrorKind.OtherOAuthError)]
    public async Task Slack_OkFalseWithHttp200_IsAnError(string error, TokenErrorKind expected)
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", () => Results.Json(new { ok = false, error })));

        var result = await NewClient().RefreshAsync(At("slack", fake), Client(), "xoxe-old", default);

        Assert.False(result.IsSuccess);
        Assert.Equal(expected, result.Error!.Kind);
        Assert.Equal(error, result.Error.Code);
        Assert.Equal(200, result.Error.HttpStatus);
    }

    [Fact]
    public async Task MissingExpiresInAndScope_GiveNulls()
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", () => Results.Json(new { access_token = "at", token_type = "Bearer" })));

        var result = await NewClient().ExchangeCodeAsync(At("linear", fake), Client(), "c", "http://127.0.0.1/cb", "v", default);

        Assert.True(result.IsSuccess);
        Assert.Null(result.Tokens!.ExpiresIn);
        Assert.Null(result.Tokens.Scopes);
        Assert.Null(result.Tokens.RefreshToken);
    }

    [Theory]
    [InlineData("https://acme.my.salesforce.com", "https://acme.my.salesforce.com")]
    [InlineData("https://evil.example.com", null)]
    [InlineData("http://acme.my.salesforce.com", null)]
    public async Task Salesforce_InstanceUrl_BecomesTheApiBase_OnlyOnSalesforceHosts(string instanceUrl, string? expected)
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", () => Results.Json(new
        {
            access_token = "00D!AQ",
            refresh_token = "5Aep",
            instance_url = instanceUrl,
            id = "https://login.salesforce.com/id/00D/005",
            token_type = "Bearer",
            scope = "api refresh_token",
        })));

        var result = await NewClient().ExchangeCodeAsync(At("salesforce", fake), Client(), "c", "http://127.0.0.1/cb", "v", default);

        Assert.True(result.IsSuccess);
        Assert.Equal(expected, result.Tokens!.InstanceUrl);
        Assert.Equal(["api", "refresh_token"], result.Tokens.Scopes);
    }

    [Fact]
    public async Task Atlassian_Refresh_ReturnsTheRotatedRefreshToken()
    {
        IFormCollection? form = null;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", async (HttpRequest r) =>
        {
            form = await r.ReadFormAsync();
            return Results.Json(new { access_token = "at-2", refresh_token = "rt-2", expires_in = 3600, scope = "read:me offline_access" });
        }));

        var provider = At("atlassian", fake);
        var result = await NewClient().RefreshAsync(provider, Client(), "rt-1", default);

        Assert.Equal("refresh_token", form!["grant_type"]);
        Assert.Equal("rt-1", form["refresh_token"]);
        Assert.Equal("rt-2", result.Tokens!.RefreshToken!.Value.Reveal());
        Assert.Equal("at-2", result.Tokens.AccessToken.Reveal());
    }

    /// <summary>monday's OAuth 2.1 token endpoint as documented: a JSON body with the client's id and secret in it, nothing else.</summary>
    private static Task<FakeProvider> MondayTokenFake(List<JsonElement> bodies, object answer) => FakeProvider.StartAsync(app => app.MapPost("/token", async (HttpRequest r) =>
    {
        if (r.ContentType != "application/json" || !string.IsNullOrEmpty(r.Headers.Authorization))
        {
            return Results.Json(new { error = "invalid_request" }, statusCode: 400);
        }

        bodies.Add((await JsonDocument.ParseAsync(r.Body)).RootElement.Clone());
        return Results.Json(answer);
    }));

    [Fact]
    public async Task Monday_CodeExchange_IsAJsonBody_WithPkce_AndNoExpiresIn()
    {
        var bodies = new List<JsonElement>();
        await using var fake = await MondayTokenFake(bodies, new { access_token = "eyJ.mon-at.sig", refresh_token = "eyJ.mon-rt.sig", token_type = "Bearer", scope = "me:read boards:read" });

        var result = await NewClient().ExchangeCodeAsync(At("monday", fake), Client(), "code-1", "http://127.0.0.1/cb", "verifier-1", default);

        Assert.True(result.IsSuccess);
        var body = Assert.Single(bodies);
        Assert.Equal("authorization_code", body.GetProperty("grant_type").GetString());
        Assert.Equal("code-1", body.GetProperty("code").GetString());
        Assert.Equal("verifier-1", body.GetProperty("code_verifier").GetString());
        Assert.Equal("http://127.0.0.1/cb", body.GetProperty("redirect_uri").GetString());
        Assert.Equal("client-id", body.GetProperty("client_id").GetString());
        Assert.Equal("client-secret-value", body.GetProperty("client_secret").GetString());
        Assert.Equal("eyJ.mon-rt.sig", result.Tokens!.RefreshToken!.Value.Reveal());
        Assert.Equal("Bearer", result.Tokens.TokenType);
        Assert.Null(result.Tokens.ExpiresIn); // the JWT's exp is the only expiry: Valet refreshes after the API's 401
        Assert.Equal(["me:read", "boards:read"], result.Tokens.Scopes);
    }

    [Fact]
    public async Task Monday_Refresh_IsAJsonBody_AndKeepsTheRotatedRefreshToken()
    {
        var bodies = new List<JsonElement>();
        await using var fake = await MondayTokenFake(bodies, new { access_token = "eyJ.at-2.sig", refresh_token = "eyJ.rt-2.sig", token_type = "Bearer", scope = "me:read" });

        var result = await NewClient().RefreshAsync(At("monday", fake), Client(), "eyJ.rt-1.sig", default);

        Assert.True(result.IsSuccess);
        var body = Assert.Single(bodies);
        Assert.Equal("refresh_token", body.GetProperty("grant_type").GetString());
        Assert.Equal("eyJ.rt-1.sig", body.GetProperty("refresh_token").GetString());
        Assert.Equal("client-secret-value", body.GetProperty("client_secret").GetString());
        Assert.Equal("eyJ.rt-2.sig", result.Tokens!.RefreshToken!.Value.Reveal()); // "Each refresh returns a new refresh_token"
        Assert.Equal("eyJ.at-2.sig", result.Tokens.AccessToken.Reveal());
    }

    [Fact]
    public async Task IdToken_Subject_IsTheAccountHint()
    {
        var payload = Convert.ToBase64String(Encoding.UTF8.GetBytes("""{"sub":"user-42","iss":"x"}""")).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", () => Results.Json(new { access_token = "at", id_token = $"eyJhbGciOiJub25lIn0.{payload}.sig" })));

        var result = await NewClient().ExchangeCodeAsync(At("google", fake), Client(), "c", "http://127.0.0.1/cb", "v", default);

        Assert.Equal("user-42", result.Tokens!.AccountIdHint);
    }
}
