using System.CommandLine;
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
    public static readonly Option<string?> Urls = new("--urls") { Description = "Listening address(es), default http://127.0.0.1:7878" };

    public static Command Create()
    {
        var command = new Command("serve", "Run the Valet server: API, OAuth callback, proxy and background refresher").With(Urls);
        command.SetAction((parse, cancellationToken) => RunAsync(parse.GetValue(Urls), null, cancellationToken));
        return command;
    }

    public static async Task<int> RunAsync(string? urls, IReadOnlyDictionary<string, string?>? overrides, CancellationToken cancellationToken)
    {
        var args = urls is null ? Array.Empty<string>() : ["--urls", urls];
        Microsoft.AspNetCore.Builder.WebApplication app;
        try
        {
            app = await ValetHost.BuildAsync(args, overrides, cancellationToken: cancellationToken);
        }
        catch (Exception error) when (error is ValetConfigurationException or CatalogValidationException or VaultException)
        {
            throw new CliException(error.Message, ExitCodes.Usage);
        }

        await using (app)
        {
            try
            {
                await app.StartAsync(cancellationToken);
            }
            catch (IOException error)
            {
                throw new CliException($"cannot listen: {error.Message} (is another `valet serve` running? pass --urls to choose another address).", ExitCodes.Failure);
            }

            await app.WaitForShutdownAsync(cancellationToken);
        }

        return ExitCodes.Success;
    }
}
