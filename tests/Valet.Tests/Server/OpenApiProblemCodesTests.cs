using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Server.Proxy;
using Valet.Tests.Infrastructure;
using Valet.Tests.Proxy;
using Xunit.Abstractions;

namespace Valet.Tests.Server;

/// <summary>
/// SPEC §12, "every error status with its problem <c>code</c>s", checked against what the real server answers, so that
/// the document cannot drift from the handlers again:
/// <list type="bullet">
/// <item>a table of requests, each expected to get one (status, code) from a real server, and every answer (expected or
/// not) must be listed by the document for that operation and status. Generic sweeps over every operation of the
/// document add the shared answers (401, 403, 413, 415, 429);</item>
/// <item>the other way round: every (status, code) the document lists is produced by some request of the table, or is
/// named in <see cref="NotReproducedHere"/> with the reason;</item>
/// <item>every problem code written in the server's source is in the document, or named in <see cref="NotInTheDocument"/>;</item>
/// <item>each error response lists its codes as the <c>enum</c> of <c>code</c> in its schema and in its description alike.</item>
/// </list>
/// </summary>
public sealed class OpenApiProblemCodesTests(ITestOutputHelper output)
{
    /// <summary>(status, code) pairs the document lists that no request below produces, and why.</summary>
    private static readonly Dictionary<string, string> NotReproducedHere = new(StringComparer.Ordinal)
    {
        ["503 storage_unavailable"] = "needs the database to go away (StorageOutageTests does it on PostgreSQL)",
        ["503 vault_key_unavailable"] = "needs secrets sealed under a key the server was not given (CliAdminTests.VaultRotate_… rotates under a running server)",
        ["400 request_body_failed"] = "the proxy's upstream send failing on the caller's body (a malformed chunked body mid-stream)",
        ["400 invalid_header"] = "raw non-ASCII header bytes, which HttpClient will not send (ProxyHeaderTests sends them over a raw socket)",
        ["422 auth_mode_mismatch"] = "a static-secret connection whose provider was redefined since (the API refuses that change, 409 provider_in_use)",
        ["502 upstream_body_unreadable"] = "an api_key provider with a query secret whose API compresses in a coding .NET cannot decode (StaticSecretTests.ApiKeyQuery_EchoedByTheUpstreamInItsBody…)",
    };

    /// <summary>Problem codes in the server's source that the REST document does not list, and why.</summary>
    private static readonly Dictionary<string, string> NotInTheDocument = new(StringComparer.Ordinal)
    {
        ["antiforgery"] = "dashboard forms (/signin, dashboard actions), not in the REST description",
        ["invalid_credentials"] = "POST /signin (dashboard), not in the REST description",
        ["device_flow_unsupported"] = "/internal device routes (the CLI's), not in the REST description",
        ["device_authorization_refused"] = "/internal device routes (the CLI's), not in the REST description",
        ["flow_decided"] = "/internal device routes (the CLI's cancel), not in the REST description",
        ["managed_target"] = "PUT/PATCH/DELETE /v1/targets/{id} by an operator: served by the target proxy's endpoint, not described as a path of its own",
        ["method_not_allowed"] = "a method a path does not have (405), the operator's /v1/targets/{id}, and TRACE/TRACK/CONNECT on the proxy routes (not operations of the document; ProxyHeaderTests)",
        ["not_found"] = "a path no route matches",
        ["internal_error"] = "500: a bug, not an answer a client plans for",
        ["client_closed_request"] = "499: written for the log; the caller has gone",
    };

    private const string Org = "oa";

    [Fact]
    public async Task EveryProblemTheServerAnswers_IsListedByTheDocument_ForItsOperationAndStatus()
    {
        await using var rig = await ProviderRig.StartAsync();
        var resolver = new FakeResolver();
        resolver.Names["api.faraway.test"] = [IPAddress.Loopback];
        var settings = new Dictionary<string, string?>
        {
            // Hundreds of bad bearers from one address on purpose: the lockout is swept on a server of its own below.
            ["RateLimits:FailuresPerMinute"] = "0",
            ["Refresh:ProviderTimeout"] = "00:00:02",
            ["Proxy:MaxRequestBytes"] = "4096",
            ["Proxy:ActivityTimeout"] = "00:00:02",
            ["Flows:MaxPendingPerOrg"] = "2",
        };
        foreach (var (id, token, api, allowPrivate) in new[]
                 {
                     ("acme", rig.Url("/ok/token"), rig.Url("/api"), true),
                     ("dead", rig.Url("/dead/token"), rig.Url("/api"), true),
                     ("down", rig.Url("/fail/token"), rig.Url("/api"), true),
                     ("slow", rig.Url("/hang/token"), rig.Url("/api"), true),
                     ("nobase", rig.Url("/ok/token"), null, true),
                     ("gone", rig.Url("/ok/token"), $"http://127.0.0.1:{ClosedPort()}/api", true),
                     ("faraway", "https://auth.faraway.test/token", $"https://api.faraway.test:{rig.Port}/api", false),
                 })
        {
            settings[$"Providers:{id}:AuthorizationEndpoint"] = allowPrivate ? rig.Url("/authorize") : "https://auth.faraway.test/authorize";
            settings[$"Providers:{id}:TokenEndpoint"] = token;
            settings[$"Providers:{id}:Scopes"] = "read write";
            settings[$"Providers:{id}:AllowPrivateNetwork"] = allowPrivate ? "true" : "false";
            if (api is not null)
            {
                settings[$"Providers:{id}:ApiBaseUrl"] = api;
            }
        }

        await using var server = await ValetTestServer.StartAsync(settings,
            configure: builder => builder.Services.AddSingleton<IUpstreamResolver>(resolver));
        var document = await DocumentAsync(server);
        var probe = new Prober(server.BaseUrl);
        using var admin = server.Client();

        // The world: orgs, credentials, connections, keys.
        foreach (var org in new[] { Org, "ob", "oc", "ofl" })
        {
            await PostOkAsync(admin, "/v1/orgs", new { id = org });
        }

        var credentials = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var provider in new[] { "acme", "dead", "down", "slow", "nobase", "gone", "faraway", "microsoft", "zendesk" })
        {
            credentials[provider] = (await PostOkAsync(admin, $"/v1/orgs/{Org}/credentials",
                new { provider, client_id = "client-" + provider, client_secret = "secret-" + provider })).GetProperty("id").GetString()!;
        }

        async Task<string> ImportAsync(string provider, string org = Org, int expiresIn = 3600, string[]? scopes = null, string? credential = null)
        {
            credential ??= org == Org ? credentials[provider]
                : (await PostOkAsync(admin, $"/v1/orgs/{org}/credentials", new { provider, client_id = "c", client_secret = "s" })).GetProperty("id").GetString()!;
            var body = await PostOkAsync(admin, $"/v1/orgs/{org}/connections/import", new
            {
                provider, credential_id = credential, access_token = "at-" + Guid.NewGuid().ToString("N"), refresh_token = "rt-" + Guid.NewGuid().ToString("N"),
                expires_in = expiresIn, scopes = scopes ?? ["read"], account = new { id = "acct-" + Guid.NewGuid().ToString("N") },
            });
            return body.GetProperty("id").GetString()!;
        }

        var acme = await ImportAsync("acme");
        var dead = await ImportAsync("dead", expiresIn: 0);
        var down = await ImportAsync("down", expiresIn: 0);
        var slow = await ImportAsync("slow", expiresIn: 0);
        var nobase = await ImportAsync("nobase");
        var gone = await ImportAsync("gone");
        var faraway = await ImportAsync("faraway");
        await ImportAsync("microsoft", scopes: ["User.Read"]);
        var mail = (await admin.GetFromJsonAsync<JsonElement>($"/v1/orgs/{Org}/targets")).EnumerateArray()
            .Single(t => t.GetProperty("name").GetString() == "mail").GetProperty("id").GetString()!;
        var runtime = await admin.PutAsJsonAsync("/v1/providers/rt", new
        {
            auth_mode = "api_key", api_key_header = "x-api-key: {secret}", api_base_url = rig.Url("/api"), allow_private_network = true,
        });
        Assert.Equal(HttpStatusCode.Created, runtime.StatusCode);
        var rt = (await PostOkAsync(admin, $"/v1/orgs/{Org}/connections", new { provider = "rt", api_key = "static-secret-1" })).GetProperty("id").GetString()!;
        var everything = await server.CreateKeyAsync(Org, [.. new[] { "acme", "dead", "down", "slow", "nobase", "gone", "faraway", "microsoft", "github", "rt" }
            .Select(p => (object)new { provider = p })]);
        var narrow = await server.CreateKeyAsync(Org, new { connection = acme });
        var key = everything.Key;

        var ambiguous = await server.CreateKeyAsync("ob", new { provider = "acme" });
        var obAcme = await ImportAsync("acme", "ob");
        await ImportAsync("acme", "ob");
        var slowByProvider = await server.CreateKeyAsync("oc", new { provider = "slow" });
        await ImportAsync("slow", "oc", expiresIn: 0);

        // The shared answers, swept over every operation of the document.
        var operations = Operations(document).ToList();
        foreach (var (method, template, operation) in operations.Where(o => o.Method != "HEAD"))
        {
            var path = Concrete(template);
            if (operation.TryGetProperty("security", out var security) && security.GetArrayLength() > 0)
            {
                await probe.ExpectAsync(method, template, path, "wrong-" + Guid.NewGuid().ToString("N"), 401, "unauthorized");
            }

            var schemes = Schemes(operation);
            if (schemes.SetEquals(["operatorToken"]))
            {
                await probe.ExpectAsync(method, template, path, key, 403, "forbidden");
            }
            else if (schemes.SetEquals(["agentKey"]))
            {
                await probe.ExpectAsync(method, template, path, ValetTestServer.AdminToken, 403, "forbidden");
            }

            if (operation.TryGetProperty("requestBody", out _))
            {
                // No Authorization header: routing (the Content-Type match) and the body limit come before authentication.
                var lists415 = Listed(document, method, template).ContainsKey(415);
                await probe.ExpectAsync(method, template, path, null, lists415 ? 415 : 401, lists415 ? "unsupported_media_type" : "unauthorized",
                    new StringContent("{}", Encoding.UTF8, "text/plain"));
                await probe.ExpectAsync(method, template, path, null, 413, "payload_too_large",
                    new StringContent("[" + new string(' ', 70 * 1024) + "]", Encoding.UTF8, "application/json"));
            }
        }

        // Operator routes.
        const string Orgs = "/v1/orgs", OrgPath = "/v1/orgs/{org}";
        await probe.ExpectAsync("POST", Orgs, Orgs, ValetTestServer.AdminToken, 409, "org_exists", Json(new { id = Org }));
        await probe.ExpectAsync("POST", Orgs, Orgs, ValetTestServer.AdminToken, 422, "validation_failed", Json(new { id = "Not A Slug" }));
        await probe.ExpectAsync("POST", Orgs, Orgs, ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));
        await probe.ExpectAsync("GET", OrgPath, "/v1/orgs/nope", ValetTestServer.AdminToken, 404, "org_not_found");
        await probe.ExpectAsync("PATCH", OrgPath, "/v1/orgs/nope", ValetTestServer.AdminToken, 404, "org_not_found", Json(new { headless = true }));
        await probe.ExpectAsync("PATCH", OrgPath, $"/v1/orgs/{Org}", ValetTestServer.AdminToken, 422, "validation_failed", Json(new { }));
        await probe.ExpectAsync("PATCH", OrgPath, $"/v1/orgs/{Org}", ValetTestServer.AdminToken, 400, "invalid_json", Json("{\"headless\": 1}"));

        foreach (var (method, suffix, body) in new (string, string, object?)[]
                 {
                     ("POST", "/credentials", new { provider = "acme" }), ("GET", "/credentials", null), ("POST", "/keys", new { name = "k" }),
                     ("GET", "/keys", null), ("GET", "/connections", null), ("POST", "/connections", new { provider = "rt", api_key = "x" }),
                     ("POST", "/connections/import", new { provider = "acme", credential_id = credentials["acme"], access_token = "a" }),
                     ("POST", "/connect", new { provider = "acme" }), ("GET", "/targets", null), ("GET", "/audit", null),
                     ("PUT", "/defaults/{provider}", new { connection_id = acme }),
                 })
        {
            await probe.ExpectAsync(method, OrgPath + suffix, "/v1/orgs/nope" + suffix.Replace("{provider}", "acme", StringComparison.Ordinal),
                ValetTestServer.AdminToken, 404, "org_not_found", body is null ? null : Json(body));
        }

        await probe.ExpectAsync("POST", OrgPath + "/credentials", $"/v1/orgs/{Org}/credentials", ValetTestServer.AdminToken, 422, "validation_failed",
            Json(new { provider = "nope" }));
        await probe.ExpectAsync("POST", OrgPath + "/credentials", $"/v1/orgs/{Org}/credentials", ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));
        await probe.ExpectAsync("GET", "/v1/credentials/{id}", "/v1/credentials/nope", ValetTestServer.AdminToken, 404, "credential_not_found");
        await probe.ExpectAsync("POST", OrgPath + "/keys", $"/v1/orgs/{Org}/keys", ValetTestServer.AdminToken, 422, "validation_failed",
            Json(new { name = "k", permissions = new[] { new { connection = "nope" } } }));
        await probe.ExpectAsync("POST", OrgPath + "/keys", $"/v1/orgs/{Org}/keys", ValetTestServer.AdminToken, 400, "invalid_json", Json("{\"name\": 5}"));
        await probe.ExpectAsync("GET", "/v1/keys/{id}", "/v1/keys/nope", ValetTestServer.AdminToken, 404, "key_not_found");
        await probe.ExpectAsync("DELETE", "/v1/keys/{id}", "/v1/keys/nope", ValetTestServer.AdminToken, 404, "key_not_found");
        const string Permissions = "/v1/keys/{id}/permissions";
        await probe.ExpectAsync("PUT", Permissions, "/v1/keys/nope/permissions", ValetTestServer.AdminToken, 404, "key_not_found", Json("[]"));
        await probe.ExpectAsync("PUT", Permissions, $"/v1/keys/{narrow.Id}/permissions", ValetTestServer.AdminToken, 422, "validation_failed", Json("{}"));
        await probe.ExpectAsync("PUT", Permissions, $"/v1/keys/{narrow.Id}/permissions", ValetTestServer.AdminToken, 400, "invalid_request",
            new StringContent(string.Empty, Encoding.UTF8, "application/json"));
        await probe.ExpectAsync("PUT", Permissions, $"/v1/keys/{narrow.Id}/permissions", ValetTestServer.AdminToken, 400, "invalid_json", Json("[{"));

        const string Provider = "/v1/providers/{id}";
        await probe.ExpectAsync("GET", Provider, "/v1/providers/nope", key, 404, "unknown_provider");
        await probe.ExpectAsync("PUT", Provider, "/v1/providers/github", ValetTestServer.AdminToken, 409, "provider_read_only", Json(new { }));
        await probe.ExpectAsync("PUT", Provider, "/v1/providers/rt", ValetTestServer.AdminToken, 409, "provider_in_use",
            Json(new { auth_mode = "basic", api_base_url = rig.Url("/api"), allow_private_network = true }));
        await probe.ExpectAsync("PUT", Provider, "/v1/providers/new-one", ValetTestServer.AdminToken, 422, "validation_failed", Json(new { }));
        await probe.ExpectAsync("PUT", Provider, "/v1/providers/new-one", ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));
        await probe.ExpectAsync("DELETE", Provider, "/v1/providers/github", ValetTestServer.AdminToken, 409, "provider_read_only");
        await probe.ExpectAsync("DELETE", Provider, "/v1/providers/rt", ValetTestServer.AdminToken, 409, "provider_in_use");
        await probe.ExpectAsync("DELETE", Provider, "/v1/providers/nope", ValetTestServer.AdminToken, 404, "unknown_provider");

        const string Connections = OrgPath + "/connections", Import = OrgPath + "/connections/import";
        await probe.ExpectAsync("POST", Connections, $"/v1/orgs/{Org}/connections", ValetTestServer.AdminToken, 422, "validation_failed", Json(new { provider = "acme" }));
        await probe.ExpectAsync("POST", Connections, $"/v1/orgs/{Org}/connections", ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));
        var import = $"/v1/orgs/{Org}/connections/import";
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 400, "credential_required", Json(new { provider = "acme", access_token = "a" }));
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 404, "credential_not_found",
            Json(new { provider = "acme", credential_id = "nope", access_token = "a" }));
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 422, "validation_failed",
            Json(new { provider = "acme", credential_id = credentials["acme"] }));
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 422, "invalid_token_value",
            Json(new { provider = "acme", credential_id = credentials["acme"], access_token = "has space", account = new { id = "a1" } }));
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 422, "unsupported_token_type",
            Json(new { provider = "acme", credential_id = credentials["acme"], access_token = "a", token_type = "mac", account = new { id = "a1" } }));
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 422, "credential_mismatch",
            Json(new { provider = "acme", credential_id = credentials["dead"], access_token = "a", account = new { id = "a1" } }));
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 422, "invalid_parameters",
            Json(new { provider = "zendesk", credential_id = credentials["zendesk"], access_token = "a", account = new { id = "a1" } }));
        var widened = (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{acme}")).GetProperty("account").GetProperty("id").GetString();
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 400, "scopes_widened_without_refresh_token",
            Json(new { provider = "acme", credential_id = credentials["acme"], access_token = "a", scopes = new[] { "read", "write" }, account = new { id = widened } }));
        var otherAcmeClient = (await PostOkAsync(admin, $"/v1/orgs/{Org}/credentials",
            new { provider = "acme", client_id = "client-acme-2", client_secret = "secret-acme-2" })).GetProperty("id").GetString()!;
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 400, "refresh_token_required",
            Json(new { provider = "acme", credential_id = otherAcmeClient, access_token = "a", account = new { id = widened } }));
        await probe.ExpectAsync("POST", Import, import, ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));

        await probe.ExpectAsync("GET", "/v1/connections/{id}", "/v1/connections/nope", ValetTestServer.AdminToken, 404, "connection_not_found");
        await probe.ExpectAsync("DELETE", "/v1/connections/{id}", "/v1/connections/nope", ValetTestServer.AdminToken, 404, "connection_not_found");
        const string Secret = "/v1/connections/{id}/secret";
        await probe.ExpectAsync("PUT", Secret, "/v1/connections/nope/secret", ValetTestServer.AdminToken, 404, "connection_not_found", Json(new { api_key = "k" }));
        await probe.ExpectAsync("PUT", Secret, $"/v1/connections/{acme}/secret", ValetTestServer.AdminToken, 422, "validation_failed", Json(new { api_key = "k" }));
        await probe.ExpectAsync("PUT", Secret, $"/v1/connections/{rt}/secret", ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));

        const string Connect = OrgPath + "/connect";
        var connect = "/v1/orgs/ofl/connect";
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 422, "validation_failed", Json(new { }));
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 422, "unknown_provider", Json(new { provider = "nope" }));
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 422, "not_connectable", Json(new { provider = "rt" }));
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 422, "no_client", Json(new { provider = "github" }));
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 422, "invalid_parameters", Json(new { provider = "zendesk" }));
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 404, "credential_not_found",
            Json(new { provider = "acme", credential_id = "nope" }));
        await probe.ExpectAsync("POST", Connect, $"/v1/orgs/{Org}/connect", ValetTestServer.AdminToken, 422, "credential_mismatch",
            Json(new { provider = "acme", credential_id = credentials["dead"] }));
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 400, "invalid_return_url",
            Json(new { provider = "acme", return_url = "https://elsewhere.example/" }));
        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));
        var oflCredential = (await PostOkAsync(admin, "/v1/orgs/ofl/credentials", new { provider = "acme", client_id = "c", client_secret = "s" }))
            .GetProperty("id").GetString();
        for (var i = 0; i < 2; i++)
        {
            await PostOkAsync(admin, connect, new { provider = "acme", credential_id = oflCredential });
        }

        await probe.ExpectAsync("POST", Connect, connect, ValetTestServer.AdminToken, 429, "too_many_pending_flows",
            Json(new { provider = "acme", credential_id = oflCredential }));

        await probe.ExpectAsync("GET", "/v1/flows/{id}", "/v1/flows/nope", key, 404, "flow_not_found");
        await probe.ExpectAsync("GET", "/v1/flows/{id}/wait", "/v1/flows/nope/wait?timeout=0", ValetTestServer.AdminToken, 404, "flow_not_found");
        await probe.ExpectAsync("GET", "/v1/flows/{id}/wait", "/v1/flows/nope/wait?timeout=999", ValetTestServer.AdminToken, 400, "invalid_timeout");
        await probe.ExpectAsync("GET", "/v1/flows/{id}/wait", "/v1/flows/nope/wait?timeout=soon", ValetTestServer.AdminToken, 400, "invalid_request");

        const string Default = OrgPath + "/defaults/{provider}";
        await probe.ExpectAsync("PUT", Default, $"/v1/orgs/{Org}/defaults/acme", ValetTestServer.AdminToken, 404, "connection_not_found",
            Json(new { connection_id = "nope" }));
        await probe.ExpectAsync("PUT", Default, "/v1/orgs/ob/defaults/github", ValetTestServer.AdminToken, 422, "provider_mismatch",
            Json(new { connection_id = obAcme }));
        await probe.ExpectAsync("PUT", Default, "/v1/orgs/ob/defaults/acme", ValetTestServer.AdminToken, 422, "validation_failed", Json(new { }));
        await probe.ExpectAsync("PUT", Default, "/v1/orgs/ob/defaults/acme", ValetTestServer.AdminToken, 400, "invalid_json", Json("{"));

        await probe.ExpectAsync("GET", OrgPath + "/audit", $"/v1/orgs/{Org}/audit?limit=0", ValetTestServer.AdminToken, 422, "validation_failed");
        await probe.ExpectAsync("GET", "/me", "/me", null, 401, "unauthorized");

        // Agent routes: tokens.
        const string ByConnection = "/v1/connections/{id}/token", ByProvider = "/v1/providers/{provider}/token";
        await probe.ExpectAsync("POST", ByConnection, "/v1/connections/nope/token", key, 404, "connection_not_found");
        await probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{dead}/token", narrow.Key, 403, "forbidden");
        await probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{rt}/token", key, 403, "proxy_only");
        await probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{acme}/token", key, 409, "missing_scopes", Json(new { scopes = new[] { "admin" } }));
        await probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{dead}/token", key, 409, "reauth_required");
        await probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{acme}/token", key, 422, "validation_failed", Json(new { scopes = "read" }));
        await probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{acme}/token", key, 400, "invalid_json", Json("[1]"));
        await probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{down}/token", key, 502, "provider_unavailable");

        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/nope/token", key, 404, "unknown_provider");
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/dead/token", narrow.Key, 403, "forbidden");
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/acme/token", server.ServiceToken, 403, "forbidden");
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/rt/token", key, 403, "proxy_only");
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/github/token", key, 409, "needs_authentication");
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/acme/token", ambiguous.Key, 409, "ambiguous_connection");
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/acme/token", key, 409, "missing_scopes", Json(new { scopes = new[] { "admin" } }));
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/dead/token", key, 409, "reauth_required");
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/acme/token", key, 422, "validation_failed", Json(new { scopes = new[] { "" } }));
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/acme/token", key, 400, "invalid_json", Json("{"));
        await probe.ExpectAsync("POST", ByProvider, "/v1/providers/down/token", key, 502, "provider_unavailable");

        // Agent routes: bootstrap and the proxy.
        const string Proxy = "/v1/proxy/{connection_id}/{path}", Target = "/v1/targets/{target}/{path}";
        await probe.ExpectAsync("GET", Proxy, "/v1/proxy/nope/x", key, 404, "connection_not_found");
        await probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{dead}/x", narrow.Key, 403, "forbidden");
        await probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{acme}/a//b", key, 400, "invalid_path");
        await probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{dead}/x", key, 409, "reauth_required");
        await probe.ExpectAsync("POST", Proxy, $"/v1/proxy/{acme}/x", key, 413, "payload_too_large", Json("\"" + new string('x', 8 * 1024) + "\""));
        await probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{nobase}/x", key, 422, "no_api_base");
        await probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{down}/x", key, 502, "provider_unavailable");
        await probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{gone}/x", key, 502, "provider_unavailable");
        await probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{faraway}/x", key, 502, "upstream_address_refused");
        await probe.ExpectAsync("GET", Target, "/v1/targets/nope/x", key, 404, "target_not_found");
        await probe.ExpectAsync("GET", Target, $"/v1/targets/{mail}/x", narrow.Key, 403, "forbidden");
        await probe.ExpectAsync("GET", Target, $"/v1/targets/{mail}/a//b", key, 400, "invalid_path");
        await probe.ExpectAsync("PUT", Target, $"/v1/targets/{mail}/x", key, 413, "payload_too_large", Json("\"" + new string('x', 8 * 1024) + "\""));
        await probe.ExpectAsync("GET", Target, $"/v1/targets/{mail}/x", key, 409, "missing_scopes");

        // The provider timing out (2 s each, at once): a refresh for the token routes, the forward itself for the proxy.
        await Task.WhenAll(
            probe.ExpectAsync("POST", ByConnection, $"/v1/connections/{slow}/token", key, 504, "provider_unavailable"),
            probe.ExpectAsync("POST", ByProvider, "/v1/providers/slow/token", slowByProvider.Key, 504, "provider_unavailable"),
            probe.ExpectAsync("GET", Proxy, $"/v1/proxy/{acme}/hang", key, 504, "provider_unavailable"));

        // The failed-authentication lockout answers every route, on a server of its own (one failure locks the address out).
        await using (var locked = await ValetTestServer.StartAsync(new Dictionary<string, string?>
                     {
                         ["RateLimits:FailuresPerMinute"] = "1", ["RateLimits:FailureBurst"] = "1",
                     }))
        {
            var lockout = new Prober(locked.BaseUrl, probe);
            await lockout.ExpectAsync("GET", Orgs, Orgs, "wrong", 401, "unauthorized");
            foreach (var (method, template, _) in operations.Where(o => o.Method != "HEAD"))
            {
                await lockout.ExpectAsync(method, template, Concrete(template), ValetTestServer.AdminToken, 429, "rate_limited");
            }
        }

        // Every answer is listed by the document, for its operation and status.
        var failures = new List<string>(probe.Failures);
        foreach (var (method, template, status, code) in probe.Observed.Order())
        {
            if (!Listed(document, method, template).TryGetValue(status, out var codes) || !codes.Contains(code))
            {
                failures.Add($"{method} {template} answered {status} {code}; the document lists {(codes is null ? $"no {status}" : string.Join(", ", codes))}");
            }
        }

        // Each answer has every member its documented schema requires (members that may be null are left out on the wire).
        foreach (var ((method, template, status, code), body) in probe.Bodies.OrderBy(b => b.Key))
        {
            var operation = document.GetProperty("paths").GetProperty(template).GetProperty(method.ToLowerInvariant());
            if (operation.GetProperty("responses").TryGetProperty(status.ToString(System.Globalization.CultureInfo.InvariantCulture), out var response)
                && response.TryGetProperty("content", out var content) && content.TryGetProperty("application/problem+json", out var media))
            {
                failures.AddRange(MissingMembers(body, media.GetProperty("schema"), document, "")
                    .Select(m => $"{method} {template} {status} {code}: the schema requires {m}, the body has none: {body}"));
            }
        }

        // And every (status, code) the document lists is produced above, or said why not.
        var produced = probe.Observed.Select(o => $"{o.Status} {o.Code}").ToHashSet(StringComparer.Ordinal);
        var listedPairs = operations.SelectMany(o => Listed(document, o.Method, o.Template).SelectMany(s => s.Value.Select(c => $"{s.Key} {c}")))
            .ToHashSet(StringComparer.Ordinal);
        failures.AddRange(listedPairs.Where(p => !produced.Contains(p) && !NotReproducedHere.ContainsKey(p)).Order(StringComparer.Ordinal)
            .Select(p => $"the document lists {p}, which no request of this test produces (add one, or a reason to NotReproducedHere)"));
        failures.AddRange(NotReproducedHere.Keys.Where(p => produced.Contains(p) || !listedPairs.Contains(p))
            .Select(p => $"NotReproducedHere names {p}, which is {(produced.Contains(p) ? "produced after all" : "not in the document")}"));

        output.WriteLine($"{probe.Observed.Count} (operation, status, code) answers observed over {operations.Count} operations.");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public async Task EveryErrorResponse_ListsItsCodes_AsTheEnumOfCode_AndInItsDescription()
    {
        await using var server = await ValetTestServer.StartAsync();
        var document = await DocumentAsync(server);
        var failures = new List<string>();
        foreach (var (method, template, operation) in Operations(document))
        {
            foreach (var response in operation.GetProperty("responses").EnumerateObject().Where(r => int.Parse(r.Name, System.Globalization.CultureInfo.InvariantCulture) >= 400))
            {
                var where = $"{method} {template} {response.Name}";
                if (!response.Value.TryGetProperty("content", out var content) || !content.TryGetProperty("application/problem+json", out var media))
                {
                    failures.Add($"{where}: no application/problem+json body");
                    continue;
                }

                var codes = SchemaCodes(media.GetProperty("schema"), document);
                // The codes are the list after "Problem `code`:" (a 409's envelope advice before it names members in backticks too).
                var description = response.Value.GetProperty("description").GetString() ?? string.Empty;
                var list = description.IndexOf("Problem `code`:", StringComparison.Ordinal) is var at and >= 0 ? description[at..] : string.Empty;
                var described = Regex.Matches(list, "`([a-z][a-z0-9_]*)`")
                    .Select(m => m.Groups[1].Value).Where(c => c != "code").ToHashSet(StringComparer.Ordinal);
                if (codes.Count == 0)
                {
                    failures.Add($"{where}: the schema leaves code a free string");
                }
                else if (!codes.SetEquals(described))
                {
                    failures.Add($"{where}: the schema lists {string.Join(", ", codes.Order())}, the description {string.Join(", ", described.Order())}");
                }

                if (response.Name is "429" or "503" && !(response.Value.TryGetProperty("headers", out var headers) && headers.TryGetProperty("Retry-After", out _)))
                {
                    failures.Add($"{where}: no Retry-After header");
                }
            }
        }

        // The envelope is one schema, with the codes of SPEC §5, wherever it appears; ambiguous_connection carries its connections.
        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.False(schemas.TryGetProperty("AuthEnvelope", out _), "the envelope is described twice (AuthEnvelope and AuthRecoveryEnvelope)");
        Assert.Equal("#/components/schemas/AuthRecoveryEnvelope",
            schemas.GetProperty("BootstrapResponse").GetProperty("properties").GetProperty("needs").GetProperty("items").GetProperty("$ref").GetString());
        var byProvider = document.GetProperty("paths").GetProperty("/v1/providers/{provider}/token").GetProperty("post").GetProperty("responses").GetProperty("409")
            .GetProperty("content").GetProperty("application/problem+json").GetProperty("schema");
        Assert.Equal(["#/components/schemas/AmbiguousConnectionProblem", "#/components/schemas/AuthRecoveryEnvelope"],
            byProvider.GetProperty("oneOf").EnumerateArray().Select(a => a.GetProperty("$ref").GetString()).Order(StringComparer.Ordinal));
        var ambiguous = schemas.GetProperty("AmbiguousConnectionProblem").GetProperty("allOf")[1];
        Assert.Contains("connections", ambiguous.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("object", ambiguous.GetProperty("properties").GetProperty("connections").GetProperty("items").GetProperty("type").GetString());

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public async Task EveryProblemCodeInTheServerSource_IsInTheDocument_OrAnsweredOnlyOutsideIt()
    {
        await using var server = await ValetTestServer.StartAsync();
        var document = await DocumentAsync(server);
        var documented = Operations(document).SelectMany(o => Listed(document, o.Method, o.Template).Values).SelectMany(c => c).ToHashSet(StringComparer.Ordinal);

        var root = RepositoryRoot();
        var written = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in new[] { "src/Valet.Server", "src/Valet.Core" }.SelectMany(d => Directory.EnumerateFiles(Path.Combine(root, d), "*.cs", SearchOption.AllDirectories))
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(file);
            foreach (var pattern in CodePatterns)
            {
                foreach (Match match in pattern.Matches(text))
                {
                    written.TryAdd(match.Groups["code"].Value, Path.GetRelativePath(root, file));
                }
            }
        }

        // The helpers that name their code themselves, and the envelopes.
        Assert.Contains("org_not_found", written.Keys);
        foreach (var code in new[] { "unauthorized", "forbidden", "validation_failed", "needs_authentication", "reauth_required", "missing_scopes" })
        {
            written.TryAdd(code, "Problems / EnvelopeCodes");
        }

        var missing = written.Where(w => !documented.Contains(w.Key) && !NotInTheDocument.ContainsKey(w.Key)).Select(w => $"{w.Key} ({w.Value})").ToList();
        var stale = NotInTheDocument.Keys.Where(c => documented.Contains(c) || !written.ContainsKey(c)).ToList();
        Assert.True(missing.Count == 0, "Problem codes the server writes that no operation of the document lists:\n" + string.Join('\n', missing));
        Assert.True(stale.Count == 0, "NotInTheDocument names codes that are documented, or written nowhere any more: " + string.Join(", ", stale));
    }

    /// <summary>Where a code is written: a problem built with a literal code, a Core not-found outcome, a status-code page.</summary>
    private static readonly Regex[] CodePatterns =
    [
        new(@"Problems\.(?:Create|BadRequest|NotFound|Conflict|Unprocessable)\(\s*(?:[^,""()]+,\s*)?""(?<code>[a-z][a-z0-9_]*)""", RegexOptions.CultureInvariant),
        new(@"AccessOutcome\.NotFound\(\s*""(?<code>[a-z][a-z0-9_]*)""", RegexOptions.CultureInvariant),
        new(@"AccessOutcome\.NotFound\s+\w+\s*=\s*new\(\s*""(?<code>[a-z][a-z0-9_]*)""", RegexOptions.CultureInvariant),
        new(@"StatusCodes\.Status\d+\w*\s*=>\s*\(""(?<code>[a-z][a-z0-9_]*)""", RegexOptions.CultureInvariant),
        new(@"RefuseAsync\(context,\s*StatusCodes\.Status\d+\w*,\s*""(?<code>[a-z][a-z0-9_]*)""", RegexOptions.CultureInvariant),
    ];

    private static async Task<JsonElement> DocumentAsync(ValetTestServer server)
    {
        using var anonymous = server.Client(null);
        return await anonymous.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
    }

    private static IEnumerable<(string Method, string Template, JsonElement Operation)> Operations(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(p => p.Name is "get" or "put" or "post" or "delete" or "patch" or "head" or "options")
            .Select(p => (p.Name.ToUpperInvariant(), path.Name, p.Value)));

    /// <summary>The codes the document lists for one operation, per error status (from the schemas).</summary>
    private static Dictionary<int, HashSet<string>> Listed(JsonElement document, string method, string template)
    {
        var operation = document.GetProperty("paths").GetProperty(template).GetProperty(method.ToLowerInvariant());
        var listed = new Dictionary<int, HashSet<string>>();
        foreach (var response in operation.GetProperty("responses").EnumerateObject())
        {
            var status = int.Parse(response.Name, System.Globalization.CultureInfo.InvariantCulture);
            if (status >= 400 && response.Value.TryGetProperty("content", out var content)
                && content.TryGetProperty("application/problem+json", out var media))
            {
                listed[status] = SchemaCodes(media.GetProperty("schema"), document);
            }
        }

        return listed;
    }

    /// <summary>The values <c>code</c> may take under a schema: references followed, <c>oneOf</c> united, <c>allOf</c> narrowed.</summary>
    private static HashSet<string> SchemaCodes(JsonElement schema, JsonElement document)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            var name = reference.GetString()!["#/components/schemas/".Length..];
            return SchemaCodes(document.GetProperty("components").GetProperty("schemas").GetProperty(name), document);
        }

        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            return oneOf.EnumerateArray().SelectMany(a => SchemaCodes(a, document)).ToHashSet(StringComparer.Ordinal);
        }

        if (schema.TryGetProperty("allOf", out var allOf))
        {
            HashSet<string>? narrowed = null;
            foreach (var part in allOf.EnumerateArray().Select(a => SchemaCodes(a, document)).Where(c => c.Count > 0))
            {
                narrowed = narrowed is null ? part : narrowed.Intersect(part, StringComparer.Ordinal).ToHashSet(StringComparer.Ordinal);
            }

            return narrowed ?? [];
        }

        return schema.TryGetProperty("properties", out var properties) && properties.TryGetProperty("code", out var code) && code.TryGetProperty("enum", out var values)
            ? values.EnumerateArray().Select(v => v.GetString()!).ToHashSet(StringComparer.Ordinal)
            : [];
    }

    /// <summary>
    /// The members <paramref name="schema"/> requires that <paramref name="value"/> lacks, looking into nested objects and
    /// arrays; of a <c>oneOf</c>, the alternative whose codes include the body's.
    /// </summary>
    private static IEnumerable<string> MissingMembers(JsonElement value, JsonElement schema, JsonElement document, string at)
    {
        if (schema.TryGetProperty("$ref", out var reference))
        {
            var name = reference.GetString()!["#/components/schemas/".Length..];
            return MissingMembers(value, document.GetProperty("components").GetProperty("schemas").GetProperty(name), document, at);
        }

        if (schema.TryGetProperty("oneOf", out var oneOf))
        {
            var code = value.ValueKind == JsonValueKind.Object && value.TryGetProperty("code", out var c) ? c.GetString() : null;
            var alternative = oneOf.EnumerateArray().FirstOrDefault(a => code is not null && SchemaCodes(a, document).Contains(code));
            return alternative.ValueKind == JsonValueKind.Undefined ? [$"{at} (an alternative of oneOf for code {code})"] : MissingMembers(value, alternative, document, at);
        }

        var missing = new List<string>();
        foreach (var part in schema.TryGetProperty("allOf", out var allOf) ? allOf.EnumerateArray().ToList() : [])
        {
            missing.AddRange(MissingMembers(value, part, document, at));
        }

        if (value.ValueKind == JsonValueKind.Object)
        {
            foreach (var name in schema.TryGetProperty("required", out var required) ? required.EnumerateArray().Select(r => r.GetString()!) : [])
            {
                if (!value.TryGetProperty(name, out _))
                {
                    missing.Add($"{at}.{name}");
                }
            }

            foreach (var member in schema.TryGetProperty("properties", out var properties) ? properties.EnumerateObject() : Enumerable.Empty<JsonProperty>())
            {
                if (value.TryGetProperty(member.Name, out var inner))
                {
                    missing.AddRange(MissingMembers(inner, member.Value, document, $"{at}.{member.Name}"));
                }
            }
        }
        else if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            foreach (var (item, index) in value.EnumerateArray().Select((item, index) => (item, index)))
            {
                missing.AddRange(MissingMembers(item, items, document, $"{at}[{index}]"));
            }
        }

        return missing;
    }

    private static HashSet<string> Schemes(JsonElement operation) =>
        operation.TryGetProperty("security", out var security)
            ? security.EnumerateArray().SelectMany(r => r.EnumerateObject().Select(s => s.Name)).ToHashSet(StringComparer.Ordinal)
            : [];

    /// <summary>A request path for a template: the test org, "x" for ids, "p" for a proxied path.</summary>
    private static string Concrete(string template) =>
        Regex.Replace(template, @"\{(\w+)\}", m => m.Groups[1].Value switch { "org" => Org, "path" => "p", _ => "x" });

    private static StringContent Json(object body) =>
        new(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");

    private static async Task<JsonElement> PostOkAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {json}");
        return json;
    }

    private static int ClosedPort()
    {
        var port = ValetTestServer.FreePort();
        return port;
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Valet.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Valet.slnx not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Sends requests to one server and keeps every problem answer: (method, operation, status, code).</summary>
    private sealed class Prober
    {
        private readonly HttpClient _http;

        public Prober(Uri baseUrl, Prober? shared = null)
        {
            _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
            Failures = shared?.Failures ?? [];
            Observed = shared?.Observed ?? [];
            Bodies = shared?.Bodies ?? [];
        }

        /// <summary>One body per (method, operation, status, code) answered.</summary>
        public Dictionary<(string Method, string Template, int Status, string Code), JsonElement> Bodies { get; }

        public List<string> Failures { get; }

        public HashSet<(string Method, string Template, int Status, string Code)> Observed { get; }

        public async Task ExpectAsync(string method, string template, string path, string? bearer, int status, string code, HttpContent? body = null)
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = body };
            if (bearer is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
            }

            using var response = await _http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var answered = (int)response.StatusCode;
            string? actual = null;
            if (response.Content.Headers.ContentType?.MediaType == "application/problem+json")
            {
                actual = JsonDocument.Parse(text).RootElement.TryGetProperty("code", out var c) ? c.GetString() : null;
                lock (Observed)
                {
                    Observed.Add((method, template, answered, actual ?? "(none)"));
                    Bodies.TryAdd((method, template, answered, actual ?? "(none)"), JsonDocument.Parse(text).RootElement.Clone());
                }
            }

            if (answered != status || actual != code)
            {
                lock (Failures)
                {
                    Failures.Add($"{method} {path} ({template}): expected {status} {code}, the server answered {answered} {actual ?? text[..Math.Min(text.Length, 200)]}");
                }
            }
            else if (status is 429 or 503 && response.Headers.RetryAfter is null)
            {
                lock (Failures)
                {
                    Failures.Add($"{method} {path}: {status} without Retry-After");
                }
            }
        }
    }

    /// <summary>
    /// The providers' side: token endpoints that succeed (<c>/ok</c>), declare the grant dead (<c>/dead</c>), fail
    /// (<c>/fail</c>) or never answer (<c>/hang</c>); an API that answers, except <c>/api/hang</c>.
    /// </summary>
    private sealed class ProviderRig : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private ProviderRig(WebApplication app)
        {
            _app = app;
            Base = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            Port = new Uri(Base).Port;
        }

        public string Base { get; }

        public int Port { get; }

        public string Url(string path) => Base + path;

        public static async Task<ProviderRig> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            app.MapPost("/ok/token", () => Results.Json(new { access_token = "fresh-" + Guid.NewGuid().ToString("N"), token_type = "Bearer", expires_in = 3600 }));
            app.MapPost("/dead/token", () => Results.Json(new { error = "invalid_grant" }, statusCode: 400));
            app.MapPost("/fail/token", () => Results.StatusCode(StatusCodes.Status503ServiceUnavailable));
            app.MapPost("/hang/token", HangAsync);
            app.MapGet("/api/hang", HangAsync);
            app.Map("/api/{**rest}", () => Results.Json(new { ok = true }));
            await app.StartAsync();
            return new ProviderRig(app);
        }

        private static async Task<IResult> HangAsync(CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return Results.Ok();
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
