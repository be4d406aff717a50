using System.Net.Http.Headers;
using System.Text.Json;
using Valet.Core.OAuth;

namespace Valet.Core.Providers;

/// <summary>What an authorization server's metadata document says (RFC 8414 / OIDC Discovery 1.0).</summary>
internal sealed record DiscoveryDocument
{
    public required string Issuer { get; init; }
    public Uri? AuthorizationEndpoint { get; init; }
    public Uri? TokenEndpoint { get; init; }
    public Uri? RevocationEndpoint { get; init; }
    public Uri? UserInfoEndpoint { get; init; }
    public bool IssParameterSupported { get; init; }

    /// <summary>RFC 8628 <c>device_authorization_endpoint</c>, when advertised.</summary>
    public Uri? DeviceAuthorizationEndpoint { get; init; }
}

internal static class ProviderDiscovery
{
    private static readonly TimeSpan PerDocumentTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// RFC 8414 §3.1 inserts the well-known segment between host and issuer path; OIDC Discovery appends it.
    /// Tried in that order, then the RFC 8414 §5 compatibility form (OIDC name, inserted).
    /// </summary>
    public static IReadOnlyList<Uri> CandidateUrls(Uri issuer)
    {
        var root = $"{issuer.Scheme}://{issuer.Authority}";
        var path = issuer.AbsolutePath.TrimEnd('/');
        var list = new List<Uri> { new($"{root}/.well-known/oauth-authorization-server{path}") };
        list.Add(new($"{root}{path}/.well-known/openid-configuration"));
        if (path.Length > 0)
        {
            list.Add(new($"{root}/.well-known/openid-configuration{path}"));
        }

        return list;
    }

    /// <summary>Fetches and checks the metadata. Returns the document, or appends a problem and returns null.</summary>
    public static async Task<DiscoveryDocument?> DiscoverAsync(string id, string issuer, Uri issuerUri, bool allowPrivate, HttpClient http,
        List<string> problems, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        foreach (var url in CandidateUrls(issuerUri))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(PerDocumentTimeout);
            JsonElement root;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url).For(allowPrivate);
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                using var response = await http.SendAsync(request, timeout.Token);
                if (OAuthHttp.IsRedirect(response, url))
                {
                    // Not followed (the metadata names the endpoints credentials go to); the next candidate may still answer.
                    failures.Add($"{NetworkHosts.Describe(url)} answered a redirect (HTTP {(int)response.StatusCode}), which Valet does not follow");
                    continue;
                }

                if (!response.IsSuccessStatusCode)
                {
                    failures.Add($"{NetworkHosts.Describe(url)} answered HTTP {(int)response.StatusCode}");
                    continue;
                }

                var body = await response.Content.ReadAsStringAsync(timeout.Token);
                using var document = JsonDocument.Parse(body);
                root = document.RootElement.Clone();
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{NetworkHosts.Describe(url)} timed out");
                continue;
            }
            catch (HttpRequestException e)
            {
                failures.Add(e.InnerException is AddressRefusedException refused
                    ? refused.Message
                    : $"{NetworkHosts.Describe(url)} could not be reached ({e.HttpRequestError})");
                continue;
            }
            catch (JsonException)
            {
                failures.Add($"{NetworkHosts.Describe(url)} did not return JSON");
                continue;
            }

            return Read(id, issuer, url, root, problems);
        }

        problems.Add($"provider '{id}': discovery for issuer {issuer} failed: {string.Join("; ", failures)}.");
        return null;
    }

    private static DiscoveryDocument? Read(string id, string issuer, Uri url, JsonElement root, List<string> problems)
    {
        var where = $"provider '{id}'";
        if (root.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{where}: the discovery document at {NetworkHosts.Describe(url)} is not a JSON object.");
            return null;
        }

        var advertised = String(root, "issuer");
        if (!string.Equals(advertised, issuer, StringComparison.Ordinal))
        {
            // RFC 8414 §3.3 / OIDC Discovery §4.3: the issuer must be identical, or the metadata is not to be used.
            problems.Add($"{where}: issuer mismatch: configured '{issuer}', the discovery document at {NetworkHosts.Describe(url)} says '{advertised ?? "(none)"}'.");
            return null;
        }

        var count = problems.Count;
        var doc = new DiscoveryDocument
        {
            Issuer = issuer,
            AuthorizationEndpoint = Endpoint(root, "authorization_endpoint", where, problems),
            TokenEndpoint = Endpoint(root, "token_endpoint", where, problems),
            RevocationEndpoint = Endpoint(root, "revocation_endpoint", where, problems),
            UserInfoEndpoint = Endpoint(root, "userinfo_endpoint", where, problems),
            DeviceAuthorizationEndpoint = Endpoint(root, "device_authorization_endpoint", where, problems),
            IssParameterSupported = root.TryGetProperty("authorization_response_iss_parameter_supported", out var iss)
                && iss.ValueKind == JsonValueKind.True,
        };
        return problems.Count == count ? doc : null;
    }

    private static string? String(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static Uri? Endpoint(JsonElement root, string name, string where, List<string> problems)
    {
        var raw = String(root, name);
        if (raw is null)
        {
            return null;
        }

        if (NetworkHosts.TryParseHttpUrl(raw, out var uri))
        {
            return uri;
        }

        problems.Add($"{where}: the discovery document's {name} is not an absolute http(s) URL.");
        return null;
    }
}
