using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// A GitHub Enterprise Server instance at its own host, written from GitHub's documentation:
/// <list type="bullet">
/// <item>"Authorizing OAuth apps" for Enterprise Server (https://docs.github.com/en/enterprise-server@latest/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps):
/// <c>GET http(s)://HOSTNAME/login/oauth/authorize</c> (client_id, redirect_uri, scope, state) redirects back with code and
/// state; <c>POST http(s)://HOSTNAME/login/oauth/access_token</c> (client_id, client_secret, code, redirect_uri) answers
/// <c>access_token=…&amp;scope=…&amp;token_type=bearer</c>, or JSON with <c>Accept: application/json</c>; a bad code is
/// HTTP 200 with <c>error=bad_verification_code</c>; OAuth app tokens carry no expiry;</item>
/// <item>"Endpoint URLs" (https://docs.github.com/en/enterprise-server@latest/rest/enterprise-admin): REST endpoints are
/// prefixed with <c>http(s)://HOSTNAME/api/v3</c>, and every answer carries <c>X-GitHub-Enterprise-Version</c>;</item>
/// <item>"Get the authenticated user": <c>GET /user</c> → login, id, email; a bad token is 401 <c>{"message":"Bad credentials"}</c>.</item>
/// </list>
/// </summary>
internal sealed class GitHubEnterpriseFake : IAsyncDisposable
{
    public const string ClientId = "Iv1.8a61f9b3a7aba766";
    public const string ClientSecret = "1f1ed1a1e2d0bd9e3c4f5a6b7c8d9e0f1a2b3c4d";

    private readonly ConcurrentDictionary<string, (string Redirect, string Login)> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _tokens = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private int _users;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>API calls received: path and query as sent, the bearer token, and the API version header.</summary>
    public ConcurrentQueue<(string Path, string? Bearer, string? ApiVersion)> ApiCalls { get; } = new();

    public string? LastLogin { get; private set; }

    public static async Task<GitHubEnterpriseFake> StartAsync()
    {
        var fake = new GitHubEnterpriseFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/login/oauth/authorize", fake.Authorize);
            app.MapPost("/login/oauth/access_token", fake.AccessTokenAsync);
            app.Map("/api/v3/{**rest}", fake.Api);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    private IResult Authorize(HttpRequest request)
    {
        if (request.Query["client_id"] != ClientId || !Uri.TryCreate(request.Query["redirect_uri"], UriKind.Absolute, out var redirect))
        {
            return Results.BadRequest();
        }

        LastLogin = "octocat" + Interlocked.Increment(ref _users);
        var code = Guid.NewGuid().ToString("N")[..20];
        _codes[code] = (redirect.AbsoluteUri, LastLogin);
        return Results.Redirect($"{redirect.AbsoluteUri}?code={code}&state={Uri.EscapeDataString(request.Query["state"].ToString())}");
    }

    private async Task<IResult> AccessTokenAsync(HttpRequest request)
    {
        var form = await request.ReadFormAsync();
        var json = request.Headers.Accept.ToString().Contains("application/json", StringComparison.Ordinal);
        if (form["client_id"] != ClientId || form["client_secret"] != ClientSecret)
        {
            return Answer(json, ("error", "incorrect_client_credentials"));
        }

        if (!_codes.TryRemove(form["code"].ToString(), out var grant) || form["redirect_uri"] != grant.Redirect)
        {
            return Answer(json, ("error", "bad_verification_code"));
        }

        var token = "gho_" + Guid.NewGuid().ToString("N");
        _tokens[token] = grant.Login;
        return Answer(json, ("access_token", token), ("scope", "repo,read:user,user:email"), ("token_type", "bearer"));
    }

    private IResult Api(HttpContext context)
    {
        var request = context.Request;
        context.Response.Headers["X-GitHub-Enterprise-Version"] = "enterprise-server@3.17.0";
        var authorization = request.Headers.Authorization.ToString();
        var bearer = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : null;
        ApiCalls.Enqueue((request.Path + request.QueryString, bearer, request.Headers["X-GitHub-Api-Version"].FirstOrDefault()));
        if (bearer is null || !_tokens.TryGetValue(bearer, out var login))
        {
            return Results.Json(new { message = "Bad credentials", documentation_url = "https://docs.github.com/enterprise-server@3.17/rest" }, statusCode: 401);
        }

        return request.Path.Value == "/api/v3/user"
            ? Results.Json(new { login, id = 1000 + login.Length, email = login + "@ghe.example" })
            : Results.Json(new { path = request.Path.Value });
    }

    /// <summary>GitHub's token endpoint answers 200 either way; form-encoded unless asked for JSON.</summary>
    private static IResult Answer(bool json, params (string Key, string Value)[] members) => json
        ? Results.Json(members.ToDictionary(m => m.Key, m => m.Value))
        : Results.Text(string.Join('&', members.Select(m => $"{m.Key}={Uri.EscapeDataString(m.Value)}")), "application/x-www-form-urlencoded");

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
