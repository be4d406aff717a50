using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Access;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Server.Audit;
using Valet.Server.Http;
using Valet.Server.Tokens;
using Yarp.ReverseProxy.Forwarder;

namespace Valet.Server.Proxy;

/// <summary>
/// One proxied call: the caller and path, then Core's answer to "which connection, may it, which token"
/// (<see cref="AgentAccess"/>), where it goes (the provider's API base, never an arbitrary host), the forward (YARP),
/// refresh-on-401, failures as problems or envelopes, one audit event. See docs/proxy.md.
/// </summary>
internal sealed class ProxyHandler(
    IHttpForwarder forwarder,
    ProxyInvoker invoker,
    IOptionsMonitor<ProxyOptions> options,
    AgentAccess access,
    IProviderCatalog catalog,
    Envelopes envelopes,
    AuditWriter audit,
    TimeProvider time,
    ILogger<ProxyHandler> logger)
{
    public const string ProxyPrefix = "/v1/proxy/";
    public const string TargetsPrefix = "/v1/targets/";

    // Keyed by the Uri instance ApiBases.Resolve hands out (it parses each URL once), so a lookup is a reference compare.
    private static readonly ConcurrentDictionary<Uri, ProxyPath.ApiBase> BaseUrls = new(ReferenceEqualityComparer.Instance);

    public async Task HandleAsync(HttpContext context, bool viaTarget)
    {
        var started = time.GetTimestamp();
        var call = new ProxyCall(access);
        var via = context.Features.Get<ProxyVia>();
        // A request that cannot have a body (a GET without Content-Length, Content-Length: 0) has 0 bytes in: nothing to count.
        call.HasBody = HasBody(context);
        var requestBody = call.HasBody ? new CountingStream(context.Request.Body) : null;
        if (requestBody is not null)
        {
            context.Request.Body = requestBody;
        }

        // Bytes out: what the upstream's answer declared or what a chunked one counted (ProxyTransformer.RelayedBytes),
        // plus Valet's own answer. An in-process caller's whole response is counted as it is written instead.
        var responseBody = via is null ? null : new CountingStream(context.Response.Body);
        if (responseBody is not null)
        {
            context.Response.Body = responseBody;
        }

        try
        {
            // One async layer on the hot path: the checks complete synchronously on a cached connection, and the
            // forward is awaited here; only an upstream failure or 401 goes through a second method.
            var cancellationToken = context.RequestAborted;
            var result = await PrepareAsync(context, viaTarget, call, cancellationToken);
            if (result is null)
            {
                var first = Transformer(call.Provider!, call.Upstream!, call.Token!, counts: via is null);
                via?.Sent(first.Secret);

                // A static secret cannot be refreshed: the upstream's 401 goes to the agent as it is.
                first.OnUnauthorized = call.IsStatic ? null : call;
                var error = Settled(context, await forwarder.SendAsync(context, call.Prefix!, call.Client!, call.Settings!.ForwarderConfig, first, cancellationToken));
                call.BytesOut = first.RelayedBytes(context, error);
                if (error != ForwarderError.None || first.HeldUnauthorized || call.Refreshed is not null || first.RefusedHeader is not null)
                {
                    result = await AfterFirstAttemptAsync(context, call, first, error, cancellationToken);
                }
            }

            if (result is not null && !context.Response.HasStarted)
            {
                via?.Refused = true;
                await OwnAnswerAsync(context, result, call, counted: responseBody is not null);
            }
        }
        finally
        {
            if (responseBody is not null)
            {
                context.Response.Body = responseBody.Inner;
            }

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
                    BytesIn = requestBody?.Count ?? 0,
                    BytesOut = responseBody?.Count ?? call.BytesOut,
                    Detail = via is null ? call.Detail : ProxyVia.Mark(call.Detail, via.Name),
                    At = time.GetUtcNow(),
                }, CancellationToken.None);
                if (call.ConnectionId is not null)
                {
                    ProxyLog.Forwarded(logger, context.Request.Method, call.ConnectionId, context.Response.StatusCode, (long)elapsed.TotalMilliseconds);
                }
            }
        }
    }

    /// <summary>Valet's own answer (a problem or an envelope), its body bytes added to the audit event's.</summary>
    private static async Task OwnAnswerAsync(HttpContext context, IResult result, ProxyCall call, bool counted)
    {
        if (counted)
        {
            await result.ExecuteAsync(context);
            return;
        }

        var own = new CountingStream(context.Response.Body);
        context.Response.Body = own;
        try
        {
            await result.ExecuteAsync(context);
        }
        finally
        {
            context.Response.Body = own.Inner;
            call.BytesOut += own.Count;
        }
    }

    /// <summary>
    /// Everything before the forward: caller, path, access, destination, size, token. Null when the call may go (what it
    /// needs is on <paramref name="call"/>); otherwise the answer to give instead.
    /// </summary>
    private async ValueTask<IResult?> PrepareAsync(HttpContext context, bool viaTarget, ProxyCall call, CancellationToken cancellationToken)
    {
        if (context.User.Identity?.IsAuthenticated != true)
        {
            return Problems.Unauthorized();
        }

        if (AgentCallers.From(context) is not { } caller)
        {
            return Problems.Forbidden("The proxy is for API keys (and the local service principal).");
        }

        call.OrgId = caller.OrgId;
        call.KeyId = caller.Key?.Id;

        // TRACE (and IIS's TRACK) would have an upstream echo the request back, with the credential Valet injected: a key
        // without "reveal" would read a static secret. CONNECT asks for a tunnel, not an API call.
        if (IsRefusedMethod(context.Request.Method))
        {
            call.Detail = "method_not_allowed";
            context.Response.Headers.Allow = AllowedMethods;
            return Problems.Create(StatusCodes.Status405MethodNotAllowed, "method_not_allowed", "Method not allowed",
                $"{context.Request.Method} is never forwarded: it would echo the injected credential back or open a tunnel.");
        }

        // An upgradable request (Connection: Upgrade, Upgrade: websocket) is forwarded as a plain one. YARP puts the
        // Upgrade headers back after the transformer drops them whenever the server says the request can be upgraded, and
        // an upstream answering 101 then gets a raw byte tunnel: requests written into it skip the path checks, a target's
        // path scope and the audit trail. Taking the feature away (only on such requests: setting a feature makes every
        // cached feature of the request look up again) leaves YARP nothing to upgrade.
        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true })
        {
            context.Features.Set<IHttpUpgradeFeature>(null);
        }

        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value + context.Request.QueryString.Value;
        var parsed = ProxyPath.Parse(raw, viaTarget ? TargetsPrefix : ProxyPrefix, out var pathError);
        if (parsed is not { } path)
        {
            call.Detail = "invalid_path";
            return Problems.BadRequest("invalid_path", pathError!);
        }

        call.Path = ProxyPath.ForAudit(path.Rest, path.Query);

        // Who may use what (Core): another org's connection or target is not visible at all (404), a visible one without permission is 403.
        var found = viaTarget
            ? await access.TargetAsync(caller, path.Id, cancellationToken)
            : await access.ConnectionAsync(caller, path.Id, cancellationToken);
        if (found is not AccessOutcome.Granted granted)
        {
            if (found is AccessOutcome.Forbidden forbidden)
            {
                call.OrgId ??= forbidden.Target?.OrgId ?? forbidden.Connection?.OrgId;
                call.TargetId = forbidden.Target?.Id;
                call.ConnectionId = forbidden.Connection?.Id;
                call.Detail = "forbidden";
            }

            return TokenEndpoints.Problem(found, context.Response);
        }

        var (connection, target) = (granted.Connection, granted.Target);
        call.OrgId ??= target?.OrgId ?? connection.OrgId;
        call.TargetId = target?.Id;
        call.ConnectionId = connection.Id;

        // Where it goes: the provider's API base (or the target's, or the connection's own, when under it).
        var definition = catalog.Find(connection.Provider);
        if (definition is null)
        {
            return Problems.NotFound("unknown_provider", $"The provider '{connection.Provider}' of this connection is not configured.");
        }

        // A templated provider's URLs for this connection (its subdomain…), checked like configured ones (no SSRF).
        if (ConnectionParameters.Bind(definition, connection.Parameters, out var parameterProblem) is not { } provider)
        {
            call.Detail = "invalid_parameters";
            return Problems.Unprocessable("invalid_parameters", parameterProblem ?? "The connection's parameters do not fit its provider.");
        }

        var baseUri = ApiBases.Resolve(provider, connection, target, out var connectionBaseIgnored);
        if (connectionBaseIgnored)
        {
            ProxyLog.ConnectionBaseIgnored(logger, connection.Id);
        }

        if (baseUri is null)
        {
            call.Detail = "no_api_base";
            return Problems.Unprocessable("no_api_base", target is null
                ? $"The provider '{provider.Id}' has no API base URL configured (Providers:{provider.Id}:ApiBaseUrl)."
                : "This target's base URL is not under one of its provider's API base URLs.");
        }

        // A static secret must be of the kind its provider injects (a provider redefined since would inject it wrongly).
        var isStatic = StaticSecrets.IsStatic(connection);
        if (isStatic != AuthModes.IsStatic(provider.AuthMode)
            || (isStatic && connection.TokenType != (provider.AuthMode == AuthMode.Basic ? StaticSecrets.BasicType : StaticSecrets.ApiKeyType)))
        {
            call.Detail = "auth_mode_mismatch";
            return Problems.Unprocessable("auth_mode_mismatch",
                $"This connection's credential does not match the auth mode of provider '{provider.Id}' ({AuthModes.Name(provider.AuthMode)}); an operator must recreate it.");
        }

        var baseUrl = BaseUrls.GetOrAdd(baseUri, static uri => new ProxyPath.ApiBase(uri));
        var query = provider.ApiKey?.QueryParameter is { } secretParameter ? SecretQueryHandler.Without(path.Query, secretParameter) : path.Query;
        var upstream = ProxyPath.Combine(baseUrl, path.Rest, query);
        if (upstream is null)
        {
            call.Detail = "invalid_path";
            return Problems.BadRequest("invalid_path", "The path does not stay under the provider's API base.");
        }

        var settings = call.Settings = options.CurrentValue;
        if (context.Request.ContentLength > settings.MaxRequestBytes)
        {
            call.Detail = "payload_too_large";
            return ProxyFailures.TooLarge(settings.MaxRequestBytes);
        }

        // Kestrel's own limit, for a body that streams (chunked, or larger than it says); a call without a body has none to limit.
        if (call.HasBody && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = settings.MaxRequestBytes;
        }

        // The token (Core): an envelope when a person must act first (SPEC §5); a target's required scopes gate it,
        // unknown grants never block.
        call.RequiredScopes = target?.RequiredScopes ?? [];
        var issued = await access.TokenAsync(granted, call.RequiredScopes, cancellationToken);
        if (issued is not AccessOutcome.Token token)
        {
            return await RefusedAsync(issued, call, context.Response, cancellationToken);
        }

        // A GET (no body) skips the buffering step altogether: it is on every proxied call.
        call.Replay = context.Request.ContentLength is > 0 ? await BufferIfSmallAsync(context, settings, cancellationToken) : null;
        call.Token = token;
        call.Replayable = call.Replay is not null || !call.HasBody;
        call.IsStatic = isStatic;
        call.Provider = provider;
        call.Upstream = upstream;
        call.Prefix = baseUrl.Prefix;
        call.Client = invoker.For(provider.AllowPrivateNetwork, secretQuery: provider.ApiKey?.QueryParameter is not null);
        return null;
    }

    /// <summary>The first attempt failed, or met a 401 (held back or passed on): the answer, a retry, or null.</summary>
    private async Task<IResult?> AfterFirstAttemptAsync(HttpContext context, ProxyCall call, ProxyTransformer first, ForwarderError error, CancellationToken cancellationToken)
    {
        var settings = call.Settings!;
        var connectionId = call.ConnectionId!;
        if (first.RefusedHeader is { } header)
        {
            call.Detail = "invalid_header";
            return Problems.BadRequest("invalid_header",
                $"The value of header '{header}' is not visible ASCII; it cannot be forwarded. Encode it (RFC 8187, base64, percent-encoding) first.");
        }

        if (error != ForwarderError.None)
        {
            return ProxyFailures.Upstream(context, error, connectionId, call, settings.MaxRequestBytes, logger);
        }

        if (!first.HeldUnauthorized)
        {
            if (call.Refreshed is { } refreshed)
            {
                call.Detail = "upstream_401";
                ProxyLog.UnauthorizedPassedOn(logger, connectionId, call.Replayable ? RefreshOutcomeName(refreshed) : "body not replayable");
            }

            return null;
        }

        if (call.Refreshed is not AccessOutcome.Token retryToken)
        {
            var refused = await RefusedAsync(call.Refreshed!, call, context.Response, cancellationToken);
            if (call.Refreshed is AccessOutcome.ProviderUnavailable unavailable)
            {
                // One rule (docs/proxy.md, "Refresh on 401"): a refresh that meets an outage answers as the token route does.
                call.Detail = "upstream_401_provider_unavailable";
                ProxyLog.RefreshUnavailableAfter401(logger, connectionId, unavailable.TimedOut ? 504 : 502);
            }

            return refused;
        }

        ProxyLog.RetryingAfterRefresh(logger, connectionId);
        call.Detail = "retried_after_401";
        call.Replay?.Seek(0, SeekOrigin.Begin);
        var second = Transformer(call.Provider!, call.Upstream!, retryToken, counts: first.CountsUnknownLength);
        context.Features.Get<ProxyVia>()?.Sent(second.Secret);
        error = Settled(context, await forwarder.SendAsync(context, call.Prefix!, call.Client!, settings.ForwarderConfig, second, cancellationToken));
        call.BytesOut = second.RelayedBytes(context, error);
        return error == ForwarderError.None ? null : ProxyFailures.Upstream(context, error, connectionId, call, settings.MaxRequestBytes, logger);
    }

    /// <summary>
    /// A forward that ended because an in-process caller had read all it wanted (<see cref="ProxyVia.StoppedReading"/>) is
    /// no failure: the forwarder reset the unsent response to 502, so the upstream's status is put back (for the audit row
    /// and the log). Anything else is returned as it is.
    /// </summary>
    private static ForwarderError Settled(HttpContext context, ForwarderError error)
    {
        if (error != ForwarderError.ResponseBodyClient || context.Features.Get<ProxyVia>() is not { StoppedReading: true } via)
        {
            return error;
        }

        context.Response.StatusCode = via.StoppedStatus;
        return ForwarderError.None;
    }

    /// <summary>No token: the envelope a person must act on, or the problem (provider unavailable, connection gone).</summary>
    private async Task<IResult> RefusedAsync(AccessOutcome outcome, ProxyCall call, HttpResponse response, CancellationToken cancellationToken)
    {
        if (outcome is AccessOutcome.Envelope envelope)
        {
            call.Detail = envelope.Code;
            var built = await envelopes.BuildAsync(envelope, cancellationToken);
            response.HttpContext.Features.Get<ProxyVia>()?.Envelope = built;
            return Envelopes.ToResult(built);
        }

        if (outcome is AccessOutcome.ProviderUnavailable)
        {
            call.Detail = "token_unavailable";
        }

        return TokenEndpoints.Problem(outcome, response);
    }

    /// <summary>The credential as the provider takes it: a bearer token, HTTP Basic, or an API key by header template or query.</summary>
    private static ProxyTransformer Transformer(ProviderDefinition provider, Uri upstream, AccessOutcome.Token token, bool counts)
    {
        var connection = token.Connection;
        if (connection.TokenType == StaticSecrets.BasicType)
        {
            var basic = AuthorizationValues.For(connection.AccessToken, "Basic", StaticSecrets.BasicCredential);
            var credential = basic is null ? StaticSecrets.BasicCredential(connection.AccessToken) : null;
            return new()
            {
                Upstream = upstream, ApiHeaders = provider.ApiHeaders, TokenType = "Basic",
                Token = credential, Authorization = basic, CountsUnknownLength = counts,
                Secret = credential ?? basic, // the whole "Basic …" value: ProxyVia.Sent takes the scheme off, off the hot path
            };
        }

        if (connection.TokenType == StaticSecrets.ApiKeyType && provider.ApiKey is { } apiKey)
        {
            var secret = connection.AccessToken.Reveal();
            return apiKey.QueryParameter is { } parameter
                ? new()
                {
                    Upstream = upstream, ApiHeaders = provider.ApiHeaders, TokenType = null, Token = null, SecretQuery = (parameter, secret),
                    CountsUnknownLength = counts, Secret = secret,
                }
                : new()
                {
                    Upstream = upstream, ApiHeaders = provider.ApiHeaders, TokenType = null, Token = null,
                    SecretHeader = (apiKey.HeaderName!, apiKey.HeaderValue(secret)), CountsUnknownLength = counts, Secret = secret,
                };
        }

        var scheme = string.Equals(token.TokenType, "bearer", StringComparison.OrdinalIgnoreCase) ? "Bearer" : token.TokenType;
        var revealed = token.AccessToken.Reveal();
        return new()
        {
            Upstream = upstream, ApiHeaders = provider.ApiHeaders, Token = revealed, TokenType = scheme, Secret = revealed,
            Authorization = AuthorizationValues.For(token.AccessToken, scheme, static secret => secret.Reveal()), CountsUnknownLength = counts,
        };
    }

    private static string RefreshOutcomeName(AccessOutcome outcome) => outcome switch
    {
        AccessOutcome.Token => "refreshed",
        AccessOutcome.ProviderUnavailable => "provider_unavailable",
        AccessOutcome.NotFound => "connection_gone",
        _ => "not_refreshed",
    };

    private const string AllowedMethods = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

    private static bool IsRefusedMethod(string method) =>
        HttpMethods.IsTrace(method) || HttpMethods.IsConnect(method) || string.Equals(method, "TRACK", StringComparison.OrdinalIgnoreCase);

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
}
