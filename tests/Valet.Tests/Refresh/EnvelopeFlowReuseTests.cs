using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// Envelopes do not write per call: every envelope for the same (org, provider, credential, scopes) points at one flow,
/// however many agents ask and by whatever route; and an org's pending flows are capped (429).
/// </summary>
[Collection("idp")]
public sealed class EnvelopeFlowReuseTests(IdpFixture idp) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _server = await ValetTestServer.StartAsync(new Dictionary<string, string?>(idp.ProviderSettings()) { ["Flows:MaxPendingPerOrg"] = "5" });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task AThousandCallsNeedingAPerson_ByBootstrapTokenAndProxy_MintOneFlow()
    {
        using var admin = _server.Client();
        var credentialId = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "default");
        var connectionId = await EnvelopeMatrixTests.ImportAsync(admin, "default", credentialId, "storm-user", scopes: ["read"],
            refreshToken: "not-a-real-refresh-token", expiresAt: DateTimeOffset.UtcNow.AddMinutes(-5));
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = _server.Client(key);
        var flowsBefore = await RefreshKit.FlowCountAsync(_server);
        var first = await RefreshKit.TokenAsync(agent, connectionId); // the refresh fails for good: the first envelope
        RefreshKit.AssertEnvelope(first, "reauth_required");

        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, 1000).Select(async i =>
        {
            await go.Task;
            using var response = (i % 3) switch
            {
                0 => await agent.GetAsync("/v1/bootstrap"),
                1 => await agent.PostAsync("/v1/providers/idp/token", null),
                _ => await agent.GetAsync($"/v1/proxy/{connectionId}/me"),
            };
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            return (response.StatusCode, FlowId: FlowIdOf(body));
        }).ToList();
        go.SetResult();
        var answers = await Task.WhenAll(calls);

        Assert.All(answers, a => Assert.NotNull(a.FlowId));
        Assert.All(answers.Where((_, i) => i % 3 != 0), a => Assert.Equal(HttpStatusCode.Conflict, a.StatusCode));
        var flowId = Assert.Single(answers.Select(a => a.FlowId).Distinct());
        Assert.Equal(first.Body.GetProperty("flow_id").GetString(), flowId);
        Assert.Equal(flowsBefore + 1, await RefreshKit.FlowCountAsync(_server));
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}");
        Assert.Equal("pending", flow.GetProperty("status").GetString());

        // The agent itself may wait on the flow its envelope names (its own org's flows only).
        var byAgent = await agent.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}/wait?timeout=0");
        Assert.Equal("pending", byAgent.GetProperty("status").GetString());
    }

    [Fact]
    public async Task PendingFlows_PerOrg_AreCapped_With429AndRetryAfter()
    {
        using var admin = _server.Client();
        for (var i = 0; i < 5; i++)
        {
            var started = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp" });
            Assert.True(started.IsSuccessStatusCode, started.StatusCode.ToString());
        }

        var refused = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp" });
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        Assert.Equal("too_many_pending_flows", problem.GetProperty("code").GetString());
        Assert.True(refused.Headers.RetryAfter?.Delta > TimeSpan.Zero);
    }

    /// <summary>The flow of a 409 envelope, or of the bootstrap's one envelope.</summary>
    private static string? FlowIdOf(JsonElement body)
    {
        if (body.TryGetProperty("flow_id", out var direct))
        {
            return direct.GetString();
        }

        foreach (var connection in body.TryGetProperty("connections", out var list) ? list.EnumerateArray() : default)
        {
            if (connection.TryGetProperty("envelope", out var envelope) && envelope.TryGetProperty("flow_id", out var id))
            {
                return id.GetString();
            }
        }

        return null;
    }
}
