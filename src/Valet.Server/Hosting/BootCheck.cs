using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Valet.Core;
using Valet.Core.Providers;
using Valet.Core.Vault;

namespace Valet.Server.Hosting;

/// <summary>
/// Turns each kind of configuration failure into readable problem lines, so <see cref="ValetHost"/> can report every
/// problem of a boot together as one <see cref="ValetConfigurationException"/>.
/// </summary>
internal static class BootCheck
{
    public static T? Run<T>(List<string> problems, Func<T> check) where T : class
    {
        try
        {
            return check();
        }
        catch (Exception error) when (Describe(error) is { } lines)
        {
            problems.AddRange(lines);
            return null;
        }
    }

    public static async Task<T?> RunAsync<T>(List<string> problems, Func<Task<T>> check) where T : class
    {
        try
        {
            return await check();
        }
        catch (Exception error) when (Describe(error) is { } lines)
        {
            problems.AddRange(lines);
            return null;
        }
    }

    /// <summary>Validates every options section registered with <c>ValidateOnStart</c>; throws one block naming each failure.</summary>
    public static void Options(IServiceProvider services)
    {
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
        }
        catch (Exception error) when (Describe(error) is { } lines)
        {
            throw new ValetConfigurationException(lines);
        }
    }

    private static IReadOnlyList<string>? Describe(Exception error) => error switch
    {
        ValetConfigurationException configuration => configuration.Problems,
        CatalogValidationException catalog => [.. catalog.Problems.Select(problem => "provider catalog: " + problem)],
        OptionsValidationException options => options.Failures.ToList(),
        AggregateException aggregate when aggregate.InnerExceptions.All(inner => inner is OptionsValidationException) =>
            [.. aggregate.InnerExceptions.Cast<OptionsValidationException>().SelectMany(inner => inner.Failures)],

        // The binder's own failure (a TimeSpan that is not one): its message names the key, not the value.
        InvalidOperationException binding when binding.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) =>
            [binding.Message],
        VaultException vault and not VaultKeyMismatchException => [vault.Message],
        _ => null,
    };
}
