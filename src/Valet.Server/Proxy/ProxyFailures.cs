using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Valet.Server.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Valet.Server.Proxy;

/// <summary>
/// Failures of the forward itself (after Valet said yes): the provider unreachable or slow (502/504
/// <c>provider_unavailable</c>, the connection untouched), an address the proxy refuses to connect to, a body too large
/// or unreadable.
/// </summary>
internal static class ProxyFailures
{
    /// <summary>The forward failed: what the caller gets, and what the audit event and the log say.</summary>
    public static IResult Upstream(HttpContext context, ForwarderError error, string connectionId, ProxyCall call, long maxRequestBytes, ILogger logger)
    {
        var exception = context.GetForwarderErrorFeature()?.Exception;
        call.Detail = "upstream_" + error.ToString().ToLowerInvariant();
        if (!context.Response.HasStarted)
        {
            // Valet answers now, not the upstream: nothing the forwarder copied from a half-relayed answer (its status, its
            // headers, an upstream mark such as Valet-Upstream) may stay on Valet's own problem.
            context.Response.Clear();
        }

        if (Find<UpstreamAddressRefusedException>(exception) is { } refused)
        {
            call.Detail = "upstream_address_refused";
            ProxyLog.AddressRefused(logger, refused.Host, connectionId, refused.AddressClass.ToString().ToLowerInvariant());
            return Problems.Create(StatusCodes.Status502BadGateway, "upstream_address_refused", "Upstream address refused",
                "The provider's API host resolved to a loopback, private or link-local address; the proxy does not connect there " +
                "unless the operator sets AllowPrivateNetwork for this provider.");
        }

        if (Find<UpstreamBodyUnreadableException>(exception) is { } unreadable)
        {
            call.Detail = "upstream_body_unreadable";
            ProxyLog.UpstreamFailed(logger, connectionId, error.ToString(), nameof(UpstreamBodyUnreadableException));
            return Problems.Create(StatusCodes.Status502BadGateway, "upstream_body_unreadable", "Upstream answer unreadable",
                $"The provider answered in a content coding Valet cannot decode ({unreadable.Coding}), although Valet asked for none. " +
                "Its body could not be checked for the API key Valet adds to the query, so it was not passed on.");
        }

        if (Find<BadHttpRequestException>(exception) is { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            call.Detail = "payload_too_large";
            return TooLarge(maxRequestBytes);
        }

        ProxyLog.UpstreamFailed(logger, connectionId, error.ToString(), exception?.GetType().Name ?? "none");
        return error switch
        {
            ForwarderError.RequestBodyClient or ForwarderError.RequestBodyCanceled or ForwarderError.RequestCanceled =>
                Problems.Create(StatusCodes.Status400BadRequest, "request_body_failed", "Bad request", "The request body could not be read from the caller."),
            ForwarderError.RequestTimedOut => Unavailable(context, timedOut: true, "The provider did not answer in time."),
            _ => Unavailable(context, timedOut: false, "The provider could not be reached."),
        };
    }

    private static IResult Unavailable(HttpContext context, bool timedOut, string detail) =>
        Problems.ProviderUnavailable(context.Response, timedOut, detail + " The connection is unchanged; try again later.");

    public static IResult TooLarge(long limit) =>
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
}
