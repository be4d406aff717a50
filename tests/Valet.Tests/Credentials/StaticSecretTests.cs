using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Credentials;

/// <summary>
/// api_key and basic connections (SPEC §13) through the real server and proxy to a local API: header and query
/// injection, rotation in place, the reveal permission, and the secret nowhere but the upstream request — not in a
/// response, a log line, the audit trail or the database file.
/// </summary>
public sealed class StaticSecretTests : IAsyncLifetime
{
    private const string FirstKey = "sk-first-Do-Not-Leak-1f2e3d";
    private const string SecondKey = "sk-second-Do-Not-Leak-9a8b7c";
    private const string QueryKey = "qk-Do-Not-Leak-5566+/=";
    private const string Password = "p@ss word-Do-Not-Leak-77";

    private KeyedApi _api = null!;
    private ValetTestServer _server = null!;
    private System.Net.Sockets.TcpListener _echo = null!;
    private Task _echoing = Task.CompletedTask;
    private readonly List<string> _responses = [];

    public async Task InitializeAsync()
    {
        _api = await KeyedApi.StartAsync();
        var api = _api.BaseUrl.ToString().TrimEnd('/');
        _echo = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        _echo.Start();
        _echoing = EchoRequestLinesAsync(_echo);
        _server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:keyed:AuthMode"] = "api_key",
            ["Providers:keyed:ApiKeyHeader"] = "x-api-key: {secret}",
            ["Providers:keyed:ApiBaseUrl"] = api + "/keyed",
            ["Providers:keyed:AllowPrivateNetwork"] = "true",
            ["Providers:queried:AuthMode"] = "api_key",
            ["Providers:queried:ApiKeyQuery"] = "api_key",
            ["Providers:queried:ApiBaseUrl"] = api + "/queried",
            ["Providers:queried:AllowPrivateNetwork"] = "true",
            ["Providers:basicapi:AuthMode"] = "basic",
            ["Providers:basicapi:ApiBaseUrl"] = api + "/basic",
            ["Providers:basicapi:AllowPrivateNetwork"] = "true",
            ["Providers:echoing:AuthMode"] = "api_key",
            ["Providers:echoing:ApiKeyQuery"] = "api_key",
            ["Providers:echoing:ApiBaseUrl"] = $"http://127.0.0.1:{((IPEndPoint)_echo.LocalEndpoint).Port}",
            ["Providers:echoing:AllowPrivateNetwork"] = "true",
        });
    }

    /// <summary>
    /// Not HTTP: answers each connection with the request line it received (a mis-set port on Redis or SMTP does much the
    /// same), so the client's "invalid status line" error quotes the request line, secret query parameter included. For a
    /// path with "/chunked" it first sends a valid head declaring a chunked body, so the request line arrives where the
    /// client's chunk parser expects a chunk size, and its error quotes the line's bytes in hex.
    /// </summary>
    private static async Task EchoRequestLinesAsync(System.Net.Sockets.TcpListener listener)
    {
        while (true)
        {
            System.Net.Sockets.TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync();
            }
            catch (Exception e) when (e is ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                return;
            }

            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                    var line = await reader.ReadLineAsync() ?? string.Empty;
                    var head = line.Contains("/chunked", StringComparison.Ordinal) ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" : string.Empty;
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head + line + "\r\n\r\n"));
                }
            });
        }
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _api.DisposeAsync();
        _echo.Stop();
        await _echoing;
    }

    [Fact]
    public async Task ApiKeyHeader_IsInjected_RotatedInPlace_AndRevealedOnlyWithPermission()
    {
        _api.Accepts = r => r.Header("x-api-key") is FirstKey or SecondKey && r.Header("Authorization") is null;
        using var admin = _server.Client();

        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections",
            new { provider = "keyed", api_key = FirstKey, account = new { id = "acct-1", login = "ops" } });
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var id = created.Body.GetProperty("id").GetString()!;
        Assert.Equal("api_key", created.Body.GetProperty("credential").GetString());
        Assert.False(created.Body.TryGetProperty("expires_at", out var expiry) && expiry.ValueKind != JsonValueKind.Null, "a static secret never expires");

        var (_, proxyKey) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(proxyKey);

        // The agent's own x-api-key and Authorization never reach the API; Valet's secret does.
        using var call = new HttpRequestMessage(HttpMethod.Get, $"/v1/proxy/{id}/v1/things?limit=2");
        call.Headers.Add("x-api-key", "agent-chosen");
        var proxied = await SendAsync(agent, call);
        Assert.Equal(HttpStatusCode.OK, proxied.Status);
        Assert.Equal("/keyed/v1/things?limit=2", _api.Last.RawTarget);
        Assert.Equal(FirstKey, _api.Last.Header("x-api-key"));
        Assert.Null(_api.Last.Header("Authorization"));

        // Rotation: the same connection id, the same key's permission, the new secret upstream.
        var rotated = await SendAsync(admin, HttpMethod.Put, $"/v1/connections/{id}/secret", new { api_key = SecondKey });
        Assert.Equal(HttpStatusCode.OK, rotated.Status);
        Assert.Equal(id, rotated.Body.GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/v1/things", null)).Status);
        Assert.Equal(SecondKey, _api.Last.Header("x-api-key"));

        // Posting again for the same account is a rotation too (200, same id).
        var again = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections",
            new { provider = "keyed", api_key = FirstKey, account = new { id = "acct-1" } });
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(id, again.Body.GetProperty("id").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/x", null)).Status);
        Assert.Equal(FirstKey, _api.Last.Header("x-api-key"));

        // The token route: proxy-only without "reveal", the secret with it (connection or provider permission).
        var refused = await SendAsync(agent, HttpMethod.Post, $"/v1/connections/{id}/token", null);
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        Assert.Equal("proxy_only", refused.Body.GetProperty("code").GetString());
        var (_, providerKey) = await _server.CreateKeyAsync("default", new { provider = "keyed" });
        using var byProvider = _server.Client(providerKey);
        Assert.Equal("proxy_only", (await SendAsync(byProvider, HttpMethod.Post, "/v1/providers/keyed/token", null)).Body.GetProperty("code").GetString());

        var (_, revealKey) = await _server.CreateKeyAsync("default", new { connection = id, reveal = true });
        using var revealer = _server.Client(revealKey);
        var revealed = await revealer.PostAsync($"/v1/connections/{id}/token", null);
        var token = await revealed.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.OK, revealed.StatusCode);
        Assert.Equal(FirstKey, token.GetProperty("access_token").GetString());
        Assert.Equal("api_key", token.GetProperty("token_type").GetString());
        var (_, revealProviderKey) = await _server.CreateKeyAsync("default", new { provider = "keyed", reveal = true });
        using var providerRevealer = _server.Client(revealProviderKey);
        var byProviderRevealed = await providerRevealer.PostAsync("/v1/providers/keyed/token", null);
        Assert.Equal(FirstKey, (await byProviderRevealed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString());

        // The key's permissions read back with reveal; the local service principal (valet token) is refused too.
        var keys = await SendAsync(admin, HttpMethod.Get, "/v1/orgs/default/keys", null);
        Assert.Contains("\"reveal\":true", keys.Text, StringComparison.Ordinal);
        using var service = _server.Client(_server.ServiceToken);
        Assert.Equal("proxy_only", (await SendAsync(service, HttpMethod.Post, $"/v1/connections/{id}/token", null)).Body.GetProperty("code").GetString());

        // Operator reads never show it.
        await SendAsync(admin, HttpMethod.Get, $"/v1/connections/{id}", null);
        await SendAsync(admin, HttpMethod.Get, "/v1/orgs/default/connections", null);
        await SendAsync(agent, HttpMethod.Get, "/v1/bootstrap", null);

        await AssertNowhereAsync(FirstKey, SecondKey);
    }

    [Fact]
    public async Task ApiKeyQuery_IsInjectedOnce_ReplacingTheAgents_AndNeverReachesAuditOrLogs()
    {
        _api.Accepts = r => r.Query("api_key") is [QueryKey];
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "queried", api_key = QueryKey });
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var id = created.Body.GetProperty("id").GetString()!;
        Assert.Equal("default", created.Body.GetProperty("account").GetProperty("id").GetString());
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(key);

        var plain = await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/search", null);
        Assert.Equal(HttpStatusCode.OK, plain.Status);
        Assert.Equal("/queried/search?api_key=" + Uri.EscapeDataString(QueryKey), _api.Last.RawTarget);

        var shadowing = await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/search?q=a%20b&api_key=mine&API_KEY=kept", null);
        Assert.Equal(HttpStatusCode.OK, shadowing.Status);
        Assert.Equal(["a b"], _api.Last.Query("q"));
        Assert.Equal([QueryKey], _api.Last.Query("api_key"));
        Assert.Equal(["kept"], _api.Last.Query("API_KEY"));

        // The audit trail names the agent's parameters, never a value, and never Valet's.
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        string audit;
        do
        {
            await Task.Delay(100, wait.Token);
            audit = (await SendAsync(admin, HttpMethod.Get, "/v1/orgs/default/audit", null)).Text;
        }
        while (!audit.Contains("/search?q", StringComparison.Ordinal));

        Assert.Contains("proxy.request", audit, StringComparison.Ordinal);
        await AssertNowhereAsync(QueryKey, Uri.EscapeDataString(QueryKey));
    }

    [Fact]
    public async Task AWebSocketUpgrade_IsForwardedAsAPlainRequest_NeverATunnel_AndPathOverrideHeadersAreDropped()
    {
        // An upstream that answers 101 would otherwise get a raw byte tunnel from the agent: requests written into it skip
        // the path checks, a target's path scope and the audit trail.
        _api.Accepts = r => r.Header("x-api-key") == FirstKey;
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "keyed", api_key = FirstKey });
        var id = created.Body.GetProperty("id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });

        using var socket = new System.Net.WebSockets.ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", "Bearer " + key);
        var wsUrl = new UriBuilder(new Uri(_server.BaseUrl, $"/v1/proxy/{id}/ws")) { Scheme = "ws" }.Uri;
        var refused = await Assert.ThrowsAsync<System.Net.WebSockets.WebSocketException>(() => socket.ConnectAsync(wsUrl, CancellationToken.None));
        Assert.Contains("200", refused.Message, StringComparison.Ordinal); // the upstream's plain answer, not a 101
        Assert.Null(_api.Last.Header("Upgrade"));
        Assert.DoesNotContain("upgrade", _api.Last.Header("Connection") ?? string.Empty, StringComparison.OrdinalIgnoreCase);
        Assert.EndsWith("/ws", _api.Last.RawTarget, StringComparison.Ordinal);

        using var agent = _server.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/proxy/{id}/items");
        request.Headers.TryAddWithoutValidation("X-Original-URL", "/admin");
        request.Headers.TryAddWithoutValidation("X-Rewrite-URL", "/admin");
        using var response = await agent.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(_api.Last.Header("X-Original-URL"));
        Assert.Null(_api.Last.Header("X-Rewrite-URL"));
    }

    [Fact]
    public async Task ApiKeyQuery_QuotedInTheClientsErrorByANonHttpUpstream_NeverReachesTheLogOrTheAnswer()
    {
        // The request line is injected just before the socket (SecretQueryHandler); a failure that quotes it — here the
        // upstream's "status line" is our own request line — must not carry the secret into YARP's warning or anywhere.
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "echoing", api_key = QueryKey });
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var id = created.Body.GetProperty("id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(key);

        var failed = await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/items?page=2", null);

        Assert.Equal(HttpStatusCode.BadGateway, failed.Status);
        Assert.Equal("provider_unavailable", failed.Body.GetProperty("code").GetString());
        // The failure is still logged, with what went wrong (the line with the secret cut out), just not the secret.
        await WaitForAsync(() => _server.Logs.All.Contains("invalid status line", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("api_key=[redacted]", _server.Logs.All, StringComparison.Ordinal);
        await AssertNowhereAsync(QueryKey, Uri.EscapeDataString(QueryKey));
    }

    [Fact]
    public async Task ApiKeyQuery_QuotedInHexByTheChunkParser_NeverReachesTheLogOrTheAnswer()
    {
        // The head is valid and declares a chunked body; the "chunk size" line is our own request line, which .NET's chunk
        // parser quotes byte by byte in hex ("47-45-54-…") in the exception YARP logs as a response-body failure.
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "echoing", api_key = QueryKey });
        var id = created.Body.GetProperty("id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(key);

        try
        {
            await agent.GetAsync($"/v1/proxy/{id}/chunked?page=2");
        }
        catch (HttpRequestException)
        {
            // The 200 head was already relayed when the body failed: the agent sees its response cut short.
        }

        var hexName = BitConverter.ToString(Encoding.ASCII.GetBytes("api_key="));
        await WaitForAsync(() => _server.Logs.All.Contains(hexName, StringComparison.Ordinal));
        Assert.Contains(hexName + "-[redacted]", _server.Logs.All, StringComparison.Ordinal);
        var hexSecret = BitConverter.ToString(Encoding.ASCII.GetBytes(Uri.EscapeDataString(QueryKey)));
        Assert.DoesNotContain(hexSecret[..20], _server.Logs.All, StringComparison.Ordinal);
        await AssertNowhereAsync(QueryKey, Uri.EscapeDataString(QueryKey), hexSecret);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(50, wait.Token);
        }
    }

    [Fact]
    public async Task ApiKeyQuery_EchoedByTheUpstreamInAResponseHeader_IsRedacted_AndEveryRelayedAnswerIsMarkedAsTheUpstreams()
    {
        _api.Accepts = r => r.Query("api_key") is [QueryKey];
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "queried", api_key = QueryKey });
        var id = created.Body.GetProperty("id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _server.BaseUrl };
        agent.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);

        // A redirect that repeats the query (trailing slash, http → https, a moved resource): the key without "reveal"
        // would read the secret off the Location header.
        using var redirect = await agent.GetAsync($"/v1/proxy/{id}/files/redirect?a=1");
        Assert.Equal(HttpStatusCode.Found, redirect.StatusCode);
        var location = redirect.Headers.Location!.OriginalString;
        Assert.EndsWith("/queried/files/moved?a=1&api_key=" + "REDACTED", location, StringComparison.Ordinal);
        Assert.Equal(["1"], redirect.Headers.GetValues("Valet-Upstream"));

        // Pagination links, with upper- and lower-case escapes, and a decoded copy: every form is replaced.
        using var paged = await agent.GetAsync($"/v1/proxy/{id}/items/paged?per_page=2");
        Assert.Equal(HttpStatusCode.OK, paged.StatusCode);
        var headers = string.Join('\n', paged.Headers.Concat(paged.Content.Headers).Select(h => h.Key + ": " + string.Join(", ", h.Value)));
        Assert.Contains("per_page=2&api_key=REDACTED&page=2", headers, StringComparison.Ordinal);
        Assert.Contains("api_key=REDACTED&page=9", headers, StringComparison.Ordinal);
        Assert.DoesNotContain("Do-Not-Leak", headers, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Uri.EscapeDataString(QueryKey), headers, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("5566%2B/=", headers, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("5566%252B", headers, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("X-Reencoded: ", headers, StringComparison.Ordinal);
        Assert.Contains("api_key%3DREDACTED", headers, StringComparison.Ordinal); // the nested URL's copy

        // A 2xx is always the upstream's and carries no mark: the one the upstream claimed ("forged") is taken off.
        Assert.False(paged.Headers.Contains("Valet-Upstream"));

        // Valet's own answers never carry it.
        using var own = await agent.GetAsync("/v1/proxy/conn_does_not_exist/items");
        Assert.Equal(HttpStatusCode.NotFound, own.StatusCode);
        Assert.False(own.Headers.Contains("Valet-Upstream"));
        _responses.Add(location);
        _responses.Add(headers);
        await AssertNowhereAsync(QueryKey, Uri.EscapeDataString(QueryKey));
    }

    [Fact]
    public async Task ApiKeyQuery_EchoedByTheUpstreamInItsBody_IsMaskedInEverySpelling_KeepingTheLength_AndTheStream()
    {
        _api.Accepts = r => r.Query("api_key") is [QueryKey];
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "queried", api_key = QueryKey });
        var id = created.Body.GetProperty("id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(key);
        string[] spellings = [QueryKey, Uri.EscapeDataString(QueryKey), "Do-Not-Leak", "5566%2B", "5566\\u002b", "5566&#x2B;"];

        // Sent three bytes at a time, chunked: every spelling is split across reads somewhere.
        using var chunked = new HttpRequestMessage(HttpMethod.Get, $"/v1/proxy/{id}/items/echo-body?a=1");
        chunked.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip, br");
        using var streamed = await agent.SendAsync(chunked);
        var body = await streamed.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        Assert.Equal("identity", _api.Last.Headers["Accept-Encoding"]); // the agent's preference gave way: the body must be readable
        Assert.True(spellings.All(s => !body.Contains(s, StringComparison.OrdinalIgnoreCase)), body);
        using (var json = JsonDocument.Parse(body[..(body.LastIndexOf('}') + 1)]))
        {
            Assert.StartsWith("http://", json.RootElement.GetProperty("self").GetString(), StringComparison.Ordinal);
            Assert.Contains("&api_key=REDACTED*", json.RootElement.GetProperty("self").GetString(), StringComparison.Ordinal);
            Assert.Contains("&api_key=REDACTED*", json.RootElement.GetProperty("decoded").GetString(), StringComparison.Ordinal);
        }

        Assert.EndsWith("} ends", body, StringComparison.Ordinal);

        // With a Content-Length: the mask is as long as what it covers, so the length the upstream declared stays true.
        using var sized = await agent.GetAsync($"/v1/proxy/{id}/items/echo-body?a=1&length=1");
        var sizedBytes = await sized.Content.ReadAsByteArrayAsync();
        Assert.Equal(sizedBytes.Length, sized.Content.Headers.ContentLength);
        var sizedBody = Encoding.UTF8.GetString(sizedBytes);
        Assert.True(spellings.All(s => !sizedBody.Contains(s, StringComparison.OrdinalIgnoreCase)), sizedBody);
        Assert.Contains("\\u0026api_key=REDACTED*", sizedBody, StringComparison.Ordinal);

        // Compressed although Valet asked for identity: decoded, masked, sent plain.
        using var gzip = await agent.GetAsync($"/v1/proxy/{id}/items/echo-gzip?a=1");
        var unzipped = await gzip.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, gzip.StatusCode);
        Assert.Empty(gzip.Content.Headers.ContentEncoding);
        Assert.True(spellings.All(s => !unzipped.Contains(s, StringComparison.OrdinalIgnoreCase)), unzipped);
        Assert.Contains("\\u0026api_key=REDACTED*", unzipped, StringComparison.Ordinal);
        Assert.EndsWith("} ends", unzipped, StringComparison.Ordinal);

        // A coding Valet cannot read is not relayed unread.
        var zstd = await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/items/echo-zstd", null);
        Assert.Equal(HttpStatusCode.BadGateway, zstd.Status);
        Assert.Equal("upstream_body_unreadable", zstd.Body.GetProperty("code").GetString());
        Assert.Contains("(zstd)", zstd.Body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        _responses.Add(body);
        _responses.Add(unzipped);
        _responses.Add(zstd.Text);
        await AssertNowhereAsync(QueryKey, Uri.EscapeDataString(QueryKey));
    }

    [Fact]
    public async Task Basic_IsInjectedAsRfc7617_AndRevealedReadyToSend()
    {
        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ops-bot:" + Password));
        _api.Accepts = r => r.Header("Authorization") == expected;
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections",
            new { provider = "basicapi", username = "ops-bot", password = Password, account = new { id = "ops-bot" } });
        Assert.Equal(HttpStatusCode.Created, created.Status);
        Assert.Equal("basic", created.Body.GetProperty("credential").GetString());
        var id = created.Body.GetProperty("id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id, reveal = true });
        using var agent = _server.Client(key);

        Assert.Equal(HttpStatusCode.OK, (await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/rest/api/3/myself", null)).Status);
        Assert.Equal(expected, _api.Last.Header("Authorization"));

        // An upstream 401 on a static secret is passed on as it is (nothing to refresh), once.
        _api.Accepts = _ => false;
        var before = _api.Seen.Count;
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/rest", null)).Status);
        Assert.Equal(before + 1, _api.Seen.Count);

        var token = await agent.PostAsync($"/v1/connections/{id}/token", null);
        var body = await token.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Basic", body.GetProperty("token_type").GetString());
        Assert.Equal(expected, "Basic " + body.GetProperty("access_token").GetString());

        await AssertNowhereAsync(Password);
    }

    [Fact]
    public async Task BadInput_IsA422ListingEveryProblem_NeverStored()
    {
        using var admin = _server.Client();

        var missing = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "keyed", account = new { id = "" } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing.Status);
        Assert.Equal("validation_failed", missing.Body.GetProperty("code").GetString());
        var errors = missing.Body.GetProperty("errors");
        Assert.True(errors.TryGetProperty("account.id", out _), missing.Text);
        Assert.True(errors.TryGetProperty("api_key", out _), missing.Text);

        var spaced = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "keyed", api_key = "has space" });
        Assert.True(spaced.Body.GetProperty("errors").TryGetProperty("api_key", out _), spaced.Text);

        var wrongKind = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections",
            new { provider = "basicapi", api_key = "k", username = "a:b" });
        var wrongErrors = wrongKind.Body.GetProperty("errors");
        Assert.True(wrongErrors.TryGetProperty("api_key", out _) && wrongErrors.TryGetProperty("username", out _)
            && wrongErrors.TryGetProperty("password", out _), wrongKind.Text);

        var oauth = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "github", api_key = "k" });
        Assert.Contains("oauth2 provider", oauth.Body.GetProperty("errors").GetProperty("provider")[0].GetString(), StringComparison.Ordinal);

        var unknown = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "nope", api_key = "k" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.Status);

        var notJson = await admin.PostAsync("/v1/orgs/default/connections", new StringContent("{", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(admin, HttpMethod.Put, "/v1/connections/conn_nope/secret", new { api_key = "k" })).Status);
        Assert.Equal("[]", (await SendAsync(admin, HttpMethod.Get, "/v1/orgs/default/connections", null)).Text);
    }

    [Fact]
    public async Task StaticSecret_IsNeverOverwrittenByAnImport_TakesNoOAuthClient_AndKeepsItsLoginOnRePost()
    {
        _api.Accepts = r => r.Header("x-api-key") == FirstKey;
        using var admin = _server.Client();
        var created = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections",
            new { provider = "keyed", api_key = FirstKey, account = new { id = "svc", login = "svc-login", email = "svc@example.test" } });
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var id = created.Body.GetProperty("id").GetString()!;

        // An api_key provider takes no OAuth client, on the API as on the dashboard's form.
        var client = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/credentials", new { provider = "keyed", client_id = "x", client_secret = "y" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, client.Status);
        Assert.Contains("takes no OAuth client", client.Body.GetProperty("errors").GetProperty("provider")[0].GetString(), StringComparison.Ordinal);

        // An import naming the static provider (with any org credential) is refused before anything is written: the
        // stored API key is not replaced by a bearer token.
        var github = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/credentials", new { provider = "github", client_id = "gh", client_secret = "s" });
        Assert.Equal(HttpStatusCode.Created, github.Status);
        var imported = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections/import", new
        {
            provider = "keyed", credential_id = github.Body.GetProperty("id").GetString(), access_token = "IMPORTED-token", account = new { id = "svc" },
        });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, imported.Status);
        Assert.Contains("imported only for oauth2", imported.Body.GetProperty("errors").GetProperty("provider")[0].GetString(), StringComparison.Ordinal);
        var (_, proxyKey) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(proxyKey);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/v1/things", null)).Status);
        Assert.Equal(FirstKey, _api.Last.Header("x-api-key"));

        // Posting again for the account replaces the secret in place and keeps the login and email it left out.
        var again = await SendAsync(admin, HttpMethod.Post, "/v1/orgs/default/connections", new { provider = "keyed", api_key = SecondKey, account = new { id = "svc" } });
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.Equal(id, again.Body.GetProperty("id").GetString());
        var account = again.Body.GetProperty("account");
        Assert.Equal("svc-login", account.GetProperty("login").GetString());
        Assert.Equal("svc@example.test", account.GetProperty("email").GetString());
    }

    [Fact]
    public async Task Cli_AddsFromStdin_RotatesInPlace_AndRefusesASecretOnTheCommandLine()
    {
        var env = new Dictionary<string, string?> { ["VALET_URL"] = _server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = _server.DataDirectory };
        _api.Accepts = r => r.Header("x-api-key") == SecondKey;

        var literal = await CliRunner.RunAsync(["connections", "add", "keyed", "--secret", FirstKey], env);
        Assert.Equal(2, literal.ExitCode);
        var line = Assert.Single(literal.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--secret -", line, StringComparison.Ordinal);
        Assert.DoesNotContain(FirstKey, literal.StdErr + literal.StdOut, StringComparison.Ordinal);

        var added = await CliRunner.RunAsync(["connections", "add", "keyed", "--secret", "-", "--account", "cli", "--json"], env, stdin: FirstKey + "\n");
        Assert.True(added.ExitCode == 0, added.StdErr);
        var id = JsonDocument.Parse(added.StdOut).RootElement.GetProperty("id").GetString()!;

        var rotated = await CliRunner.RunAsync(["connections", "rotate", id, "--secret", "-"], env, stdin: SecondKey + "\n");
        Assert.True(rotated.ExitCode == 0, rotated.StdErr);
        Assert.Equal(id, rotated.StdOut.Trim());

        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(agent, HttpMethod.Get, $"/v1/proxy/{id}/ping", null)).Status);

        var empty = await CliRunner.RunAsync(["connections", "add", "keyed", "--secret", "-"], env, stdin: string.Empty);
        Assert.Equal(2, empty.ExitCode);

        // Piped without --secret (rotate reads stdin by itself; add, which also makes client-credentials connections,
        // does not): the one line says how to give it.
        var unasked = await CliRunner.RunAsync(["connections", "add", "keyed"], env, stdin: FirstKey + "\n");
        Assert.Equal(1, unasked.ExitCode);
        Assert.Contains("--secret -", Assert.Single(unasked.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        var bad = await CliRunner.RunAsync(["connections", "add", "github", "--secret", "-"], env, stdin: "x\n");
        Assert.Equal(1, bad.ExitCode);
        Assert.Single(bad.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // A provider whose API is on each customer's own site (Jira): the site comes with --api-base-url.
        var jira = await CliRunner.RunAsync(["connections", "add", "jira", "--username", "dev@example.com", "--secret", "-",
            "--api-base-url", "https://acme.atlassian.net", "--json"], env, stdin: "jira-api-token\n");
        Assert.True(jira.ExitCode == 0, jira.StdErr);
        var jiraId = JsonDocument.Parse(jira.StdOut).RootElement.GetProperty("id").GetString()!;
        using var admin = _server.Client();
        var stored = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{jiraId}");
        Assert.Equal("https://acme.atlassian.net", stored.GetProperty("api_base_url").GetString());
    }

    private async Task<(HttpStatusCode Status, string Text, JsonElement Body)> SendAsync(HttpClient client, HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        return await SendAsync(client, request);
    }

    private async Task<(HttpStatusCode Status, string Text, JsonElement Body)> SendAsync(HttpClient client, HttpRequestMessage request)
    {
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        lock (_responses)
        {
            _responses.Add(string.Join('\n', response.Headers.Select(h => $"{h.Key}: {string.Join(',', h.Value)}")) + "\n" + text);
        }

        var json = text.Length > 0 && text.TrimStart()[0] is '{' or '[' ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return (response.StatusCode, text, json);
    }

    /// <summary>No response Valet gave, no log line, and no byte of the data directory (database, WAL) holds any of <paramref name="secrets"/>.</summary>
    private async Task AssertNowhereAsync(params string[] secrets)
    {
        using var admin = _server.Client();
        var audit = (await SendAsync(admin, HttpMethod.Get, "/v1/orgs/default/audit", null)).Text;
        var logs = _server.Logs.All;
        Assert.NotEmpty(_server.Logs.Lines);
        // Every file but the server's process lock (empty, and held exclusively while it runs).
        var files = Directory.EnumerateFiles(_server.DataDirectory, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(".db.lock", StringComparison.Ordinal))
            .Select(f => (f, Bytes: ReadShared(f))).ToList();
        Assert.Equal(0, new FileInfo(Path.Combine(_server.DataDirectory, "valet.db.lock")).Length);
        Assert.Contains(files, f => f.f.Contains(".db", StringComparison.Ordinal) || f.f.EndsWith(".sqlite", StringComparison.Ordinal));
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, logs, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, audit, StringComparison.Ordinal);
            lock (_responses)
            {
                Assert.DoesNotContain(_responses, r => r.Contains(secret, StringComparison.Ordinal) && !r.Contains("\"access_token\"", StringComparison.Ordinal));
            }

            var needle = Encoding.UTF8.GetBytes(secret);
            foreach (var (file, bytes) in files)
            {
                Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{secret} found in {file}");
            }
        }
    }

    private static byte[] ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
