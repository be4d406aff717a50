using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Server.Hosting;

namespace Valet.Cli.Infrastructure;

internal sealed record ApiResponse(int Status, JsonElement Body)
{
    public bool IsSuccess => Status is >= 200 and < 300;

    public string? Code => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String
        ? c.GetString()
        : null;

    /// <summary>The problem's stable <c>code</c>, or <c>http_STATUS</c> when the answer was not a problem document.</summary>
    public string ErrorCode => Code ?? "http_" + Status;
}

/// <summary>
/// The CLI's HTTP client. Finds the server at <c>VALET_URL</c> (default http://127.0.0.1:7878) and authenticates with
/// <c>VALET_SERVICE_TOKEN</c> (only with an explicit <c>VALET_URL</c>, and only over https or to a loopback address), the
/// local service token from the data directory (only to a loopback address: it is the local server's), or
/// <c>VALET_ADMIN_TOKEN</c>, in that order. Never falls back to anything else.
/// </summary>
internal sealed class ValetApi : IDisposable
{
    private readonly HttpClient _http;

    private ValetApi(Uri baseUrl, string? token)
    {
        BaseUrl = baseUrl;
        _http = new HttpClient { BaseAddress = baseUrl, Timeout = Timeout.InfiniteTimeSpan };
        if (token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public Uri BaseUrl { get; }

    public static ValetApi FromEnvironment()
    {
        var url = Environment.GetEnvironmentVariable("VALET_URL");
        if (string.IsNullOrWhiteSpace(url))
        {
            url = ValetSettings.DefaultUrl;
        }

        // Uri accepts "localhost:7878" as an absolute URL with the scheme "localhost"; HttpClient would then throw.
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https") ||
            baseUrl.Host.Length == 0)
        {
            throw new CliException($"VALET_URL '{url}' is not an http(s) URL such as {ValetSettings.DefaultUrl}.", ExitCodes.Usage);
        }

        // The service principal may do everything the admin may, and also the /internal routes `valet connect` uses: a
        // hosted server's VALET_SERVICE_TOKEN when the operator set it here too (and named that server in VALET_URL: the
        // token is not sent to whatever listens on the default local address), else the local data directory's file, else
        // the admin token (enough for every verb but connect's).
        var hostedService = string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("VALET_URL"))
            ? null : NonEmpty(Environment.GetEnvironmentVariable("VALET_SERVICE_TOKEN"));
        if (hostedService is not null && baseUrl.Scheme == Uri.UriSchemeHttp && !baseUrl.IsLoopback)
        {
            // It can read every org's tokens: never in clear text across a network.
            throw new CliException($"VALET_SERVICE_TOKEN is sent only over https or to a loopback address, and VALET_URL is {baseUrl.GetLeftPart(UriPartial.Authority)}.",
                ExitCodes.Usage);
        }

        // The data directory's token belongs to the server on this machine that uses that directory: never sent to another
        // host (an operator who ran the demo, then pointed VALET_URL at a remote node, sent it there and got a 401).
        var directory = ValetSettings.DefaultDataDirectory();
        var local = baseUrl.IsLoopback ? ServiceTokenFile.TryRead(directory) : null;
        var admin = NonEmpty(Environment.GetEnvironmentVariable("VALET_ADMIN_TOKEN"));
        (var token, Credential) = (hostedService, local, admin) switch
        {
            ({ } service, _, _) => (service, "VALET_SERVICE_TOKEN"),
            (_, { } file, _) => (file, $"the service token of the data directory {directory} (is VALET_DATA_DIR the server's?)"),
            (_, _, { } operator_) => (operator_, "VALET_ADMIN_TOKEN"),
            _ => ((string?)null, (string?)null),
        };
        return new ValetApi(baseUrl, token);
    }

    /// <summary>Which credential this process sends (for a 401's message); null when it found none.</summary>
    private static string? Credential { get; set; }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    public Task<ApiResponse> GetAsync(string path, CancellationToken cancellationToken) => SendAsync(HttpMethod.Get, path, null, cancellationToken);

    public Task<ApiResponse> PostAsync(string path, object? body, CancellationToken cancellationToken) => SendAsync(HttpMethod.Post, path, body, cancellationToken);

    public async Task<ApiResponse> SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path.TrimStart('/'));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: CliJson.Options);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException)
        {
            throw new CliException($"cannot reach the Valet server at {BaseUrl.ToString().TrimEnd('/')}. Start it with `valet serve` (or set VALET_URL).",
                code: "server_unreachable");
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            JsonElement json;
            try
            {
                json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
            }
            catch (JsonException)
            {
                json = default;
            }

            return new ApiResponse((int)response.StatusCode, json);
        }
    }

    /// <summary>Returns the body of a success, or throws a one-line <see cref="CliException"/> from the problem document.</summary>
    public static JsonElement EnsureSuccess(ApiResponse response)
    {
        if (response.IsSuccess)
        {
            return response.Body;
        }

        throw new CliException(Describe(response), code: response.ErrorCode);
    }

    public static string Describe(ApiResponse response)
    {
        if (response.Body.ValueKind != JsonValueKind.Object)
        {
            return $"the server answered HTTP {response.Status}.";
        }

        var body = response.Body;
        var message = body.TryGetProperty("detail", out var detail) ? detail.GetString() : body.TryGetProperty("title", out var title) ? title.GetString() : null;
        var code = response.ErrorCode;
        if (response.Status == 401)
        {
            message = Credential is null
                ? "not authorized: no token was found to send. Set VALET_ADMIN_TOKEN to the server's admin token (or, for a server on this machine, VALET_DATA_DIR to its data directory)."
                : $"not authorized: the server did not accept {Credential}.";
        }

        var fields = body.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Object
            ? " " + string.Join("; ", errors.EnumerateObject().Select(e => $"{e.Name}: {string.Join(", ", e.Value.EnumerateArray().Select(v => v.GetString()))}"))
            : string.Empty;
        return $"{message}{fields} ({code})";
    }

    public void Dispose() => _http.Dispose();
}
