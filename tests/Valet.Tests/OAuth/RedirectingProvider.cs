using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Valet.Core.Providers;

namespace Valet.Tests.OAuth;

/// <summary>
/// Two local Kestrel servers: a provider whose every endpoint answers a redirect (the status is the first path segment:
/// <c>/307/token</c>), and a second port the redirects point to, which records every request it receives and answers
/// like a willing provider (tokens, an identity, metadata) — so a client that followed would "succeed" with its answers.
/// </summary>
internal sealed class RedirectingProvider : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _received;

    private RedirectingProvider(FakeProvider redirector, FakeProvider recorder, ConcurrentQueue<string> received)
    {
        Redirector = redirector;
        Recorder = recorder;
        _received = received;
    }

    public FakeProvider Redirector { get; }

    public FakeProvider Recorder { get; }

    /// <summary>Every request the second port received, as "METHOD /path?query": empty when nothing went there.</summary>
    public IReadOnlyCollection<string> Received => _received.ToArray();

    public static async Task<RedirectingProvider> StartAsync()
    {
        var received = new ConcurrentQueue<string>();
        var recorder = await FakeProvider.StartAsync(app => app.Run(async context =>
        {
            received.Enqueue($"{context.Request.Method} {context.Request.Path}{context.Request.QueryString}");
            var issuer = $"{context.Request.Scheme}://{context.Request.Host}";
            await context.Response.WriteAsJsonAsync(new
            {
                access_token = "attacker-access-token",
                refresh_token = "attacker-refresh-token",
                token_type = "Bearer",
                expires_in = 3600,
                id = "attacker",
                sub = "attacker",
                login = "attacker",
                issuer,
                authorization_endpoint = issuer + "/authorize",
                token_endpoint = issuer + "/token",
            });
        }));
        var target = recorder.BaseUri.AbsoluteUri.TrimEnd('/');
        var redirector = await FakeProvider.StartAsync(app => app.Run(context =>
        {
            var segments = context.Request.Path.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var status = segments.Select(s => int.TryParse(s, out var n) ? n : 0).FirstOrDefault(n => n is >= 300 and < 400);
            context.Response.StatusCode = status == 0 ? StatusCodes.Status404NotFound : status;
            context.Response.Headers.Location = target + context.Request.Path + context.Request.QueryString;
            return Task.CompletedTask;
        }));
        return new RedirectingProvider(redirector, recorder, received);
    }

    /// <summary>Forgets what was received (a fixture shared by a test class: each test looks at its own requests only).</summary>
    public void ClearReceived() => _received.Clear();

    public Uri Endpoint(int status, string name) => Redirector.Url($"{status}/{name}");

    /// <summary>GitHub's definition (client_secret_post: the secret is in the body a 307 would resend), endpoints redirecting with <paramref name="status"/>.</summary>
    public ProviderDefinition Provider(int status) => BuiltInProviders.Find("github")! with
    {
        AuthorizationEndpoint = Endpoint(status, "authorize"),
        TokenEndpoint = Endpoint(status, "token"),
        RevocationEndpoint = Endpoint(status, "revoke"),
        UserInfoEndpoint = Endpoint(status, "userinfo"),
        AllowPrivateNetwork = true,
    };

    /// <summary>Server configuration for an operator provider <paramref name="id"/> whose endpoints redirect with <paramref name="status"/>.</summary>
    public Dictionary<string, string?> Settings(string id, int status) => new()
    {
        [$"Providers:{id}:AuthorizationEndpoint"] = Endpoint(status, "authorize").AbsoluteUri,
        [$"Providers:{id}:TokenEndpoint"] = Endpoint(status, "token").AbsoluteUri,
        [$"Providers:{id}:RevocationEndpoint"] = Endpoint(status, "revoke").AbsoluteUri,
        [$"Providers:{id}:UserInfoEndpoint"] = Endpoint(status, "userinfo").AbsoluteUri,
        [$"Providers:{id}:ApiBaseUrl"] = Redirector.Url("api").AbsoluteUri,
        [$"Providers:{id}:ClientId"] = "client-" + id,
        [$"Providers:{id}:ClientSecret"] = "secret-" + id,
        [$"Providers:{id}:TokenEndpointAuthMethod"] = "client_secret_post",
        [$"Providers:{id}:Scopes"] = "read",
        [$"Providers:{id}:AllowPrivateNetwork"] = "true",
    };

    public async ValueTask DisposeAsync()
    {
        await Redirector.DisposeAsync();
        await Recorder.DisposeAsync();
    }
}
