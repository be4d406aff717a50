using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using static Valet.Tests.OAuth.OAuthTestData;

namespace Valet.Tests.OAuth;

/// <summary>
/// SPEC §7, no SSRF, for Valet's own OAuth calls: the validator judges an endpoint by its name, the OAuth handler by
/// where the name leads when it connects (as the proxy does). A provider without <c>AllowPrivateNetwork</c> reaches no
/// private address, and no provider reaches a forbidden one; the client secret and the code never leave.
/// </summary>
public sealed class AddressCheckTests
{
    [Fact]
    public async Task ProviderWithoutAllowPrivateNetwork_CannotReachAPrivateAddress_AndSendsNothing()
    {
        var received = 0;
        await using var fake = await FakeProvider.StartAsync(app => app.MapPost("/token", () =>
        {
            Interlocked.Increment(ref received);
            return Results.Json(new { access_token = "a", token_type = "Bearer" });
        }));

        var closed = At("github", fake) with { AllowPrivateNetwork = false };
        var refused = await NewClient().ExchangeCodeAsync(closed, Client(), "the-code", "http://127.0.0.1/cb", "the-verifier", default);
        Assert.False(refused.IsSuccess);
        Assert.Equal(TokenErrorKind.Transient, refused.Error!.Kind);
        Assert.Equal(0, received);

        // The same provider allowed private space reaches it: the check is the policy, not the fake.
        var open = await NewClient().ExchangeCodeAsync(At("github", fake), Client(), "the-code", "http://127.0.0.1/cb", "the-verifier", default);
        Assert.True(open.IsSuccess, open.Error?.Code);
        Assert.Equal(1, received);
    }

    [Fact]
    public async Task Handler_RefusesAForbiddenAddressEvenWhenPrivateIsAllowed_AndAnUnmarkedRequestIsPublicOnly()
    {
        using var http = OAuthHttp.CreateStandaloneClient();

        using var metadata = new HttpRequestMessage(HttpMethod.Get, "http://169.254.169.254/latest/meta-data/").For(allowPrivateNetwork: true);
        var forbidden = await Assert.ThrowsAsync<HttpRequestException>(() => http.SendAsync(metadata));
        var reason = Assert.IsType<AddressRefusedException>(forbidden.InnerException);
        Assert.Equal(AddressClass.Forbidden, reason.AddressClass);

        using var unmarked = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:9/");
        var privateRefused = await Assert.ThrowsAsync<HttpRequestException>(() => http.SendAsync(unmarked));
        Assert.Equal(AddressClass.Private, Assert.IsType<AddressRefusedException>(privateRefused.InnerException).AddressClass);
        Assert.Contains("AllowPrivateNetwork", privateRefused.InnerException!.Message, StringComparison.Ordinal);
    }
}
