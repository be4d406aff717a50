using Microsoft.AspNetCore.Http;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Valet.Server.Hosting;

namespace Valet.Server.Mcp;

/// <summary>
/// What the Streamable HTTP transport asks of a server before it reads a request
/// (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning and #sending-messages-to-the-server):
/// <list type="bullet">
/// <item>"Servers MUST validate the Origin header on all incoming connections to prevent DNS rebinding attacks … If the
/// Origin header is present and invalid, servers MUST respond with HTTP 403 Forbidden." A request without <c>Origin</c>
/// (every non-browser client) passes; one with it passes only when it is the origin of <c>VALET_PUBLIC_URL</c> (never the
/// request's own <c>Host</c>, which a rebinding page controls) or listed in <c>Mcp:AllowedOrigins</c>
/// (<c>VALET_MCP__ALLOWEDORIGINS</c>, comma-separated, e.g. a browser-based MCP client's page).</item>
/// <item>A POST with no <c>Content-Type</c> is 415, as one of another media type is: the SDK threw on it (a 500).</item>
/// </list>
/// </summary>
internal sealed class McpOrigins(PublicBaseUrl publicBaseUrl, string? allowed)
{
    public const string ConfigurationKey = "Mcp:AllowedOrigins";

    private readonly string[] _allowed = [.. (allowed ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(Normalize).OfType<string>()];

    public bool Allows(string origin) =>
        Normalize(origin) is { } o && (o == Normalize(publicBaseUrl.Value) || _allowed.Contains(o, StringComparer.Ordinal));

    /// <summary>The answer to a request refused before the SDK sees it, or null to go on.</summary>
    public static Task? Refusal(HttpContext context, McpOrigins origins)
    {
        var request = context.Request;
        if (request.Headers.Origin.ToString() is { Length: > 0 } origin && !origins.Allows(origin))
        {
            return McpSessionIds.RefuseAsync(context, StatusCodes.Status403Forbidden, (int)McpErrorCode.InvalidRequest,
                $"Forbidden: requests from the origin '{Shorten(origin)}' are not allowed (Mcp:AllowedOrigins).");
        }

        if (HttpMethods.IsPost(request.Method) && string.IsNullOrEmpty(request.ContentType))
        {
            return McpSessionIds.RefuseAsync(context, StatusCodes.Status415UnsupportedMediaType, (int)McpErrorCode.InvalidRequest,
                "Unsupported Media Type: a POST to /mcp carries one JSON-RPC message with Content-Type: application/json.");
        }

        return null;
    }

    /// <summary><c>scheme://host[:port]</c> in lower case with the default port left out, or null for anything else.</summary>
    private static string? Normalize(string value) =>
        Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri.GetLeftPart(UriPartial.Authority).ToLowerInvariant()
            : null;

    private static string Shorten(string value) => value.Length <= 100 ? value : value[..100] + "…";
}
