using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>A provider fake on real Kestrel, 127.0.0.1, ephemeral port.</summary>
internal static class FakeHost
{
    public static async Task<WebApplication> StartAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    public static Uri BaseUrl(WebApplication app) => new(app.Urls.First().TrimEnd('/') + "/");
}

/// <summary>One request as a provider received it: what a fidelity test asserts on (format, client authentication, headers).</summary>
internal sealed record RecordedRequest(string Path, string ContentType, string? Authorization, string? NotionVersion, string Body)
{
    /// <summary>The body as JSON, when it is JSON.</summary>
    public JsonElement? Json
    {
        get
        {
            try
            {
                return JsonDocument.Parse(Body).RootElement;
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }

    /// <summary>The body as form fields, when it is form-encoded.</summary>
    public Dictionary<string, string> Form =>
        QueryHelpers.ParseQuery("?" + Body).ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);

    public static async Task<RecordedRequest> ReadAsync(HttpRequest request)
    {
        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync();
        return new RecordedRequest(request.Path.Value ?? string.Empty, request.ContentType ?? string.Empty,
            request.Headers.Authorization.FirstOrDefault(), request.Headers["Notion-Version"].FirstOrDefault(), body);
    }
}

/// <summary>Connect through a Valet server as a person would: start the flow, let the fake's authorize endpoint redirect, follow to the callback.</summary>
internal static class FidelityConnect
{
    public static async Task<(string ConnectionId, JsonElement Connection)> ConnectAsync(ValetTestServer server, string provider, string org = "default",
        string[]? scopes = null)
    {
        using var admin = server.Client();
        using var started = await admin.PostAsJsonAsync($"/v1/orgs/{org}/connect", new { provider, scopes });
        var flow = await started.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(started.IsSuccessStatusCode, flow.ToString());

        // The browser: the provider's authorize page answers with a redirect to Valet's callback.
        using var browser = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        using var consent = await browser.GetAsync(flow.GetProperty("authorize_url").GetString());
        Assert.Equal(HttpStatusCode.Redirect, consent.StatusCode);
        using var callback = await browser.GetAsync(consent.Headers.Location);
        var page = await callback.Content.ReadAsStringAsync();
        Assert.True(page.Contains("data-success=\"true\"", StringComparison.Ordinal), page);

        var done = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flow.GetProperty("flow_id").GetString()}/wait?timeout=10");
        Assert.Equal("complete", done.GetProperty("status").GetString());
        var id = done.GetProperty("connection_id").GetString()!;
        return (id, await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}"));
    }
}
