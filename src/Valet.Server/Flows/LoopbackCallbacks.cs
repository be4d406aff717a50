using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Core.Flows;
using Valet.Server.Dashboard;

namespace Valet.Server.Flows;

/// <summary>
/// RFC 8252 loopback redirects: for one flow the server binds <c>127.0.0.1</c> on an ephemeral port, accepts exactly one
/// callback there, and releases the port afterwards (or when the flow's lifetime is over).
/// </summary>
internal sealed partial class LoopbackCallbacks(IServiceProvider services, ILogger<LoopbackCallbacks> logger) : IAsyncDisposable
{
    /// <summary>The open listeners, by the redirect URI each serves (what a flow remembers, so what cancelling one names).</summary>
    private readonly Dictionary<string, WebApplication> _open = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public int OpenCount
    {
        get
        {
            lock (_gate)
            {
                return _open.Count;
            }
        }
    }

    /// <summary>An open listener: its redirect URI, and how to close it early (a flow that could not start).</summary>
    public sealed class Opened(string redirectUri, Func<Task> close)
    {
        public string RedirectUri => redirectUri;

        public Task CloseAsync() => close();
    }

    /// <summary>Starts a listener and returns its redirect URI (<c>http://127.0.0.1:PORT/oauth/callback</c>).</summary>
    public async Task<Opened> OpenAsync(TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var listener = builder.Build();
        var done = new CancellationTokenSource();

        listener.MapGet("/oauth/callback", async (HttpContext context) =>
        {
            var engine = services.GetRequiredService<FlowEngine>();
            var outcome = await engine.CompleteAsync(CallbackEndpoints.Read(context.Request), context.RequestAborted);
            await CallbackPage.WriteAsync(context, outcome, onMainServer: false);
            if (!outcome.BadState)
            {
                // One redirect per listener: close once the flow is decided.
                await done.CancelAsync();
            }
        });
        listener.MapGet("/dashboard.css", DashboardEndpoints.Stylesheet);

        await listener.StartAsync(cancellationToken);
        var address = listener.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(address).Port;
        var redirectUri = $"http://127.0.0.1:{port}/oauth/callback";
        lock (_gate)
        {
            _open[redirectUri] = listener;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(lifetime, done.Token);
            }
            catch (OperationCanceledException)
            {
                // Callback handled: give the response a moment to flush, and the browser to fetch the page's stylesheet.
                await Task.Delay(TimeSpan.FromMilliseconds(1500), CancellationToken.None);
            }

            await CloseAsync(redirectUri);
            done.Dispose();
        }, CancellationToken.None);

        LogOpened(logger, port);
        return new Opened(redirectUri, () => CloseAsync(redirectUri));
    }

    public async ValueTask DisposeAsync()
    {
        string[] open;
        lock (_gate)
        {
            open = [.. _open.Keys];
        }

        foreach (var redirectUri in open)
        {
            await CloseAsync(redirectUri);
        }
    }

    /// <summary>Closes this node's listener for <paramref name="redirectUri"/>, if it has one (its flow decided, expired or cancelled).</summary>
    public async Task CloseAsync(string redirectUri)
    {
        WebApplication? listener;
        lock (_gate)
        {
            if (!_open.Remove(redirectUri, out listener))
            {
                return;
            }
        }

        await listener.StopAsync(CancellationToken.None);
        await listener.DisposeAsync();
        LogClosed(logger);
    }

    [LoggerMessage(EventId = 3050, Level = LogLevel.Information, Message = "Loopback callback listener opened on 127.0.0.1:{Port}")]
    private static partial void LogOpened(ILogger logger, int port);

    [LoggerMessage(EventId = 3051, Level = LogLevel.Debug, Message = "Loopback callback listener closed")]
    private static partial void LogClosed(ILogger logger);
}
