using System.Collections.Concurrent;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Valet.Tests.Mcp;

/// <summary>The official C# MCP client over Streamable HTTP, as an agent configures it (docs/mcp.md).</summary>
internal static class CSharpMcpClient
{
    /// <summary>
    /// Connects with the agent key. <paramref name="urlElicitation"/> declares URL-mode elicitation; <paramref name="protocolVersion"/>
    /// null lets the SDK pick its newest revision (capabilities on every request), "2025-11-25" forces the initialize handshake
    /// (capabilities once, at initialize). <paramref name="http"/> replaces the transport's own HttpClient (to route requests).
    /// </summary>
    public static async Task<McpClient> ConnectAsync(Uri endpoint, string key, bool urlElicitation, string? protocolVersion = null, HttpClient? http = null)
    {
        var transportOptions = new HttpClientTransportOptions
        {
            Endpoint = endpoint,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + key },
        };
        var transport = http is null ? new HttpClientTransport(transportOptions) : new HttpClientTransport(transportOptions, http, null, ownsHttpClient: false);
        var options = new McpClientOptions { ProtocolVersion = protocolVersion };
        if (urlElicitation)
        {
            options.Capabilities = new ClientCapabilities { Elicitation = new ElicitationCapability { Url = new UrlElicitationCapability() } };
            options.Handlers = new McpClientHandlers
            {
                // Valet never sends elicitation/create (it answers -32042 instead); a client that declares the capability answers it anyway.
                ElicitationHandler = (_, _) => ValueTask.FromResult(new ElicitResult { Action = "decline" }),
            };
        }

        return await McpClient.CreateAsync(transport, options);
    }

    /// <summary>Collects the elicitationId of every notifications/elicitation/complete the client receives.</summary>
    public static IAsyncDisposable ListenForCompletions(McpClient client, ConcurrentQueue<string> completions) =>
        client.RegisterNotificationHandler(NotificationMethods.ElicitationCompleteNotification, (notification, _) =>
        {
            completions.Enqueue(notification.Params?["elicitationId"]?.GetValue<string>() ?? string.Empty);
            return ValueTask.CompletedTask;
        });
}
