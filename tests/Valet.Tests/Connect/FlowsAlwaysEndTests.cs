using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>Once its state is consumed a flow ends — complete, error or expired — whatever the browser or the provider does.</summary>
public sealed class FlowsAlwaysEndTests : IAsyncLifetime
{
    private HangingProvider _provider = null!;
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        _provider = await HangingProvider.StartAsync();
        var settings = _provider.ProviderSettings("slow");
        settings["Flows:Lifetime"] = "00:00:04";
        settings["Flows:ExchangeTimeout"] = "00:00:02";
        _server = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _provider.DisposeAsync();
    }

    [Fact]
    public async Task BrowserClosedDuringAHangingCodeExchange_TheFlowStillEnds()
    {
        var (flowId, state) = await StartFlowAsync();

        // The person closes the tab while the token endpoint hangs: the callback request is aborted.
        using (var browser = new HttpClient { BaseAddress = _server.BaseUrl })
        using (var closeTab = new CancellationTokenSource())
        {
            var callback = browser.GetAsync($"/oauth/callback?code=abc&state={Uri.EscapeDataString(state)}", closeTab.Token);
            await _provider.TokenRequested.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await closeTab.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => callback);
        }

        var flow = await WaitUntilSettledAsync(flowId, TimeSpan.FromSeconds(10));
        Assert.Equal("error", flow.GetProperty("status").GetString());
        Assert.Equal("provider_unavailable", flow.GetProperty("error").GetString());
    }

    [Fact]
    public async Task ExceptionInsideTheExchange_EndsTheFlowInError()
    {
        var services = _server.Services;
        var engine = ActivatorUtilities.CreateInstance<FlowEngine>(services, new ThrowingOAuthClient(services.GetRequiredService<IOAuthClient>()));
        var started = await engine.StartAsync(new StartFlowRequest
        {
            OrgId = Org.DefaultId,
            Provider = "slow",
            RedirectUri = new Uri(_server.BaseUrl, "/oauth/callback").AbsoluteUri,
        }, CancellationToken.None);

        var outcome = await engine.CompleteAsync(new CallbackParameters("abc", started.State, null, null), CancellationToken.None);

        Assert.False(outcome.Success);
        Assert.Equal("exchange_failed", outcome.Error);
        var stored = await services.GetRequiredService<IFlowStore>().FindAsync(started.Flow!.Id, DateTimeOffset.UtcNow, CancellationToken.None);
        Assert.Equal((FlowStatus.Error, "exchange_failed"), (stored!.Status, stored.Error));
        Assert.DoesNotContain(_server.Logs.Lines, line => line.Contains("boom-secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Wait_OnAFlowLeftExchangingByACrashedNode_AnswersExpiredByItsExpiry()
    {
        var (flowId, state) = await StartFlowAsync();
        var flows = _server.Services.GetRequiredService<IFlowStore>();
        // Another node consumed the state and died before finishing: nothing will complete or fail this flow.
        var now = DateTimeOffset.UtcNow;
        var consumed = await flows.TryConsumeAsync(Ids.Sha256Hex(state), now, now.AddSeconds(2), CancellationToken.None);
        Assert.NotNull(consumed);

        using var admin = _server.Client();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}/wait?timeout=60");

        Assert.Equal("expired", flow.GetProperty("status").GetString());
        Assert.True(waited.Elapsed < TimeSpan.FromSeconds(8), $"answered after {waited.Elapsed}, the flow's lifetime is 4 s");
        Assert.Equal("expired", (await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}")).GetProperty("status").GetString());
    }

    private async Task<(string FlowId, string State)> StartFlowAsync()
    {
        using var admin = _server.Client();
        using var response = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "slow" });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var url = new Uri(body.GetProperty("authorize_url").GetString()!);
        return (body.GetProperty("flow_id").GetString()!, QueryHelpers.ParseQuery(url.Query)["state"].ToString());
    }

    private async Task<JsonElement> WaitUntilSettledAsync(string flowId, TimeSpan within)
    {
        using var admin = _server.Client();
        var deadline = DateTimeOffset.UtcNow + within;
        JsonElement flow;
        do
        {
            await Task.Delay(200);
            flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}");
        }
        while (flow.GetProperty("status").GetString() == "pending" && DateTimeOffset.UtcNow < deadline);

        return flow;
    }

    /// <summary>A real OAuth client whose code exchange throws, as a bug after the state is consumed would.</summary>
    private sealed class ThrowingOAuthClient(IOAuthClient inner) : IOAuthClient
    {
        public Uri BuildAuthorizationUrl(ProviderDefinition provider, AuthorizationRequest request) => inner.BuildAuthorizationUrl(provider, request);

        public Task<TokenResult> ExchangeCodeAsync(ProviderDefinition provider, ClientCredentials client, string code, string redirectUri,
            string codeVerifier, CancellationToken cancellationToken) => throw new InvalidOperationException("boom-secret");

        public Task<TokenResult> RefreshAsync(ProviderDefinition provider, ClientCredentials client, string refreshToken, CancellationToken cancellationToken) =>
            inner.RefreshAsync(provider, client, refreshToken, cancellationToken);

        public Task<TokenResult> ClientCredentialsAsync(ProviderDefinition provider, ClientCredentials client, IReadOnlyList<string> scopes,
            CancellationToken cancellationToken) => inner.ClientCredentialsAsync(provider, client, scopes, cancellationToken);

        public Task<bool> RevokeAsync(ProviderDefinition provider, ClientCredentials client, string token, string tokenTypeHint,
            CancellationToken cancellationToken) => inner.RevokeAsync(provider, client, token, tokenTypeHint, cancellationToken);

        public Task<AccountIdentity?> GetIdentityAsync(ProviderDefinition provider, TokenSet tokens, CancellationToken cancellationToken) =>
            inner.GetIdentityAsync(provider, tokens, cancellationToken);
    }
}

/// <summary>A provider whose token endpoint never answers (until the caller gives up).</summary>
public sealed class HangingProvider : IAsyncDisposable
{
    private readonly WebApplication _app;

    private HangingProvider(WebApplication app)
    {
        _app = app;
        BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public string BaseUrl { get; }

    public TaskCompletionSource TokenRequested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<HangingProvider> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        HangingProvider? self = null;
        app.MapPost("/token", async (HttpContext context) =>
        {
            self!.TokenRequested.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
        });
        await app.StartAsync();
        self = new HangingProvider(app);
        return self;
    }

    public Dictionary<string, string?> ProviderSettings(string id) => new()
    {
        [$"Providers:{id}:AuthorizationEndpoint"] = BaseUrl + "/authorize",
        [$"Providers:{id}:TokenEndpoint"] = BaseUrl + "/token",
        [$"Providers:{id}:UserInfoEndpoint"] = BaseUrl + "/userinfo",
        [$"Providers:{id}:Scopes"] = "read",
        [$"Providers:{id}:AllowPrivateNetwork"] = "true",
        [$"Providers:{id}:ClientId"] = "slow-client",
        [$"Providers:{id}:ClientSecret"] = "slow-secret",
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(2)).Token);
        await _app.DisposeAsync();
    }
}
