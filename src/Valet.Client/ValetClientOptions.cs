namespace Valet.Client;

/// <summary>Options of <c>services.AddValetClient(o =&gt; …)</c>.</summary>
public sealed class ValetClientOptions
{
    /// <summary>Where Valet listens, e.g. <c>http://127.0.0.1:7878</c>. Required.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>The agent's API key. Required; never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// How long before <c>expires_at</c> the access-token handler stops using a cached token and asks Valet again.
    /// Default 60 seconds.
    /// </summary>
    public TimeSpan TokenRefreshMargin { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long the handler keeps a token whose expiry Valet does not know. Default 5 minutes.</summary>
    public TimeSpan UnknownExpiryCacheDuration { get; set; } = TimeSpan.FromMinutes(5);
}
