extern alias sdk;

using System.Net;
using System.Text;
using sdk::Valet.Client;

namespace Valet.Tests.ClientSdk;

/// <summary>
/// An answer without the lists the SDK's types promise (a server of another version, a proxy's own JSON in between): the
/// lists are empty, never null behind a non-nullable type (System.Text.Json's generated code sets a missing init-only member
/// to null, over its initializer).
/// </summary>
public sealed class SparseAnswerTests
{
    [Fact]
    public async Task ABootstrapWithoutItsLists_GivesEmptyLists()
    {
        using var http = new HttpClient(new Answering("{\"org\":\"default\",\"needs\":[{\"code\":\"missing_scopes\",\"provider\":\"github\"}]}"))
        {
            BaseAddress = new Uri("http://127.0.0.1:9/"),
        };
        using var valet = new ValetClient(http);

        var bootstrap = await valet.GetBootstrapAsync();

        Assert.Empty(bootstrap.Connections);
        Assert.Empty(bootstrap.Targets);
        var need = Assert.Single(bootstrap.Needs);
        Assert.Empty(need.RequiredScopes);
        Assert.Empty(need.MissingScopes);
    }

    private sealed class Answering(string json) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") });
    }
}
