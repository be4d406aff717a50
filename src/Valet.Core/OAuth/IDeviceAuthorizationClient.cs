namespace Valet.Core.OAuth;

/// <summary>What a device authorization endpoint answered (RFC 8628 §3.2).</summary>
public sealed record DeviceAuthorization
{
    public required Domain.Secret DeviceCode { get; init; }
    public required string UserCode { get; init; }
    public required string VerificationUri { get; init; }
    public string? VerificationUriComplete { get; init; }
    public required long ExpiresIn { get; init; }

    /// <summary>Seconds between polls; RFC 8628 says 5 when the server does not say.</summary>
    public int Interval { get; init; } = 5;
}

/// <summary>The device authorization grant (RFC 8628): start it, then poll the token endpoint.</summary>
public interface IDeviceAuthorizationClient
{
    /// <summary>The device and user codes, or an error (<see cref="TokenError"/>, classified like token errors).</summary>
    Task<(DeviceAuthorization? Authorization, TokenError? Error)> StartDeviceAuthorizationAsync(Providers.ProviderDefinition provider,
        ClientCredentials client, IReadOnlyList<string> scopes, CancellationToken cancellationToken);

    /// <summary>
    /// One poll of the token endpoint with <c>grant_type=urn:ietf:params:oauth:grant-type:device_code</c>. The RFC 8628
    /// answers (<c>authorization_pending</c>, <c>slow_down</c>, <c>access_denied</c>, <c>expired_token</c>) are errors whose
    /// <see cref="TokenError.Code"/> names them.
    /// </summary>
    Task<TokenResult> PollDeviceTokenAsync(Providers.ProviderDefinition provider, ClientCredentials client, string deviceCode,
        CancellationToken cancellationToken);
}
