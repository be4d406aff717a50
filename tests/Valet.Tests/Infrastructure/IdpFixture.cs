using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Valet.Tests.Infrastructure;

/// <summary>
/// The real authorization server: <c>tests/idp/server.mjs</c> (oidc-provider, pinned by package-lock.json) as a child
/// process on 127.0.0.1, with PKCE required and rotating refresh tokens, plus its test-control API.
/// </summary>
public class IdpFixture : IAsyncLifetime
{
    public const string ClientId = "valet-test";
    public const string ClientSecret = "valet-test-secret";
    public const string BasicClientId = "valet-basic";
    public const string BasicClientSecret = "valet-basic-secret";

    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private Process? _process;
    private readonly StringBuilder _stderr = new();

    /// <summary>Access token lifetime in seconds (override in a derived fixture for short-lived tokens).</summary>
    protected virtual int AccessTokenTtl => 3600;

    public string Issuer { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public static string IdpDirectory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "tests", "idp", "server.mjs")))
            {
                dir = dir.Parent;
            }

            return dir is null ? throw new InvalidOperationException("tests/idp/server.mjs not found above " + AppContext.BaseDirectory)
                : Path.Combine(dir.FullName, "tests", "idp");
        }
    }

    /// <summary>Valet configuration for an operator-defined provider <paramref name="id"/> discovered from this issuer.</summary>
    public Dictionary<string, string?> ProviderSettings(string id = "idp", bool basic = false) => new()
    {
        [$"Providers:{id}:Issuer"] = Issuer,
        [$"Providers:{id}:ClientId"] = basic ? BasicClientId : ClientId,
        [$"Providers:{id}:ClientSecret"] = basic ? BasicClientSecret : ClientSecret,
        [$"Providers:{id}:TokenEndpointAuthMethod"] = basic ? "client_secret_basic" : "client_secret_post",
        [$"Providers:{id}:Scopes"] = "openid offline_access profile read",
        [$"Providers:{id}:ApiBaseUrl"] = Issuer + "/api",
        [$"Providers:{id}:AllowPrivateNetwork"] = "true",
    };

    public async Task InitializeAsync()
    {
        await EnsureInstalledAsync();
        var info = new ProcessStartInfo("node", "server.mjs")
        {
            WorkingDirectory = IdpDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["PORT"] = "0";
        info.Environment["ACCESS_TOKEN_TTL"] = AccessTokenTtl.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line is null || !line.Contains("\"ready\":true", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The IdP did not start: {line} {StdErr}");
        }

        Issuer = JsonDocument.Parse(line).RootElement.GetProperty("issuer").GetString()!;
    }

    public string StdErr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public async Task<JsonElement> StatsAsync() => await Http.GetFromJsonAsync<JsonElement>(Issuer + "/__control/stats");

    public async Task<int> RefreshRequestsAsync() => (await StatsAsync()).GetProperty("refresh_token").GetInt32();

    public async Task ResetAsync() => (await Http.PostAsJsonAsync(Issuer + "/__control/reset", new { })).EnsureSuccessStatusCode();

    /// <summary>How the token endpoint answers <paramref name="grant"/>; mode <c>oauth_error</c> answers 400 with <paramref name="error"/>.</summary>
    public async Task SetFaultAsync(string mode, string grant = "refresh_token", int times = -1, int retryAfter = 1, string? error = null) =>
        (await Http.PostAsJsonAsync(Issuer + "/__control/fault", new { mode, grant, times, retryAfter, error })).EnsureSuccessStatusCode();

    /// <summary>The token endpoint waits <paramref name="delayMs"/> before answering <paramref name="grant"/> requests normally.</summary>
    public async Task SetSlowAsync(int delayMs, string grant = "refresh_token") =>
        (await Http.PostAsJsonAsync(Issuer + "/__control/fault", new { mode = "slow", grant, times = -1, delayMs })).EnsureSuccessStatusCode();

    public async Task SetIssModeAsync(string mode) => (await Http.PostAsJsonAsync(Issuer + "/__control/iss", new { mode })).EnsureSuccessStatusCode();

    /// <summary>RFC 7662 introspection at the IdP: is this token (access or refresh) still active?</summary>
    public async Task<bool> IsActiveAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Issuer + "/token/introspection")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.ASCII.GetBytes("introspector:introspector-secret")));
        using var response = await Http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("active").GetBoolean();
    }

    public Task DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }

        _process?.Dispose();
        Http.Dispose();
        return Task.CompletedTask;
    }

    /// <summary><c>npm ci</c> once when node_modules is missing (the test script does it too; this covers a bare dotnet test).</summary>
    private static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            if (Directory.Exists(Path.Combine(IdpDirectory, "node_modules", "oidc-provider")))
            {
                return;
            }

            var info = new ProcessStartInfo("npm", "ci --no-audit --no-fund") { WorkingDirectory = IdpDirectory, RedirectStandardError = true, RedirectStandardOutput = true };
            using var npm = Process.Start(info)!;
            var error = npm.StandardError.ReadToEndAsync();
            await npm.StandardOutput.ReadToEndAsync();
            await npm.WaitForExitAsync();
            if (npm.ExitCode != 0)
            {
                throw new InvalidOperationException("npm ci in tests/idp failed: " + await error);
            }
        }
        finally
        {
            InstallLock.Release();
        }
    }
}

/// <summary>An IdP whose access tokens live 30 seconds, for refresh tests.</summary>
public sealed class ShortLivedIdpFixture : IdpFixture
{
    protected override int AccessTokenTtl => 30;
}

[CollectionDefinition("idp")]
public sealed class IdpCollection : ICollectionFixture<IdpFixture>, ICollectionFixture<BrowserFixture>;

/// <summary>
/// The dashboard's and the connect pages' browser tests, on an IdP and a browser of their own: with every IdP test in one
/// collection, that collection (which runs its classes one after another) was the suite's longest path.
/// </summary>
[CollectionDefinition(Name)]
public sealed class IdpPagesCollection : ICollectionFixture<IdpFixture>, ICollectionFixture<BrowserFixture>
{
    public const string Name = "idp-pages";
}
