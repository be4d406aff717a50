using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Valet.Cli.Infrastructure;
using Valet.Core;
using Valet.Core.Providers;
using Valet.Core.Vault;
using Valet.Server.Hosting;

namespace Valet.Cli.Commands;

/// <summary><c>valet serve</c>: the server. A failed boot check prints one line and exits 2.</summary>
internal static class ServeCommand
{
    public static readonly Option<string?> Urls = CreateUrls();

    private static Option<string?> CreateUrls()
    {
        var urls = new Option<string?>("--urls") { Description = $"Listening address(es), ';'-separated, default {ValetSettings.DefaultUrl}" };
        urls.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && ListenAddresses.Problem(result.Tokens[^1].Value, "--urls") is { } problem)
            {
                result.AddError(problem);
            }
        });
        return urls;
    }

    public static Command Create()
    {
        var command = new Command("serve", "Run the Valet server: API, OAuth callback, proxy and background refresher").With(Urls);
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(Urls), null, cancellationToken));
        return command;
    }

    public static async Task<int> RunAsync(string? urls, IReadOnlyDictionary<string, string?>? overrides, CancellationToken cancellationToken)
    {
        // The host also reads addresses from the environment (VALET_URLS wins over --urls; ASPNETCORE_URLS only without it).
        foreach (var variable in urls is null ? new[] { "VALET_URLS", "ASPNETCORE_URLS" } : ["VALET_URLS"])
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value && ListenAddresses.Problem(value, variable) is { } problem)
            {
                throw new CliException(problem, ExitCodes.Usage);
            }
        }

        var args = urls is null ? Array.Empty<string>() : ["--urls", urls];
        await using var app = await BuildHostAsync(args, overrides, cancellationToken);
        await StartAsync(app, "is another `valet serve` running? pass --urls to choose another address", cancellationToken);
        await app.WaitForShutdownAsync(cancellationToken);
        return ExitCodes.Success;
    }

    /// <summary>Builds the host; every configuration problem, the data directory's and valet.json's included, is one usage line.</summary>
    internal static async Task<WebApplication> BuildHostAsync(string[] args, IReadOnlyDictionary<string, string?>? overrides,
        CancellationToken cancellationToken)
    {
        try
        {
            return await ValetHost.BuildAsync(args, overrides, cancellationToken: cancellationToken);
        }
        catch (Exception error) when (error is ValetConfigurationException or CatalogValidationException or VaultException)
        {
            throw new CliException(error.Message, ExitCodes.Usage);
        }
        catch (Exception error) when (BootErrors.Describe(error) is { } usage)
        {
            throw usage;
        }
    }

    /// <summary>Starts listening; an address in use is one line ending in <paramref name="hint"/>.</summary>
    internal static async Task StartAsync(WebApplication app, string hint, CancellationToken cancellationToken)
    {
        // Checked before the host starts: a failed start logs the bind error's stack trace and, as the host is then disposed,
        // every background service's cancellation as a failure (about 100 lines for a port in use). The check can race
        // another process binding in between; then the host's own error below still ends in one line.
        // Endpoints from a Kestrel:Endpoints section (HTTPS with a certificate) replace the urls: nothing to check here then.
        if (!app.Configuration.GetSection("Kestrel:Endpoints").Exists() &&
            ListenAddresses.InUse(app.Configuration["urls"] ?? ValetSettings.DefaultUrl) is { } taken)
        {
            throw new CliException($"cannot listen on {taken}: the address is already in use ({hint}).", ExitCodes.Failure);
        }

        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (IOException error)
        {
            await StopQuietlyAsync(app);
            throw new CliException($"cannot listen: {error.Message} ({hint}).", ExitCodes.Failure);
        }
        catch (FormatException error)
        {
            await StopQuietlyAsync(app);
            // An address from configuration (valet.json "urls") that Kestrel cannot read; the CLI checked the ones it can see.
            throw new CliException($"cannot listen: {error.Message} (a listening address looks like {ValetSettings.DefaultUrl}).", ExitCodes.Usage);
        }
    }

    /// <summary>A host whose start failed is stopped before it is disposed, so its background services end as stopped, not failed.</summary>
    private static async Task StopQuietlyAsync(WebApplication app)
    {
        try
        {
            await app.StopAsync(CancellationToken.None);
        }
        catch (Exception)
        {
            // Stopping what never fully started: nothing to report beyond the start's own error.
        }
    }
}
