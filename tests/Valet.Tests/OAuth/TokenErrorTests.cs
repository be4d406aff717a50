using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using Valet.Core.OAuth;
using static Valet.Tests.OAuth.OAuthTestData;

namespace Valet.Tests.OAuth;

public sealed class TokenErrorTests
{
    private static async Task<TokenResult> RefreshAgainst(int status, string body, string contentType = "application/json")
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", () => Results.Text(body, contentType, statusCode: status)));
        return await NewClient().RefreshAsync(At("google", fake), Client(), "refresh-token-value", default);
    }

    [Theory]
    [InlineData(400, """{"error":"invalid_grant","error_description":"Token has been expired or revoked."}""", TokenErrorKind.InvalidGrant, "invalid_grant")]
    [InlineData(401, """{"error":"invalid_client","error_description":"The OAuth client was not found."}""", TokenErrorKind.InvalidClient, "invalid_client")]
    [InlineData(400, """{"error":"unauthorized_client"}""", TokenErrorKind.InvalidClient, "unauthorized_client")]
    [InlineData(400, """{"error":"invalid_scope","error_description":"bad"}""", TokenErrorKind.OtherOAuthError, "invalid_scope")]
    [InlineData(200, """{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired."}""", TokenErrorKind.InvalidGrant, "bad_verification_code")]
    [InlineData(500, "<html>Internal Server Error</html>", TokenErrorKind.Transient, "server_error")]
    [InlineData(503, """{"error":"temporarily_unavailable"}""", TokenErrorKind.Transient, "temporarily_unavailable")]
    [InlineData(200, "<html><body>Sign in to continue</body></html>", TokenErrorKind.Transient, "invalid_response")]
    [InlineData(200, "{not json", TokenErrorKind.Transient, "invalid_response")]
    [InlineData(200, """{"token_type":"Bearer"}""", TokenErrorKind.Transient, "invalid_response")]
    [InlineData(401, "", TokenErrorKind.InvalidClient, "invalid_client")]

    // Notion's error object carries the code in "code" (https://developers.notion.com/reference/status-codes).
    [InlineData(400, """{"object":"error","status":400,"code":"invalid_grant","message":"Invalid code: this code has been revoked."}""", TokenErrorKind.InvalidGrant, "invalid_grant")]
    [InlineData(400, """{"object":"error","status":400,"code":"invalid_json","message":"Error parsing JSON body."}""", TokenErrorKind.OtherOAuthError, "invalid_json")]
    [InlineData(503, """{"object":"error","status":503,"code":"service_unavailable","message":"Notion is unavailable."}""", TokenErrorKind.Transient, "service_unavailable")]

    // A numeric "code" is not an OAuth error code; a "code" on a success answer is never read as an error.
    [InlineData(400, """{"code":400,"message":"bad"}""", TokenErrorKind.OtherOAuthError, "http_400")]
    [InlineData(200, """{"code":"invalid_grant","token_type":"Bearer"}""", TokenErrorKind.Transient, "invalid_response")]
    // A person must act (docs/providers.md): Entra's documented error_codes refine the error, OIDC Core §3.1.2.6 codes name it.
    [InlineData(400, """{"error":"invalid_grant","error_description":"AADSTS50076: Due to a configuration change…","error_codes":[50076],"trace_id":"t"}""", TokenErrorKind.InteractionRequired, "mfa_required")]
    [InlineData(400, """{"error":"interaction_required","error_codes":[50079]}""", TokenErrorKind.InteractionRequired, "mfa_required")]
    [InlineData(400, """{"error":"invalid_grant","error_codes":[65001]}""", TokenErrorKind.InteractionRequired, "consent_required")]
    [InlineData(400, """{"error":"interaction_required","error_codes":[53003]}""", TokenErrorKind.InteractionRequired, "conditional_access")]
    [InlineData(400, """{"error":"invalid_grant","error_codes":[70043]}""", TokenErrorKind.InteractionRequired, "login_required")]
    [InlineData(400, """{"error":"login_required"}""", TokenErrorKind.InteractionRequired, "login_required")]
    [InlineData(400, """{"error":"consent_required"}""", TokenErrorKind.InteractionRequired, "consent_required")]
    [InlineData(400, """{"error":"account_selection_required"}""", TokenErrorKind.InteractionRequired, "interaction_required")]
    [InlineData(400, """{"error":"interaction_required","error_codes":[99999]}""", TokenErrorKind.InteractionRequired, "interaction_required")]

    // …and nothing else: an expired grant stays invalid_grant, the description is never read, a client failure or an
    // outage is never "a person must act", and STS codes are numbers.
    [InlineData(400, """{"error":"invalid_grant","error_codes":[70008]}""", TokenErrorKind.InvalidGrant, "invalid_grant")]
    [InlineData(400, """{"error":"invalid_request","error_description":"AADSTS50076: only in the prose"}""", TokenErrorKind.OtherOAuthError, "invalid_request")]
    [InlineData(401, """{"error":"invalid_client","error_codes":[50076]}""", TokenErrorKind.InvalidClient, "invalid_client")]
    [InlineData(400, """{"error":"temporarily_unavailable","error_codes":[50076]}""", TokenErrorKind.Transient, "temporarily_unavailable")]
    [InlineData(503, """{"error":"interaction_required"}""", TokenErrorKind.Transient, "interaction_required")]
    [InlineData(400, """{"error":"invalid_grant","error_codes":["50076"]}""", TokenErrorKind.InvalidGrant, "invalid_grant")]
    [InlineData(400, """{"error":"something_new","error_codes":[123456]}""", TokenErrorKind.OtherOAuthError, "something_new")]
    public async Task Failures_AreClassified(int status, string body, TokenErrorKind kind, string code)
    {
        var result = await RefreshAgainst(status, body);

        Assert.False(result.IsSuccess);
        Assert.Equal(kind, result.Error!.Kind);
        Assert.Equal(code, result.Error.Code);
        Assert.Equal(status, result.Error.HttpStatus);
    }

    [Fact]
    public async Task ErrorCode_IsTheShortCodeOnly_Sanitised_NeverTheDescription()
    {
        var longCode = "Invalid Grant!<script>" + new string('x', 100);
        var result = await RefreshAgainst(400, $$"""{"error":"{{longCode}}","error_description":"refresh-token-value is dead"}""");

        Assert.Equal(TokenErrorKind.OtherOAuthError, result.Error!.Kind);
        Assert.Matches("^[a-z0-9_.-]{1,64}$", result.Error.Code);
        Assert.StartsWith("invalidgrantscript", result.Error.Code, StringComparison.Ordinal);
        Assert.DoesNotContain("refresh-token-value", result.Error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("dead", result.Error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RateLimited_WithRetryAfterSeconds()
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", (HttpResponse r) =>
        {
            r.Headers.RetryAfter = "30";
            return Results.Text("""{"error":"rate_limited"}""", "application/json", statusCode: 429);
        }));

        var result = await NewClient().RefreshAsync(At("github", fake), Client(), "rt", default);

        Assert.Equal(TokenErrorKind.RateLimited, result.Error!.Kind);
        Assert.Equal(TimeSpan.FromSeconds(30), result.Error.RetryAfter);
    }

    [Fact]
    public async Task RateLimited_WithRetryAfterHttpDate_IsMeasuredOnTheInjectedClock()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2031, 5, 6, 7, 8, 0, TimeSpan.Zero));
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", (HttpResponse r) =>
        {
            r.Headers.RetryAfter = "Tue, 06 May 2031 07:10:00 GMT";
            return Results.StatusCode(429);
        }));

        var result = await NewClient(time: clock).RefreshAsync(At("github", fake), Client(), "rt", default);

        Assert.Equal(TokenErrorKind.RateLimited, result.Error!.Kind);
        Assert.Equal("rate_limited", result.Error.Code);
        Assert.Equal(TimeSpan.FromMinutes(2), result.Error.RetryAfter);
    }

    [Fact]
    public async Task HttpClientTimeout_IsTimeout_NotCancellation()
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", async (HttpContext c) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10), c.RequestAborted);
            return Results.Json(new { access_token = "late" });
        }));
        using var http = new HttpClient { Timeout = TimeSpan.FromMilliseconds(300) };

        var result = await NewClient(http).RefreshAsync(At("github", fake), Client(), "rt", default);

        Assert.Equal(TokenErrorKind.Timeout, result.Error!.Kind);
        Assert.Equal("timeout", result.Error.Code);
    }

    [Fact]
    public async Task CallerCancellation_Throws()
    {
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", async (HttpContext c) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10), c.RequestAborted);
            return Results.Ok();
        }));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => NewClient().RefreshAsync(At("github", fake), Client(), "rt", cts.Token));
    }

    [Fact]
    public async Task ConnectionRefused_IsTransient()
    {
        var fake = await FakeProvider.StartAsync(_ => { });
        var provider = At("github", fake);
        await fake.DisposeAsync();

        var result = await NewClient().RefreshAsync(provider, Client(), "rt", default);

        Assert.Equal(TokenErrorKind.Transient, result.Error!.Kind);
        Assert.Equal("connection_failed", result.Error.Code);
    }
}
