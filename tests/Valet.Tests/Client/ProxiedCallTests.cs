extern alias sdk;

using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using sdk::Valet.Client;

namespace Valet.Tests.ClientSdk;

/// <summary>
/// <see cref="ValetClient.SendAsync"/> against the real server and an upstream: a path cannot leave the proxy route, and
/// only Valet's own problems are thrown — never one the upstream wrote.
/// </summary>
[Collection(SdkCollection.Name)]
public sealed class ProxiedCallTests(SdkHarness harness)
{
    [Theory]
    [InlineData("../../connections/{id}/token")]
    [InlineData("%2e%2e/%2E%2E/connections/{id}/token")]
    [InlineData(".%2e/%2e./connections/{id}/token")]
    [InlineData("..\\..\\connections\\{id}\\token")]
    [InlineData("things/../../../connections/{id}/token")]
    [InlineData("..%2f..%2fconnections/{id}/token")]
    [InlineData("things/./more")]
    public async Task SendAsync_RefusesDotSegments_SoAProxiedCallCannotBecomeARequestToValet(string template)
    {
        var id = await harness.ImportAsync("valid-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = id });
        using var valet = new ValetClient(harness.BaseUrl, key);
        var seen = harness.Seen.Count;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(template.Replace("{id}", id, StringComparison.Ordinal), UriKind.Relative));

        var refused = await Assert.ThrowsAsync<ArgumentException>(() => valet.SendAsync(ValetRoute.Connection(id), request));

        Assert.Equal("request", refused.ParamName);
        Assert.Equal(seen, harness.Seen.Count);
    }

    [Fact]
    public async Task SendAsync_GivesBackAProvidersRedirect_AsItsAnswer_WithoutFollowingIt()
    {
        var id = await harness.ImportAsync("valid-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = id });
        using var valet = new ValetClient(harness.BaseUrl, key);
        var run = Guid.NewGuid().ToString("N");
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"repos/{run}/moved", UriKind.Relative));

        using var response = await valet.SendAsync(ValetRoute.Connection(id), request);

        // Followed, it became a request to Valet's own host without the key (a 401 that looks like a bad API key).
        Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
        Assert.DoesNotContain(harness.Seen, s => s.RawTarget.Contains($"{run}/new-home", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SendAsync_AHeadThatValetRefused_IsThrown_LikeAnyOtherOfItsProblems_NotPassedOffAsTheProvidersAnswer()
    {
        var id = await harness.ImportAsync("valid-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = id });
        using var valet = new ValetClient(harness.BaseUrl, key);

        // Valet's 404 for an unknown connection: on HEAD its problem+json has no body to read.
        using var head = new HttpRequestMessage(HttpMethod.Head, new Uri("user", UriKind.Relative));
        var refused = await Assert.ThrowsAsync<ValetApiException>(() => valet.SendAsync(ValetRoute.Connection("conn_nope"), head));
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);

        // The provider's own answer to a HEAD (here the echo API's 200) is still the answer.
        using var ok = new HttpRequestMessage(HttpMethod.Head, new Uri("user", UriKind.Relative));
        using var response = await valet.SendAsync(ValetRoute.Connection(id), ok);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task SendAsync_RefusesARouteId_ThatWouldLeaveTheProxyRoute()
    {
        var id = await harness.ImportAsync("valid-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = id });
        using var valet = new ValetClient(harness.BaseUrl, key);

        // "v1/proxy/../bootstrap" would be GET /v1/bootstrap: the path has no dot segment, the route id is one.
        await Assert.ThrowsAsync<ArgumentException>(() => valet.GetAsync(ValetRoute.Connection(".."), "bootstrap"));
    }

    [Fact]
    public async Task SendAsync_KeepsOrdinaryPaths_WithDotsInNamesAndInTheQuery()
    {
        var id = await harness.ImportAsync("valid-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = id });
        using var valet = new ValetClient(harness.BaseUrl, key);
        var run = Guid.NewGuid().ToString("N");

        using var response = await valet.GetAsync(ValetRoute.Connection(id), $"{run}/.well-known/report..final.txt/.../x?next=../..&dir=./");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal($"/api/{run}/.well-known/report..final.txt/.../x?next=../..&dir=./", Assert.Single(harness.SeenUnder($"/api/{run}")).RawTarget);
    }

    [Fact]
    public async Task SendAsync_UnderABaseAddressWithAPath_LandsUnderTheRoute_AndRefusesWhatWouldNot()
    {
        var stub = new StubValet(_ => new HttpResponseMessage(HttpStatusCode.OK));
        using var http = new HttpClient(stub) { BaseAddress = new Uri("http://valet.test/prefix/") };
        using var valet = new ValetClient(http);

        using (var ok = await valet.GetAsync(ValetRoute.Target("mail box"), "v1/x?y=1"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        await Assert.ThrowsAsync<ArgumentException>(() => valet.GetAsync(ValetRoute.Connection(".."), "x"));
        await Assert.ThrowsAsync<ArgumentException>(() => valet.GetAsync(ValetRoute.Connection("c1"), "a/../../../x"));
        Assert.Equal("http://valet.test/prefix/v1/targets/mail%20box/v1/x?y=1", Assert.Single(stub.Seen).AbsoluteUri);
    }

    /// <summary>Needs the server to mark relayed answers with <c>Valet-Upstream</c> (the proxy's side of this rule).</summary>
    [Fact]
    public async Task AnUpstreamsForgedValetEnvelope_ComesBackAsItsResponse_WhileValetsOwnProblemsAreStillThrown()
    {
        var id = await harness.ImportAsync("valid-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = id });
        using var valet = new ValetClient(harness.BaseUrl, key);

        using var forged = await valet.GetAsync(ValetRoute.Connection(id), "forged-reauth");

        Assert.Equal(HttpStatusCode.Conflict, forged.StatusCode);
        Assert.True(forged.Headers.Contains(ValetClient.UpstreamHeader));
        var body = await forged.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(SdkHarness.ForgedConnectUrl, body.GetProperty("connect_url").GetString());

        var own = await Assert.ThrowsAsync<ValetApiException>(() => valet.GetAsync(ValetRoute.Connection("no-such-connection"), "x"));
        Assert.NotNull(own.Code);
    }

    [Fact]
    public async Task SendAsync_ThrowsAValetProblem_OnlyWhenTheAnswerIsNotMarkedAsTheUpstreams()
    {
        var stub = new StubValet(request =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.Conflict)
            {
                Content = new StringContent(
                    """{"type":"urn:valet:problem:reauth_required","status":409,"code":"reauth_required","provider":"up","connect_url":"https://attacker.example/connect","flow_id":"flow_x"}""",
                    Encoding.UTF8, "application/problem+json"),
            };
            if (request.RequestUri!.AbsolutePath.EndsWith("/marked", StringComparison.Ordinal))
            {
                response.Headers.Add(ValetClient.UpstreamHeader, "1");
            }

            return response;
        });
        using var http = new HttpClient(stub) { BaseAddress = new Uri("http://valet.test/") };
        using var valet = new ValetClient(http);

        using var marked = await valet.GetAsync(ValetRoute.Connection("c1"), "marked");
        var envelope = await Assert.ThrowsAsync<ValetReauthRequiredException>(() => valet.GetAsync(ValetRoute.Connection("c1"), "unmarked"));

        Assert.Equal(HttpStatusCode.Conflict, marked.StatusCode);
        Assert.Contains("attacker.example", await marked.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("up", envelope.Provider);
        Assert.Equal("Valet-Upstream", ValetClient.UpstreamHeader);
    }

    /// <summary>Answers every request itself, as Valet would, and keeps the URLs it was sent.</summary>
    private sealed class StubValet(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        public List<Uri> Seen { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Seen.Add(request.RequestUri!);
            return Task.FromResult(answer(request));
        }
    }
}
