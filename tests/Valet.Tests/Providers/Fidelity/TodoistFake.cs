using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// Todoist's OAuth and the one API call Valet makes, written from Doist's own client libraries and documentation (not from
/// Valet's catalog). Each behaviour names its source:
/// <list type="bullet">
/// <item>authorize: https://doist.github.io/todoist-api-python/authentication and Doist's todoist-api-python
/// (authentication.py, <c>get_authentication_url</c>): client_id, scope — the scopes joined with "," — and state; at least
/// one scope;</item>
/// <item>token: the same file's <c>get_auth_token</c>: POST the form <c>client_id</c>, <c>client_secret</c>, <c>code</c>;
/// https://doist.github.io/todoist-api-typescript/api/type-aliases/AuthTokenResponse: the answer is an access token and a
/// token type, nothing else — no refresh token and no <c>expires_in</c>: the token lives until the person removes the app;</item>
/// <item>identity: GET /api/v1/user → id, full_name, email (from memory, not checked here); a token that was revoked
/// answers 401.</item>
/// </list>
/// </summary>
internal sealed class TodoistFake : IAsyncDisposable
{
    public const string ClientId = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    public const string ClientSecret = "f9e8d7c6b5a4938271605f4e3d2c1b0a";

    private readonly ConcurrentDictionary<string, string> _codes = new(StringComparer.Ordinal); // code → user
    private readonly ConcurrentDictionary<string, string> _accessTokens = new(StringComparer.Ordinal); // token → user
    private readonly ConcurrentDictionary<string, string> _latest = new(StringComparer.Ordinal); // user → token
    private WebApplication _app = null!;
    private long _users = 2_671_355;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<RecordedRequest> TokenRequests { get; } = new();

    public ConcurrentQueue<Dictionary<string, string>> AuthorizeRequests { get; } = new();

    /// <summary>When set, the token endpoint answers this status instead (an outage).</summary>
    public int? TokenOutage { get; set; }

    /// <summary>When set, the REST API answers this status instead (an outage).</summary>
    public int? ApiOutage { get; set; }

    public string? LastUser { get; private set; }

    /// <summary>The token issued to this person.</summary>
    public string TokenOf(string user) => _latest[user];

    public static async Task<TodoistFake> StartAsync()
    {
        var fake = new TodoistFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/oauth/authorize", fake.Authorize);
            app.MapPost("/oauth/access_token", fake.TokenAsync);
            app.MapGet("/api/v1/user", fake.User);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    /// <summary>The person removed the app from their Todoist settings: their token stops working.</summary>
    public void RevokeGrant(string user) => _accessTokens.TryRemove(_latest[user], out _);

    private IResult Authorize(HttpRequest request)
    {
        var query = request.Query.ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
        AuthorizeRequests.Enqueue(query);
        if (query.GetValueOrDefault("client_id") != ClientId || string.IsNullOrWhiteSpace(query.GetValueOrDefault("scope"))
            || string.IsNullOrEmpty(query.GetValueOrDefault("state")) || !Uri.TryCreate(query.GetValueOrDefault("redirect_uri"), UriKind.Absolute, out var redirect))
        {
            return Results.BadRequest();
        }

        var code = Guid.NewGuid().ToString("N");
        LastUser = Interlocked.Increment(ref _users).ToString(System.Globalization.CultureInfo.InvariantCulture);
        _codes[code] = LastUser;
        return Results.Redirect($"{redirect.AbsoluteUri}?code={code}&state={Uri.EscapeDataString(query["state"])}");
    }

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        TokenRequests.Enqueue(recorded);
        if (TokenOutage is { } status)
        {
            return Results.StatusCode(status);
        }

        var form = recorded.Form;
        if (form.GetValueOrDefault("client_id") != ClientId || form.GetValueOrDefault("client_secret") != ClientSecret)
        {
            return Results.Json(new { error = "invalid_client" }, statusCode: 400);
        }

        if (form.GetValueOrDefault("code") is not { } code || !_codes.TryRemove(code, out var user))
        {
            return Results.Json(new { error = "bad_authorization_code" }, statusCode: 400);
        }

        var token = Guid.NewGuid().ToString("N") + Guid.NewGuid().ToString("N")[..8];
        _accessTokens[token] = user;
        _latest[user] = token;
        return Results.Json(new { access_token = token, token_type = "Bearer" });
    }

    private IResult User(HttpRequest request)
    {
        if (ApiOutage is { } status)
        {
            return Results.StatusCode(status);
        }

        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || !_accessTokens.TryGetValue(authorization["Bearer ".Length..], out var user))
        {
            return Results.Text("Unauthorized", statusCode: 401);
        }

        return Results.Json(new { id = user, full_name = "Grace Hopper", email = "grace@example.com", tz_info = new { timezone = "UTC" } });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
