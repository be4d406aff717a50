using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Valet.Cli.Infrastructure;
using Valet.Core;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Server.Hosting;
using Valet.Storage;

namespace Valet.Cli.Commands;

/// <summary>
/// <c>valet vault rotate</c>: re-encrypts every sealed value under the current key (the first of
/// <c>VALET_ENCRYPTION_KEYS</c>). Works on the database directly; safe to interrupt and run again.
/// </summary>
internal static class VaultCommand
{
    public static Command Create()
    {
        var rotate = new Command("rotate", "Re-encrypt all stored secrets under the current encryption key").With(Verb.Json);
        rotate.SetAction(async (parse, cancellationToken) =>
        {
            ServiceProvider services;
            VaultKeyRing ring;
            try
            {
                var configuration = new ConfigurationBuilder()
                    .AddJsonFile(Path.Combine(ValetSettings.DefaultDataDirectory(), "valet.json"), optional: true)
                    .AddEnvironmentVariables("VALET_")
                    .Build();
                var settings = ValetSettings.From(configuration);
                var database = DatabaseTarget.Parse(settings.Database, settings.DataDirectory);

                // Nothing to rotate in a database that does not exist: a mistyped VALET_DATA_DIR would otherwise get a new
                // key, a new empty database and "re-encrypted 0 values", which reads like a successful rotation.
                if (database.SqlitePath is { } file && !File.Exists(file))
                {
                    throw new CliException($"no Valet database at {file}: nothing to rotate (is VALET_DATA_DIR or VALET_DATABASE right?).", ExitCodes.Usage);
                }

                ring = VaultKeyRing.Load(settings.EncryptionKey, settings.EncryptionKeys, database.IsPostgres, settings.DataDirectory);
                var collection = new ServiceCollection();
                collection.AddSingleton(TimeProvider.System);
                collection.AddSingleton<IVault>(new XChaChaVault(ring));
                collection.AddValetStorage(database);
                services = collection.BuildServiceProvider();
            }
            catch (ValetConfigurationException error)
            {
                throw new CliException(error.Message, ExitCodes.Usage);
            }
            catch (Exception error) when (BootErrors.Describe(error) is { } usage)
            {
                throw usage;
            }

            await using (services)
            {
                await services.GetRequiredService<StorageInitializer>().InitializeAsync(cancellationToken);
                var maintenance = services.GetRequiredService<IVaultMaintenance>();
                try
                {
                    await maintenance.VerifyKeyAsync(cancellationToken);
                }
                catch (VaultException error)
                {
                    var reported = error is VaultKeyMismatchException mismatch ? ring.DiscardGeneratedKey(mismatch) ?? error : error;
                    throw new CliException(reported.Message, ExitCodes.Usage);
                }

                var before = await maintenance.CountStaleAsync(cancellationToken);
                var progress = new InlineProgress<RotationProgress>(p =>
                    Console.Error.WriteLine($"  {p.Table}.{p.Column}: {p.Done} re-encrypted, {p.Remaining} to go"));
                var done = await maintenance.RotateAsync(progress, cancellationToken);
                var current = services.GetRequiredService<IVault>().CurrentKeyId;
                if (parse.GetValue(Verb.Json))
                {
                    CliJson.Print(new { key_id = current, stale_before = before, reencrypted = done });
                }
                else
                {
                    Console.Out.WriteLine($"Re-encrypted {done} value(s) under key '{current}' ({before} were stale).");
                }
            }

            return ExitCodes.Success;
        });
        return new Command("vault", "Encryption at rest").With(rotate);
    }
}

/// <summary>Reports on the caller's thread, so progress lines come out in order.</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
