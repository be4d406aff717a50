using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Core.Tokens;
using Valet.Server.Audit;
using Valet.Server.Http;
using Valet.Server.Tokens;
using Yarp.ReverseProxy.Forwarder;

namespace Valet.Server.Proxy;

/// <summary>
/// One proxied call: who may use what, where it goes, the token, the forward (YARP), refresh-on-401, failures as
/// problems or envelopes, one audit event. See docs/proxy.md.
/// </summary>
internal sealed class ProxyHandler(
    IHttpForwarder forwarder,
    ProxyInvoker invoker,
    IOptionsMonitor<ProxyOptions> options,
    IOptionsMonitor<RefreshOptions> refreshOptions,
    IConnectionStore connections,
    ITargetStore targets,
    IProviderCatalog catalog,
    ITokenService tokens,
    Envelopes envelopes,
    AuditWriter audit,
    TimeProvider time,
    ILogger<ProxyHandler> logger)
{
    public const string ProxyPrefix = "/v1/proxy/";
    public const string TargetsPrefix = "/v1/targets/";

    private static readonly ConcurrentDictionary<string, ProxyPath.ApiBase?> BaseUrls = new(StringComparer.Ordinal);

    /// <summary>What the audit event of this call will say; filled in as the call goes.</summary>
    private sealed class Call
    {
        public string? OrgId { get; set; }
        public string? KeyId { get; set; }
        public string? ConnectionId { get; set; }
        public string? TargetId { get; set; }
        public string? Path { get; set; }
        public string? Detail { get; set; }
    }

    public async Task HandleAsync(HttpContext context, bool viaTarget)
    {
        var started = time.GetTimestamp();
        var call = new Call();
        var requestBody = new CountingStream(context.Request.Body);
        var responseBody = new CountingStream(context.Response.Body);
        context.Request.Body = requestBody;
        context.Response.Body = responseBody;
        try
        {
            var result = await ForwardAsync(context, viaTarget, call, context.RequestAborted);
            if (result is not null && !context.Response.HasStarted)
            {
                await result.ExecuteAsync(context);
            }
        }
        finally
        {
            context.Response.Body = responseBody.Inner;
            if (call.OrgId is not null)
            {
                var elapsed = time.GetElapsedTime(started);
                await audit.EnqueueAsync(new AuditEvent
                {
                    OrgId = call.OrgId,
                    Kind = "proxy.request",
                    KeyId = call.KeyId,
                    ConnectionId = call.ConnectionId,
                    TargetId = call.TargetId,
                    Method = context.Request.Method,
                    Path = call.Path,
                    Status = context.Response.StatusCode,
                    DurationMs = (long)elapsed.TotalMilliseconds,
                    BytesIn = requestBody.Count,
                    BytesOut = responseBody.Count,
                    Detail = call.Detail,
                    At = time.GetUtcNow(),
                }, CancellationToken.None);
                if (call.ConnectionId is not null)
                {
                    ProxyLog.Forwarded(logger, context.Request.Method, call.ConnectionId, context.Response.StatusCode, (long)elapsed.TotalMilliseconds);
                }
            }
        }
    }

    private async Task<IResult?> ForwardAsync(HttpContext context, bool viaTarget, Call call, CancellationToken cancellationToken)
    {
        if (context.User.Identity?.IsAuthenticated != true)
        {
            return Problems.Unauthorized();
        }

        var access = AgentAccess.From(context);
        if (access is null)
        {
            return Problems.Forbidden("The proxy is for API keys (and the local service principal).");
        }

        call.OrgId = access.OrgId;
        call.KeyId = access.Key?.Id;

        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value + context.Request.QueryString.Value;
        var parsed = ProxyPath.Parse(raw, viaTarget ? TargetsPrefix : ProxyPrefix, out var pathError);
        if (parsed is not { } path)
        {
            call.Detail = "invalid_path";
            return Problems.BadRequest("invalid_path", pathError!);
        }

        call.Path = ProxyPath.ForAudit(path.Rest, path.Query);

        // Who may use what. Another org's connection or target is not visible at all (404), a visible one without permission is 403.
        Target? target = null;
        Connection? connection;
        if (viaTarget)
        {
            target = path.Id.Length <= 64 ? await targets.FindAsync(path.Id, cancellationToken) : null;
            connection = target is not null && (access.IsService || target.OrgId == access.OrgId)
                ? await connections.FindAsync(target.ConnectionId, cancellationToken)
                : null;
            if (target is null || connection is null)
            {
                return Problems.NotFound("target_not_found", "No such target.");
            }

            call.OrgId ??= target.OrgId;
            call.TargetId = target.Id;
            call.ConnectionId = connection.Id;

            // A key holding the whole connection may use its narrower targets too.
            if (!access.MayUse(target) && !access.MayUse(connection))
            {
                call.Detail = "forbidden";
                return Problems.Forbidden("This API key has no permission on this target.");
            }
        }
        else
        {
            connection = path.Id.Length <= 64 ? await connections.FindAsync(path.Id, cancellationToken) : null;
            if (connection is null || !access.Sees(connection))
            {
                return Problems.NotFound("connection_not_found", "No such connection.");
            }

            call.OrgId ??= connection.OrgId;
            call.ConnectionId = connection.Id;
            if (!access.MayUse(connection))
            {
                call.Detail = "forbidden";
                return Problems.Forbidden("This API key has no permission on this connection.");
            }
        }

        var provider = catalog.Find(connection.Provider);
        if (provider is null)
        {
            return Problems.NotFound("unknown_provider", $"The provider '{connection.Provider}' of this connection is not configured.");
        }

        var baseUrl = ResolveBase(provider, connection, target);
        if (baseUrl is null)
        {
            call.Detail = "no_api_base";
            return Problems.Unprocessable("no_api_base", target is null
                ? $"The provider '{provider.Id}' has no API base URL configured (Providers:{provider.Id}:ApiBaseUrl)."
                : "This target's base URL is not under one of its provider's API base URLs.");
        }

        var upstream = ProxyPath.Combine(baseUrl, path.Rest, path.Query);
        if (upstream is null)
        {
            call.Detail = "invalid_path";
            return Problems.BadRequest("invalid_path", "The path does not stay under the provider's API base.");
        }

        // A person must act: envelopes (SPEC §5). A target's required scopes gate it; unknown grants never block.
        var required = target?.RequiredScopes ?? [];
        if (connection.Status == ConnectionStatus.ReauthRequired)
        {
            call.Detail = EnvelopeCodes.ReauthRequired;
            return await EnvelopeAsync(EnvelopeCodes.ReauthRequired, connection, required, [], context.Request, cancellationToken);
        }

        var missing = ScopeCheck.Missing(connection.Scopes, required);
        if (missing.Count > 0)
        {
            call.Detail = EnvelopeCodes.MissingScopes;
            return await EnvelopeAsync(EnvelopeCodes.MissingScopes, connection, required, missing, context.Request, cancellationToken);
        }

        var settings = options.CurrentValue;
        if (context.Request.ContentLength > settings.MaxRequestBytes)
        {
            call.Detail = "payload_too_large";
            return TooLarge(settings.MaxRequestBytes);
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = settings.MaxRequestBytes;
        }

        // Hot path: the row just read is fresh enough, so no second read (the token service would do exactly this check).
        var outcome = RefreshPolicy.IsFresh(connection, time.GetUtcNow(), refreshOptions.CurrentValue.Skew)
            ? TokenOutcome.Success.Of(connection)
            : await tokens.GetAccessTokenAsync(connection.Id, forceRefresh: false, cancellationToken);
        switch (outcome)
        {
            case TokenOutcome.ReauthRequired dead:
                call.Detail = EnvelopeCodes.ReauthRequired;
                return await EnvelopeAsync(EnvelopeCodes.ReauthRequired, dead.Connection, required, [], context.Request, cancellationToken);
            case TokenOutcome.ProviderUnavailable unavailable:
                call.Detail = "token_unavailable";
                return TokenEndpoints.ProviderUnavailable(unavailable, context.Response);
            case not TokenOutcome.Success:
                return Problems.NotFound("connection_not_found", "No such connection.");
        }

        var token = (TokenOutcome.Success)outcome;
        var replay = await BufferIfSmallAsync(context, settings, cancellationToken);
        var replayable = replay is not null || !HasBody(context);

        TokenOutcome? refreshed = null;
        var first = Transformer(provider, upstream, token);
        first.OnUnauthorized = async ct =>
        {
            // Refresh even when the call cannot be replayed, so the agent's own retry carries a working token.
            refreshed = await tokens.RefreshRejectedAsync(token.Connection, ct);
            return refreshed is TokenOutcome.ReauthRequired || (replayable && refreshed is TokenOutcome.Success);
        };

        var config = settings.ForwarderConfig;
        var prefix = baseUrl.Prefix;
        var error = await forwarder.SendAsync(context, prefix, invoker.For(provider.AllowPrivateNetwork), config, first, cancellationToken);
        if (error != ForwarderError.None)
        {
            return UpstreamError(context, error, connection, call);
        }

        if (!first.HeldUnauthorized)
        {
            if (refreshed is not null)
            {
                call.Detail = "upstream_401";
                ProxyLog.UnauthorizedPassedOn(logger, connection.Id, replayable ? RefreshOutcomeName(refreshed) : "body not replayable");
            }

            return null;
        }

        if (refreshed is TokenOutcome.ReauthRequired reauth)
        {
            call.Detail = EnvelopeCodes.ReauthRequired;
            return await EnvelopeAsync(EnvelopeCodes.ReauthRequired, reauth.Connection, required, [], context.Request, cancellationToken);
        }

        ProxyLog.RetryingAfterRefresh(logger, connection.Id);
        call.Detail = "retried_after_401";
        replay?.Seek(0, SeekOrigin.Begin);
        var second = Transformer(provider, upstream, (TokenOutcome.Success)refreshed!);
        error = await forwarder.SendAsync(context, prefix, invoker.For(provider.AllowPrivateNetwork), config, second, cancellationToken);
        return error == ForwarderError.None ? null : UpstreamError(context, error, connection, call);
    }

    private static ProxyTransformer Transformer(ProviderDefinition provider, Uri upstream, TokenOutcome.Success token) => new()
    {
        Upstream = upstream,
        ApiHeaders = provider.ApiHeaders,
        Token = token.AccessToken.Reveal(),
        TokenType = token.TokenType,
    };

    private static string RefreshOutcomeName(TokenOutcome outcome) => outcome switch
    {
        TokenOutcome.Success => "refreshed",
        TokenOutcome.ProviderUnavailable => "provider_unavailable",
        TokenOutcome.NotFound => "connection_gone",
        _ => "not_refreshed",
    };

    private static bool HasBody(HttpContext context) =>
        context.Request.ContentLength is > 0
        || (context.Request.ContentLength is null && (context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody ?? true));

    /// <summary>
    /// A body small enough by Content-Length is read into memory so the call can be replayed after a 401; anything
    /// larger or chunked streams straight through and is never held whole.
    /// </summary>
    private static async Task<MemoryStream?> BufferIfSmallAsync(HttpContext context, ProxyOptions settings, CancellationToken cancellationToken)
    {
        if (context.Request.ContentLength is not (> 0 and var length) || length > settings.ReplayableBodyBytes)
        {
            return null;
        }

        var buffer = new byte[length];
        await context.Request.Body.ReadExactlyAsync(buffer, cancellationToken);
        var replay = new MemoryStream(buffer, writable: false);
        context.Request.Body = replay;
        return replay;
    }

    private ProxyPath.ApiBase? ResolveBase(ProviderDefinition provider, Connection connection, Target? target)
    {
        if (target is not null)
        {
            var targetBase = ParseBase(target.BaseUrl);
            return targetBase is not null && provider.ApiBaseUrls.Any(api => ProviderValidator.IsUnder(targetBase.Url, api)) ? targetBase : null;
        }

        if (connection.ApiBaseUrl is { Length: > 0 } own)
        {
            var ownBase = ParseBase(own);
            if (ownBase is not null && OwnBaseAllowed(provider, ownBase.Url))
            {
                return ownBase;
            }

            ProxyLog.ConnectionBaseIgnored(logger, connection.Id);
        }

        return provider.ApiBaseUrls.Count > 0 ? ParseBase(provider.ApiBaseUrls[0]) : null;
    }

    /// <summary>A connection's own base (Salesforce instance_url, self-hosted): on one of the provider's API hosts, or a configured instance host suffix.</summary>
    private static bool OwnBaseAllowed(ProviderDefinition provider, Uri own) =>
        provider.ApiBaseUrls.Select(ParseBase).Any(api => api is not null
            && string.Equals(api.Url.Scheme, own.Scheme, StringComparison.OrdinalIgnoreCase)
            && string.Equals(api.Url.IdnHost, own.IdnHost, StringComparison.OrdinalIgnoreCase)
            && api.Url.Port == own.Port)
        || (own.Scheme == Uri.UriSchemeHttps && provider.InstanceUrlHostSuffixes.Any(suffix =>
            own.IdnHost.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)));

    private static ProxyPath.ApiBase? ParseBase(string url) => BaseUrls.GetOrAdd(url, static u =>
        NetworkHosts.TryParseHttpUrl(u, out var uri) && string.IsNullOrEmpty(uri.UserInfo) && string.IsNullOrEmpty(uri.Query)
            && string.IsNullOrEmpty(uri.Fragment)
            ? new ProxyPath.ApiBase(uri)
            : null);

    private IResult? UpstreamError(HttpContext context, ForwarderError error, Connection connection, Call call)
    {
        var exception = context.GetForwarderErrorFeature()?.Exception;
        call.Detail = "upstream_" + error.ToString().ToLowerInvariant();
        if (Find<UpstreamAddressRefusedException>(exception) is { } refused)
        {
            call.Detail = "upstream_address_refused";
            ProxyLog.AddressRefused(logger, refused.Host, connection.Id, refused.AddressClass.ToString().ToLowerInvariant());
            return Problems.Create(StatusCodes.Status502BadGateway, "upstream_address_refused", "Upstream address refused",
                "The provider's API host resolved to a loopback, private or link-local address; the proxy does not connect there " +
                "unless the operator sets AllowPrivateNetwork for this provider.");
        }

        if (Find<BadHttpRequestException>(exception) is { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            call.Detail = "payload_too_large";
            return TooLarge(options.CurrentValue.MaxRequestBytes);
        }

        ProxyLog.UpstreamFailed(logger, connection.Id, error.ToString(), exception?.GetType().Name ?? "none");
        return error switch
        {
            ForwarderError.RequestBodyClient or ForwarderError.RequestBodyCanceled or ForwarderError.RequestCanceled =>
                Problems.Create(StatusCodes.Status400BadRequest, "request_body_failed", "Bad request", "The request body could not be read from the caller."),
            ForwarderError.RequestTimedOut => Unavailable(StatusCodes.Status504GatewayTimeout, "The provider did not answer in time."),
            _ => Unavailable(StatusCodes.Status502BadGateway, "The provider could not be reached."),
        };
    }

    private static IResult Unavailable(int status, string detail) =>
        Problems.Create(status, "provider_unavailable", "Provider unavailable", detail + " The connection is unchanged; try again later.");

    private static IResult TooLarge(long limit) =>
        Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "Payload too large",
            $"The request body is larger than the proxy accepts ({limit} bytes, Proxy:MaxRequestBytes).");

    private static T? Find<T>(Exception? exception) where T : Exception
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            if (e is T found)
            {
                return found;
            }
        }

        return null;
    }

    private async Task<IResult> EnvelopeAsync(string code, Connection connection, IReadOnlyList<string> required, IReadOnlyList<string> missing,
        HttpRequest request, CancellationToken cancellationToken) =>
        Envelopes.ToResult(await envelopes.BuildAsync(code, connection.OrgId, connection.Provider, connection, required, missing, request, cancellationToken));
}
