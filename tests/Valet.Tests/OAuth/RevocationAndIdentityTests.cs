using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using static Valet.Tests.OAuth.OAuthTestData;

namespace Valet.Tests.OAuth;

public sealed class RevocationAndIdentityTests
{
    [Fact]
    public async Task Revoke_SendsTokenAndHint_WithTheTokenEndpointClientAuth()
    {
        string? authorization = null;
        IFormCollection? form = null;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/revoke", async (HttpRequest r) =>
        {
            authorization = r.Headers.Authorization;
            form = await r.ReadFormAsync();
            return Results.Ok();
        }));

        var revoked = await NewClient().RevokeAsync(At("zoom", fake), Client(), "tok-1", "refresh_token", default);

        Assert.True(revoked);
        Assert.StartsWith("Basic ", authorization, StringComparison.Ordinal);
        Assert.Equal("tok-1", form!["token"]);
        Assert.Equal("refresh_token", form["token_type_hint"]);
    }

    [Fact]
    public async Task Revoke_ReturnsFalse_OnRefusalOrWithoutEndpoint()
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/revoke", () => Results.BadRequest()));
        var client = NewClient();

        Assert.False(await client.RevokeAsync(At("google", fake), Client(), "t", "access_token", default));
        Assert.False(await client.RevokeAsync(At("google", fake) with { RevocationEndpoint = null }, Client(), "t", "access_token", default));
    }

    [Fact]
    public async Task Identity_GitHub_ReadsNumericIdAsText_WithBearerAndApiHeaders()
    {
        string? authorization = null, version = null, userAgent = null;
        await using var fake = await FakeProvider.StartAsync(app => app.MapGet("/userinfo", (HttpRequest r) =>
        {
            authorization = r.Headers.Authorization;
            version = r.Headers["X-GitHub-Api-Version"];
            userAgent = r.Headers.UserAgent;
            return Results.Json(new { id = 583231, login = "octocat", email = (string?)null });
        }));

        var identity = await NewClient().GetIdentityAsync(At("github", fake), new TokenSet { AccessToken = new Secret("gho_x") }, default);

        Assert.Equal(new AccountIdentity("583231", "octocat", null), identity);
        Assert.Equal("Bearer gho_x", authorization);
        Assert.Equal("2022-11-28", version);
        Assert.False(string.IsNullOrEmpty(userAgent));
    }

    [Fact]
    public async Task Identity_Dropbox_IsAPost_WithNestedPaths()
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/userinfo", () =>
            Results.Json(new { account_id = "dbid:AAH", name = new { display_name = "Franz" }, email = "f@example.com" })));

        var identity = await NewClient().GetIdentityAsync(At("dropbox", fake), new TokenSet { AccessToken = new Secret("sl.x") }, default);

        Assert.Equal(new AccountIdentity("dbid:AAH", "Franz", "f@example.com"), identity);
    }

    [Fact]
    public async Task Identity_Linear_IsAGraphQlPost_WithTheViewerQueryAsJson()
    {
        (string? Type, string? Query) seen = default;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/userinfo", async (HttpRequest r) =>
        {
            var body = await JsonDocument.ParseAsync(r.Body);
            seen = (r.ContentType, body.RootElement.GetProperty("query").GetString());
            return Results.Json(new { data = new { viewer = new { id = "lin-1", name = "Lin", email = "lin@example.com" } } });
        }));

        var identity = await NewClient().GetIdentityAsync(At("linear", fake), new TokenSet { AccessToken = new Secret("lin_oauth_x") }, default);

        Assert.Equal(new AccountIdentity("lin-1", "Lin", "lin@example.com"), identity);
        Assert.StartsWith("application/json", seen.Type, StringComparison.Ordinal);
        Assert.Equal("{ viewer { id name email } }", seen.Query);
    }

    [Fact]
    public async Task Identity_FallsBackToTheTokenHint_WithoutUserInfoEndpoint()
    {
        await using var fake = await FakeProvider.StartAsync(_ => { });
        var provider = At("slack", fake) with { UserInfoEndpoint = null };

        var withHint = await NewClient().GetIdentityAsync(provider, new TokenSet { AccessToken = new Secret("x"), AccountIdHint = "U1" }, default);
        var without = await NewClient().GetIdentityAsync(provider, new TokenSet { AccessToken = new Secret("x") }, default);

        Assert.Equal(new AccountIdentity("U1", null, null), withHint);
        Assert.Null(without);
    }
}
