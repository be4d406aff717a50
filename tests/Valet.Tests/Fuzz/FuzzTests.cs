using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Valet.Tests.Infrastructure;
using Valet.Tests.Proxy;
using Xunit.Abstractions;

namespace Valet.Tests.Fuzz;

/// <summary>
/// Bounded, seeded property test against the real server: generated and mutated inputs at the OAuth callback, import,
/// keys and permissions, connect, flows, sign-in and the proxy path. The property: never a 5xx (a proxy's 502/504 only
/// as <c>provider_unavailable</c>), never a stack trace in an answer, never an unhandled-error log line.
/// <c>VALET_FUZZ_ITERATIONS</c> (per surface, default 150) and <c>VALET_FUZZ_SEED</c> make a longer or another run;
/// <c>dotnet run -c Release --project bench/Valet.Bench -- fuzz</c> is the long run.
/// </summary>
[Collection(ProxyCollection.Name)]
public sealed class FuzzTests(ProxyHarness harness, ITestOutputHelper output)
{
    private static readonly int Iterations = int.TryParse(Environment.GetEnvironmentVariable("VALET_FUZZ_ITERATIONS"), out var n) ? n : 150;
    private static readonly int Seed = int.TryParse(Environment.GetEnvironmentVariable("VALET_FUZZ_SEED"), out var s) ? s : 20261129;

    [Fact]
    public async Task HostileInputs_NeverAnswer5xx_NorAStackTrace()
    {
        var fuzz = new FuzzInputs(Seed);
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var admin = harness.Client();
        var credential = await ProxyHarness.PostOkAsync(admin, "/v1/orgs/default/credentials", new { provider = "acme", client_id = "fuzz-client", client_secret = "fuzz-secret" });
        var credentialId = credential.GetProperty("id").GetString()!;
        var flow = await ProxyHarness.PostOkAsync(admin, "/v1/orgs/default/connect", new { provider = "acme", credential_id = credentialId });
        var flowId = flow.GetProperty("flow_id").GetString()!;
        var keyId = (await ProxyHarness.PostOkAsync(admin, "/v1/orgs/default/keys", new { name = "fuzz", permissions = new[] { new { provider = "acme" } } }))
            .GetProperty("id").GetString()!;
        using var anonymous = harness.Client(bearer: null);
        var checkedCount = 0;

        async Task Check(string what, Func<Task<(int Status, string Body)>> send)
        {
            var (status, body) = await send();
            checkedCount++;
            var acceptable = status < 500 || (status is 502 or 504 && body.Contains("provider_unavailable", StringComparison.Ordinal));
            Assert.True(acceptable, $"seed {Seed}: {what} → {status}: {Trim(body)}");
            Assert.False(body.Contains("   at ", StringComparison.Ordinal) || body.Contains("Exception", StringComparison.Ordinal),
                $"seed {Seed}: {what} → a stack trace or exception name in the answer: {Trim(body)}");
        }

        async Task<(int, string)> Send(HttpClient client, HttpMethod method, string path, string? json = null, HttpContent? content = null)
        {
            for (var attempt = 0; ; attempt++)
            {
                using var request = new HttpRequestMessage(method, path);
                if (json is not null)
                {
                    request.Content = new StringContent(json, Encoding.UTF8, "application/json");
                }
                else if (content is not null)
                {
                    request.Content = content;
                }

                try
                {
                    using var response = await client.SendAsync(request);
                    return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
                }
                catch (HttpRequestException) when (json?.Length > 60_000)
                {
                    // Over the 64 KB JSON limit: the server answers 413 at once and closes while the client is still sending.
                    return (413, string.Empty);
                }
                catch (HttpRequestException) when (attempt == 0 && content is null)
                {
                    // A pooled connection the server closed after an earlier 413 (it stops reading an oversized body and
                    // closes): try once more on a fresh connection. A second failure is a real one.
                }
                catch (HttpRequestException e)
                {
                    throw new InvalidOperationException($"{method} {path}: no answer ({e.Message}); body {json?.Length} chars: {json?[..Math.Min(json.Length, 400)]}", e);
                }
            }
        }

        string Q(string value) => fuzz.Chance(80) ? Uri.EscapeDataString(value) : value.Replace("#", "%23", StringComparison.Ordinal);

        for (var i = 0; i < Iterations; i++)
        {
            // The OAuth callback, as a browser (or an attacker) would hit it.
            var callback = $"/oauth/callback?code={Q(fuzz.Mutate("code-123"))}&state={Q(fuzz.Mutate("state-abc"))}" +
                (fuzz.Chance(30) ? $"&iss={Q(fuzz.Mutate("http://127.0.0.1/"))}" : string.Empty) +
                (fuzz.Chance(20) ? $"&error={Q(fuzz.Mutate("access_denied"))}&error_description={Q(fuzz.Mutate("no"))}" : string.Empty);
            await Check("GET " + callback, () => SendRaw("GET", callback, null));

            // Import: tokens obtained elsewhere.
            var import = fuzz.Object(new Dictionary<string, object>
            {
                ["provider"] = "acme", ["credential_id"] = credentialId, ["access_token"] = "at-" + i, ["refresh_token"] = "rt-" + i,
                ["expires_in"] = 3600, ["expires_at"] = "2030-01-01T00:00:00Z", ["scopes"] = new[] { "profile" },
                ["account"] = new JsonObject { ["id"] = "acct-" + i, ["login"] = "fuzz", ["email"] = "f@example.test" },
            });
            await Check("import " + import, () => Send(admin, HttpMethod.Post, "/v1/orgs/default/connections/import", import));

            // Keys and permissions.
            var permissions = new JsonArray(
                new JsonObject { ["connection"] = fuzz.Chance(50) ? connectionId : fuzz.Mutate(connectionId) },
                new JsonObject { [fuzz.Chance(80) ? "provider" : fuzz.Mutate("provider")] = fuzz.Mutate("acme") },
                new JsonObject { ["target"] = fuzz.Mutate("mail"), ["reveal"] = fuzz.Value(true) });
            var keyBody = fuzz.Object(new Dictionary<string, object> { ["name"] = "k" + i, ["permissions"] = permissions });
            await Check("create key " + keyBody, () => Send(admin, HttpMethod.Post, "/v1/orgs/default/keys", keyBody));
            var permissionBody = fuzz.Chance(50) ? fuzz.Object(new Dictionary<string, object> { ["permissions"] = permissions }) : permissions.ToJsonString();
            var keyPath = fuzz.Chance(70) ? keyId : fuzz.Mutate(keyId);
            await Check("put permissions " + permissionBody, () => Send(admin, HttpMethod.Put, $"/v1/keys/{Uri.EscapeDataString(keyPath)}/permissions", permissionBody));

            // Connect, and the flows it makes.
            var connect = fuzz.Object(new Dictionary<string, object>
            {
                ["provider"] = "acme", ["scopes"] = new[] { "profile", "mail.read" }, ["credential_id"] = credentialId,
                ["return_url"] = "http://127.0.0.1:9/back?x=1",
            });
            await Check("connect " + connect, () => Send(admin, HttpMethod.Post, "/v1/orgs/default/connect", connect));
            var someFlow = fuzz.Chance(30) ? flowId : fuzz.Mutate(flowId);
            await Check("flow " + someFlow, () => Send(admin, HttpMethod.Get, "/v1/flows/" + Q(someFlow)));
            var waitFlow = fuzz.Mutate("missing-" + flowId);
            await Check("wait " + waitFlow, () => Send(admin, HttpMethod.Get, $"/v1/flows/{Q(waitFlow)}/wait?timeout={Q(fuzz.Number())}"));

            // Sign-in and the gated connect link, without a session.
            var fields = new Dictionary<string, string>
            {
                ["token"] = fuzz.Mutate("not-the-token"), ["org"] = fuzz.Mutate("default"), ["return"] = fuzz.Mutate("/connect-authorize?flow=" + flowId),
            };
            await Check("signin " + JsonSerializer.Serialize(fields), () => Send(anonymous, HttpMethod.Post, "/signin", content: new FormUrlEncodedContent(fields)));
            await Check("signin page", () => SendRaw("GET", "/signin?return=" + Q(fuzz.Mutate("/me")), null));
            await Check("connect-authorize", () => SendRaw("GET", "/connect-authorize?flow=" + Q(fuzz.Mutate(flowId)), null));

            // The proxy path, byte for byte.
            var method = fuzz.Pick(new[] { "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS" });
            var path = "/v1/proxy/" + (fuzz.Chance(85) ? connectionId : fuzz.Mutate(connectionId)) + "/" + fuzz.Mutate("items/1") +
                (fuzz.Chance(30) ? "?q=" + fuzz.Mutate("a b") : string.Empty);
            var headers = fuzz.Chance(30) ? fuzz.Pick(new[]
            {
                "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\n", "Cookie: a=b\r\n", "X-Forwarded-For: 169.254.169.254\r\n",
                "Host2: evil.example\r\n", "Content-Length: 3\r\n\r\nabc", "Expect: 100-continue\r\n",
            }) : string.Empty;
            await Check($"{method} {path}", () => SendRaw(method, path, key, headers));
        }

        output.WriteLine($"seed {Seed}: {checkedCount} requests checked");
        Assert.True(Iterations > 0, "VALET_FUZZ_ITERATIONS must be at least 1: a run of none checks nothing");
        Assert.True(checkedCount >= Iterations, $"{checkedCount} requests checked for {Iterations} iterations");
        Assert.DoesNotContain(harness.Logs.Lines, line => line.Contains("[1099]", StringComparison.Ordinal));

        // A request answered by a dropped connection (taken above as 413 or 400) must not have been the application
        // failing mid-answer: Kestrel logs that as an unhandled exception.
        Assert.DoesNotContain(harness.Logs.Lines, line => line.StartsWith("Error Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal)
            || line.StartsWith("Critical Microsoft.AspNetCore", StringComparison.Ordinal));
    }

    private async Task<(int Status, string Body)> SendRaw(string method, string target, string? bearer, string extraHeaders = "")
    {
        // Latin-1 on the wire, as a raw client would send it; Kestrel itself refuses what is not HTTP.
        // Control characters and spaces would end the request line itself (Kestrel's parser answers that, 400/505, before
        // any Valet code runs): they go percent-encoded, everything else byte for byte.
        var safeTarget = string.Concat(target.Select(c => c > 0xff ? "?" : c <= ' ' || c == 0x7f ? $"%{(int)c:X2}" : c.ToString()));
        try
        {
            var (status, response) = await RawHttp.SendAsync(harness.BaseUrl, method, safeTarget, bearer ?? "none", extraHeaders);
            var split = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            return (status, split < 0 ? string.Empty : response[(split + 4)..]);
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
        {
            // The server closed the connection on a request it could not parse: no answer is not a 5xx.
            return (400, string.Empty);
        }
    }

    private static string Trim(string body) => body.Length > 300 ? body[..300] + "…" : body;
}
