using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;
using Valet.Core.Access;
using Valet.Server.Auth;
using Valet.Server.Proxy;
using Valet.Server.Tokens;

namespace Valet.Server.Http;

/// <summary>
/// The agent lane: Valet's hottest routes — the proxy (<c>/v1/proxy/{id}/…</c>, <c>/v1/targets/{id}/…</c>, any method) and
/// the token routes (<c>POST /v1/connections/{id}/token</c>, <c>POST /v1/providers/{provider}/token</c> with a bearer) — go
/// straight to their handlers right after the exception handler (applying the failed-authentication limit themselves), before status-code pages,
/// routing, the authentication and authorization middleware and the <c>/internal</c> guard (docs/proxy.md, "The agent lane").
/// <list type="bullet">
/// <item>The caller is authenticated here by the same <see cref="BearerAuthenticator"/> the <c>Valet</c> scheme runs, and
/// the per-key limit applies right after (as <see cref="RateLimits.UseAgentRateLimits"/> does for routed requests).</item>
/// <item>Each handler decides everything else itself — 401 without a principal, 403 for a caller that is not an agent,
/// permission, envelopes — through Core's <see cref="AgentAccess"/>, exactly as when reached through routing: the routed
/// endpoints stay mapped (and documented in the OpenAPI document) and serve what the lane passes on.</item>
/// <item>Status-code pages must not touch a proxied answer: an upstream's bodiless 404 is the upstream's, not Valet's.</item>
/// <item>The <c>/internal</c> guard has nothing to guard: a path Kestrel already decoded and dot-normalised to start with
/// <c>/v1/proxy/</c>, <c>/v1/targets/</c>, <c>/v1/connections/</c> or <c>/v1/providers/</c> does not reach <c>/internal</c>.</item>
/// <item>The generic layers cost these routes a measurable share of their throughput from outside (docs/performance.md).</item>
/// </list>
/// What the lane passes on: a token route without an <c>Authorization</c> header (a dashboard session, or nobody: the
/// pipeline answers as for any other route) or with another method (405 from routing); <c>/v1/targets/{id}</c> with
/// nothing after the id, asked by an operator (the read-only target routes).
/// </summary>
internal static class AgentLane
{
    private enum Route
    {
        None,
        Proxy,
        Target,
        TokenByConnection,
        TokenByProvider,
    }

    public static IApplicationBuilder UseAgentLane(this IApplicationBuilder app)
    {
        var proxy = app.ApplicationServices.GetRequiredService<ProxyHandler>();
        var bearer = app.ApplicationServices.GetRequiredService<BearerAuthenticator>();
        var limits = app.ApplicationServices.GetService<ValetRateLimiter>();
        var access = app.ApplicationServices.GetRequiredService<AgentAccess>();
        var envelopes = app.ApplicationServices.GetRequiredService<Envelopes>();

        // Not an async lambda: when the key comes from the cache (the common case) authentication has completed, and the
        // lane hands the proxy's or the token route's own task back to Kestrel without a state machine of its own.
        return app.Use((context, next) =>
        {
            var request = context.Request;
            var (route, argument, bareTarget) = Classify(request);
            if (route == Route.None)
            {
                return next(context);
            }

            // The failed-authentication limit, as UseValetRateLimits applies it to every other route: a locked-out address
            // is refused before its bearer is checked (unless it is one this node has seen succeed, checked in memory only),
            // and a bearer that is presented and not accepted counts as a failure.
            // The lane applies it itself (it runs first) so that no middleware has to outlive every proxied call to read its status.
            if (limits?.LockedOut(request) is { } lockedOut && !bearer.KnownWithoutLookup(request))
            {
                return RateLimits.RefuseAsync(context, lockedOut, RateLimits.LockedOutDetail);
            }

            var authentication = bearer.AuthenticateAsync(request, context.RequestAborted);
            return authentication.IsCompletedSuccessfully
                ? Dispatch(context, next, route, argument, bareTarget, authentication.Result)
                : AuthenticatedAsync(context, next, route, argument, bareTarget, authentication);
        });

        async Task AuthenticatedAsync(HttpContext context, RequestDelegate next, Route route, string? argument, bool bareTarget,
            ValueTask<BearerOutcome> authentication) => await Dispatch(context, next, route, argument, bareTarget, await authentication);

        Task Dispatch(HttpContext context, RequestDelegate next, Route route, string? argument, bool bareTarget, BearerOutcome outcome)
        {
            if (outcome.Principal is { } principal)
            {
                context.User = principal;
                if (principal is ApiKeyPrincipal agent && limits?.AgentLimited(agent.Key.Id) is { } wait)
                {
                    return RateLimits.RefuseAsync(context, wait, "This API key is over its request rate.");
                }
            }
            else
            {
                if (context.Request.Headers.ContainsKey(HeaderNames.Authorization))
                {
                    limits?.Failed(RateLimits.ClientAddress(context)); // every lane route answers this caller 401
                }

                if (route is Route.TokenByConnection or Route.TokenByProvider)
                {
                    // What the scheme's challenge answers (RFC 6750 §3).
                    context.Response.Headers.WWWAuthenticate = BearerChallenge.For(context.Request);
                    return Problems.Unauthorized().ExecuteAsync(context);
                }
            }

            return route switch
            {
                Route.Proxy => proxy.HandleAsync(context, viaTarget: false),
                Route.Target when ProxyEndpoints.IsOperatorTargetRead(context, bareTarget) => next(context),
                Route.Target => proxy.HandleAsync(context, viaTarget: true),
                Route.TokenByConnection => TokenByConnectionAsync(context, argument!),
                _ => TokenByProviderAsync(context, argument!),
            };
        }

        async Task TokenByConnectionAsync(HttpContext context, string connectionId) =>
            await (await TokenEndpoints.ByConnectionAsync(connectionId, context, access, envelopes, context.RequestAborted)).ExecuteAsync(context);

        async Task TokenByProviderAsync(HttpContext context, string provider) =>
            await (await TokenEndpoints.ByProviderAsync(provider, context, access, envelopes, context.RequestAborted)).ExecuteAsync(context);
    }

    /// <summary>Which lane route a request is for (by path and method alone), with the connection id or provider of a token route.</summary>
    private static (Route Route, string? Argument, bool BareTarget) Classify(HttpRequest request)
    {
        // On spans, with PathString.StartsWithSegments' own rule: no substring is made for a proxied call.
        if (!StartsWithSegment(request.Path.Value, "/v1", out var v1))
        {
            return default;
        }

        if (StartsWithSegment(v1, "/proxy", out var rest) && rest.Length > 1)
        {
            return (Route.Proxy, null, false);
        }

        if (StartsWithSegment(v1, "/targets", out rest) && rest.Length > 1)
        {
            return (Route.Target, null, rest[1..].IndexOf('/') < 0); // bare: /v1/targets/{id} with nothing after the id
        }

        // Token routes: POST with a bearer only; anything else is the pipeline's (a session's 403, a 405, a 401 challenge).
        if (!HttpMethods.IsPost(request.Method) || !request.Headers.ContainsKey("Authorization"))
        {
            return default;
        }

        if (StartsWithSegment(v1, "/connections", out rest) && TokenSegment(rest) is { } connectionId)
        {
            return (Route.TokenByConnection, connectionId, false);
        }

        return StartsWithSegment(v1, "/providers", out rest) && TokenSegment(rest) is { } provider
            ? (Route.TokenByProvider, provider, false)
            : default;
    }

    /// <summary>
    /// <see cref="PathString.StartsWithSegments(PathString, StringComparison, out PathString)"/> on a span: <paramref name="path"/>
    /// starts with <paramref name="segment"/> (ignoring case) followed by its end or a '/'; <paramref name="rest"/> is what follows.
    /// </summary>
    private static bool StartsWithSegment(ReadOnlySpan<char> path, string segment, out ReadOnlySpan<char> rest)
    {
        if (path.StartsWith(segment, StringComparison.OrdinalIgnoreCase) && (path.Length == segment.Length || path[segment.Length] == '/'))
        {
            rest = path[segment.Length..];
            return true;
        }

        rest = default;
        return false;
    }

    /// <summary><c>/{value}/token</c> (value one non-empty segment) → value; anything else null. The same match as the route template.</summary>
    private static string? TokenSegment(ReadOnlySpan<char> rest)
    {
        if (rest.Length <= 7 || rest[0] != '/' || !rest.EndsWith("/token", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var segment = rest[1..^"/token".Length];
        return segment.Length > 0 && !segment.Contains('/') ? segment.ToString() : null;
    }
}
