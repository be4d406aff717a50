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

    /// <summary>
    /// A fake of monday's GraphQL endpoint (https://api.monday.com/v2): only a POST whose JSON body is the me query, with a
    /// Bearer token, gets the user; anything else (a GET, a POST without that body) gets an error, never an identity.
    /// </summary>
    private static Task<FakeProvider> MondayGraphQlFake(List<string> seen) => FakeProvider.StartAsync(app => app.Map("/userinfo", async (HttpRequest r) =>
    {
        using var reader = new StreamReader(r.Body);
        var text = await reader.ReadToEndAsync();
        seen.Add($"{r.Method} {r.ContentType} {r.Headers.Authorization} {text}");
        if (!HttpMethods.IsPost(r.Method) || r.ContentType?.StartsWith("application/json", StringComparison.Ordinal) != true
            || r.Headers.Authorization != "Bearer mon_at")
        {
            return Results.BadRequest();
        }

        string? query;
        try
        {
            query = JsonDocument.Parse(text).RootElement.GetProperty("query").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return Results.Json(new { errors = new[] { new { message = "No query string was present" } } }, statusCode: 400);
        }

        return query == "{ me { id name email } }"
            ? Results.Json(new { data = new { me = new { id = "58241312", name = "Mona Day", email = "mona@example.com" } }, account_id = 9421 })
            : Results.Json(new { errors = new[] { new { message = "unexpected query" } } }, statusCode: 400);
    }));

    [Fact]
    public async Task Identity_Monday_IsAGraphQlPost_WithTheMeQueryAsJson()
    {
        var seen = new List<string>();
        await using var fake = await MondayGraphQlFake(seen);

        var identity = await NewClient().GetIdentityAsync(At("monday", fake), new TokenSet { AccessToken = new Secret("mon_at") }, default);

        Assert.Equal(new AccountIdentity("58241312", "Mona Day", "mona@example.com"), identity);
        var call = Assert.Single(seen);
        Assert.StartsWith("POST application/json", call, StringComparison.Ordinal);
        Assert.EndsWith("""{"query":"{ me { id name email } }"}""", call, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Identity_Monday_AsAGetOrWithoutTheQuery_GetsNoIdentity()
    {
        // The fake answers only the documented call: were the catalog's identity a GET or a bodiless POST, it would fail.
        var seen = new List<string>();
        await using var fake = await MondayGraphQlFake(seen);
        var monday = At("monday", fake);
        var tokens = new TokenSet { AccessToken = new Secret("mon_at") };

        Assert.Null(await NewClient().GetIdentityAsync(monday with { Identity = monday.Identity with { UsePost = false } }, tokens, default));
        Assert.Null(await NewClient().GetIdentityAsync(monday with { Identity = monday.Identity with { PostJson = null } }, tokens, default));
        Assert.Null(await NewClient().GetIdentityAsync(
            monday with { Identity = monday.Identity with { PostJson = """{"query":"{ viewer { id } }"}""" } }, tokens, default));

        Assert.Equal(3, seen.Count);
        Assert.StartsWith("GET ", seen[0], StringComparison.Ordinal);
        Assert.StartsWith("POST ", seen[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Identity_Monday_GraphQlErrorsWithoutData_AreNoIdentity()
    {
        // A token without me:read: GraphQL answers errors and no data.me; nothing is guessed.
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/userinfo", () =>
            Results.Json(new { errors = new[] { new { message = "Missing required permissions: me:read" } }, account_id = 9421 })));

        Assert.Null(await NewClient().GetIdentityAsync(At("monday", fake), new TokenSet { AccessToken = new Secret("mon_at") }, default));
    }

    [Fact]
    public async Task Revoke_Monday_SendsRfc7009ParametersAsJson_AndTakesItsSuccessAnswer()
    {
        (string? Type, string? Authorization, JsonElement Body) seen = default;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/revoke", async (HttpRequest r) =>
        {
            seen = (r.ContentType, r.Headers.Authorization, (await JsonDocument.ParseAsync(r.Body)).RootElement.Clone());
            return Results.Json(new { success = true });
        }));

        var revoked = await NewClient().RevokeAsync(At("monday", fake), Client(), "mon_rt", "refresh_token", default);

        Assert.True(revoked);
        Assert.Equal("application/json", seen.Type);
        Assert.True(string.IsNullOrEmpty(seen.Authorization)); // client authentication in the body, as documented
        Assert.Equal("mon_rt", seen.Body.GetProperty("token").GetString());
        Assert.Equal("refresh_token", seen.Body.GetProperty("token_type_hint").GetString());
        Assert.Equal("client-id", seen.Body.GetProperty("client_id").GetString());
        Assert.Equal("client-secret-value", seen.Body.GetProperty("client_secret").GetString());
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
