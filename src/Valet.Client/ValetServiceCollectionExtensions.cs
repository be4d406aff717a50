using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Options;
using Valet.Client;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="ValetClient"/> and the access-token handler.</summary>
public static class ValetServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="ValetClient"/> (over the named <see cref="HttpClient"/> <see cref="ValetClient.HttpClientName"/>),
    /// its options and the token cache. Safe to call twice. Returns the builder of Valet's own <see cref="HttpClient"/>,
    /// to add handlers to it.
    /// </summary>
    public static IHttpClientBuilder AddValetClient(this IServiceCollection services, Action<ValetClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<ValetClientOptions>().Configure(configure);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ValetClientOptions>, ValetClientOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ValetTokenCache>();
        services.TryAddTransient(sp => new ValetClient(sp.GetRequiredService<IHttpClientFactory>().CreateClient(ValetClient.HttpClientName),
            sp.GetRequiredService<TimeProvider>(), ownsHttp: false));
        return services.AddHttpClient(ValetClient.HttpClientName, (sp, http) =>
            {
                var options = sp.GetRequiredService<IOptionsMonitor<ValetClientOptions>>().CurrentValue;
                ValetClient.Configure(http, options.BaseAddress!, options.ApiKey!);
            })
            // As the client made without DI: a provider's 3xx through the proxy is the answer, not something to follow.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false });
    }

    /// <summary>
    /// Injects a Valet access token into the requests of this <see cref="HttpClient"/> to <paramref name="authorizedUrls"/>
    /// (default: the client's configured <see cref="HttpClient.BaseAddress"/>): by <paramref name="provider"/> (the one
    /// connection of it the key may use) or by <paramref name="connectionId"/> — exactly one of the two — optionally
    /// requiring <paramref name="scopes"/>. Needs <see cref="AddValetClient"/>. See <see cref="ValetAccessTokenHandler"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// When the client is created: no <paramref name="authorizedUrls"/> and no <see cref="HttpClient.BaseAddress"/> configured.
    /// </exception>
    public static IHttpClientBuilder AddValetAccessToken(this IHttpClientBuilder builder, string? provider = null, string? connectionId = null,
        IEnumerable<string>? scopes = null, IEnumerable<Uri>? authorizedUrls = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if ((provider is null) == (connectionId is null))
        {
            throw new ArgumentException("Name exactly one of provider or connectionId.", provider is null ? nameof(provider) : nameof(connectionId));
        }

        var source = provider is not null ? ValetTokenSource.ForProvider(provider, scopes) : ValetTokenSource.ForConnection(connectionId!, scopes);
        return builder.AddValetAccessToken(source, authorizedUrls);
    }

    /// <summary>Injects a Valet access token from <paramref name="source"/>; see the other overload.</summary>
    public static IHttpClientBuilder AddValetAccessToken(this IHttpClientBuilder builder, ValetTokenSource source, IEnumerable<Uri>? authorizedUrls = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(source);
        var urls = authorizedUrls?.ToList();
        if (urls is not null && (urls.Count == 0 || urls.Any(u => u is not { IsAbsoluteUri: true })))
        {
            throw new ArgumentException("authorizedUrls must name at least one absolute URL (or be null: the client's BaseAddress).", nameof(authorizedUrls));
        }

        var name = builder.Name;
        return builder.AddHttpMessageHandler(sp => new ValetAccessTokenHandler(sp.GetRequiredService<ValetClient>(),
            sp.GetRequiredService<ValetTokenCache>(), source, urls ?? [ConfiguredBaseAddress(sp, name)]));
    }

    /// <summary>
    /// The <see cref="HttpClient.BaseAddress"/> the named client is configured with: its configuration actions, run on a
    /// throwaway <see cref="HttpClient"/> (the factory runs the same actions on every client it creates).
    /// </summary>
    private static Uri ConfiguredBaseAddress(IServiceProvider services, string name)
    {
        var options = services.GetRequiredService<IOptionsMonitor<HttpClientFactoryOptions>>().Get(name);
        using var probe = new HttpClient();
        foreach (var configure in options.HttpClientActions)
        {
            configure(probe);
        }

        return probe.BaseAddress is { IsAbsoluteUri: true } address
            ? address
            : throw new InvalidOperationException(
                $"AddValetAccessToken on the HttpClient '{name}' sends the token only to the URLs it may go to, and that client has none: " +
                "set its BaseAddress in AddHttpClient, or pass authorizedUrls.");
    }
}

/// <summary>Every problem of the options at once.</summary>
internal sealed class ValetClientOptionsValidator : IValidateOptions<ValetClientOptions>
{
    public ValidateOptionsResult Validate(string? name, ValetClientOptions options)
    {
        var problems = new List<string>();
        if (options.BaseAddress is not { IsAbsoluteUri: true })
        {
            problems.Add("Valet:BaseAddress must be an absolute URL (where Valet listens, e.g. http://127.0.0.1:7878).");
        }

        if (string.IsNullOrWhiteSpace(options.ApiKey))
        {
            problems.Add("Valet:ApiKey is required (the agent's API key).");
        }

        if (options.TokenRefreshMargin < TimeSpan.Zero || options.UnknownExpiryCacheDuration < TimeSpan.Zero)
        {
            problems.Add("Valet token cache durations must not be negative.");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
