using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// Notion's public-connection OAuth and the one API call Valet makes, written from Notion's documentation (not from
/// Valet's catalog). Each behaviour names its page:
/// <list type="bullet">
/// <item>authorize: https://developers.notion.com/docs/authorization (public connection, step 1: client_id,
/// response_type=code, owner=user, redirect_uri; Notion redirects back with code and state);</item>
/// <item>token: https://developers.notion.com/reference/create-a-token and /reference/refresh-a-token — POST
/// /v1/oauth/token, <c>Authorization: Basic base64(client_id:client_secret)</c>, <c>Notion-Version</c> required, body
/// <c>application/json</c> with grant_type + code + redirect_uri, or grant_type=refresh_token + refresh_token; the answer
/// has access_token, token_type "bearer", refresh_token, bot_id, workspace_*, owner — and no expires_in; a refresh
/// "generates a new access token and new refresh token";</item>
/// <item>errors: https://developers.notion.com/reference/status-codes — <c>{"object":"error","status":…,"code":…,"message":…}</c>;
/// 400 invalid_json (body not JSON), 400 missing_version, 400 invalid_grant (code or refresh token invalid, expired,
/// revoked, or redirect URI mismatch), 401 unauthorized, 429 rate_limited, 500 internal_server_error, 503 service_unavailable;</item>
/// <item>identity: https://developers.notion.com/changelog/retrieve-information-about-your-token — GET /v1/users/me →
/// the bot user, its <c>bot.owner.user</c> the person who authorized it;</item>
/// <item>revoke: https://developers.notion.com/reference/revoke-token — POST /v1/oauth/revoke, Basic, JSON <c>{"token"}</c>.</item>
/// </list>
/// </summary>
internal sealed class NotionFake : IAsyncDisposable
{
    public const string ClientId = "1a2b3c4d-0000-4000-8000-00000000c1d0";
    public const string ClientSecret = "secret_Q7pX2mN9vB4kL8sT1wZ6yR3cF5hJ0dG";

    private readonly ConcurrentDictionary<string, (string Redirect, string Owner)> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _accessTokens = new(StringComparer.Ordinal); // token → owner
    private readonly ConcurrentDictionary<string, string> _refreshTokens = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private int _issued;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Every token-endpoint request as received.</summary>
    public ConcurrentQueue<RecordedRequest> TokenRequests { get; } = new();

    public ConcurrentQueue<RecordedRequest> RevokeRequests { get; } = new();

    /// <summary>When set, the token endpoint answers this (status, code) instead (an outage).</summary>
    public (int Status, string Code)? Outage { get; set; }

    public string? LastAccessToken { get; private set; }

    public string? LastRefreshToken { get; private set; }

    /// <summary>The person who approved the last authorization (each approval is a new person, so connections never merge).</summary>
    public string? LastOwner { get; private set; }

    public static async Task<NotionFake> StartAsync()
    {
        var fake = new NotionFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/v1/oauth/authorize", fake.Authorize);
            app.MapPost("/v1/oauth/token", fake.TokenAsync);
            app.MapPost("/v1/oauth/revoke", fake.RevokeAsync);
            app.MapGet("/v1/users/me", fake.Me);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    /// <summary>The access token stops working (Notion has no documented lifetime; the API's 401 is the only signal).</summary>
    public void ExpireAccessTokens() => _accessTokens.Clear();

    /// <summary>The person removed the connection: every refresh token is dead.</summary>
    public void RevokeGrant()
    {
        _accessTokens.Clear();
        _refreshTokens.Clear();
    }

    private IResult Authorize(HttpRequest request)
    {
        var query = request.Query;
        if (query["client_id"] != ClientId || query["response_type"] != "code" || query["owner"] != "user"
            || !Uri.TryCreate(query["redirect_uri"], UriKind.Absolute, out var redirect))
        {
            return Results.BadRequest();
        }

        // The person approves: Notion redirects back with the code and the state it was given.
        var code = "code-" + Guid.NewGuid().ToString("N");
        LastOwner = Guid.NewGuid().ToString();
        _codes[code] = (redirect.AbsoluteUri, LastOwner);
        return Results.Redirect($"{redirect.AbsoluteUri}?code={code}&state={Uri.EscapeDataString(query["state"].ToString())}");
    }

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        TokenRequests.Enqueue(recorded);
        if (Outage is { } outage)
        {
            return Error(outage.Status, outage.Code);
        }

        if (!ValidBasic(recorded.Authorization))
        {
            return Error(401, "unauthorized");
        }

        if (string.IsNullOrEmpty(recorded.NotionVersion))
        {
            return Error(400, "missing_version");
        }

        if (!recorded.ContentType.StartsWith("application/json", StringComparison.Ordinal) || recorded.Json is not { } body)
        {
            return Error(400, "invalid_json");
        }

        switch (Member(body, "grant_type"))
        {
            case "authorization_code":
                if (Member(body, "code") is not { } code || !_codes.TryRemove(code, out var grant) || Member(body, "redirect_uri") != grant.Redirect)
                {
                    return Error(400, "invalid_grant");
                }

                return Results.Json(Issue(grant.Owner));
            case "refresh_token":
                // The refresh token is spent: each refresh answers a new pair (rotation).
                if (Member(body, "refresh_token") is not { } refresh || !_refreshTokens.TryRemove(refresh, out var owner))
                {
                    return Error(400, "invalid_grant");
                }

                return Results.Json(Issue(owner));
            default:
                return Error(400, "validation_error");
        }
    }

    private async Task<IResult> RevokeAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        RevokeRequests.Enqueue(recorded);
        if (!ValidBasic(recorded.Authorization) || recorded.Json is not { } body || Member(body, "token") is not { } token)
        {
            return Error(400, "invalid_request");
        }

        _accessTokens.TryRemove(token, out _);
        return Results.Json(new { request_id = Guid.NewGuid() });
    }

    private IResult Me(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || !_accessTokens.TryGetValue(authorization["Bearer ".Length..], out var owner))
        {
            return Error(401, "unauthorized");
        }

        if (string.IsNullOrEmpty(request.Headers["Notion-Version"]))
        {
            return Error(400, "missing_version");
        }

        return Results.Json(new
        {
            @object = "user",
            id = "16d84278-ab0e-484c-9bdd-b35da3bd8905",
            name = "valet test connection",
            avatar_url = (string?)null,
            type = "bot",
            bot = new
            {
                owner = new
                {
                    type = "user",
                    user = new { @object = "user", id = owner, name = "Christine Makenotion", avatar_url = (string?)null, type = "person", person = new { email = "christine@example.com" } },
                },
                workspace_name = "Acme",
            },
        });
    }

    private object Issue(string owner)
    {
        var n = Interlocked.Increment(ref _issued);
        LastAccessToken = $"ntn_access_{n}_{Guid.NewGuid():N}";
        LastRefreshToken = $"nrt_refresh_{n}_{Guid.NewGuid():N}";
        _accessTokens[LastAccessToken] = owner;
        _refreshTokens[LastRefreshToken] = owner;
        return new
        {
            access_token = LastAccessToken,
            token_type = "bearer",
            refresh_token = LastRefreshToken,
            bot_id = "16d84278-ab0e-484c-9bdd-b35da3bd8905",
            workspace_icon = (string?)null,
            workspace_name = "Acme",
            workspace_id = "3c90c3cc-0d44-4b50-8888-8dd25736052a",
            owner = new { type = "user", user = new { @object = "user", id = owner, name = "Christine Makenotion", type = "person", person = new { email = "christine@example.com" } } },
            duplicated_template_id = (string?)null,
            request_id = Guid.NewGuid(),
        };
    }

    /// <summary>"Basic authentication header of the form Basic &lt;encoded-value&gt;, … the base64-encoded string username:password".</summary>
    private static bool ValidBasic(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Basic ", StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..])) == $"{ClientId}:{ClientSecret}";
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private static IResult Error(int status, string code) =>
        Results.Json(new { @object = "error", status, code, message = "fake " + code }, statusCode: status);

    private static string? Member(JsonElement body, string name) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
