using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using Valet.Cli.Infrastructure;

namespace Valet.Cli.Commands;

/// <summary>
/// <c>valet connect PROVIDER</c>: the server owns the flow; the CLI starts it through <c>/internal/oauth/connect/start</c>,
/// opens the browser (or prints the URL on stderr) and polls the status until the flow is decided.
/// </summary>
internal static class ConnectCommand
{
    public const string ClientSecretVariable = "VALET_CLIENT_SECRET";

    /// <summary><c>--param NAME=VALUE</c>, repeated: the server checks names and values against the provider.</summary>
    private static Dictionary<string, string>? Parameters(string[]? pairs)
    {
        if (pairs is not { Length: > 0 })
        {
            return null;
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !result.TryAdd(pair[..eq].Trim(), pair[(eq + 1)..].Trim()))
            {
                throw new CliException($"--param takes NAME=VALUE, each name once (got '{pair}').", ExitCodes.Usage);
            }
        }

        return result;
    }

    public static Command Create()
    {
        var provider = new Argument<string>("provider") { Description = "Provider id (see valet providers list)" };
        var scopes = new Option<string?>("--scopes") { Description = "Comma-separated scopes (default: the provider's)" };
        var transport = new Option<string>("--callback-transport")
        {
            Description = "loopback (the server listens on 127.0.0.1 for this one redirect) or gateway ({VALET_PUBLIC_URL}/oauth/callback); " +
                "default: loopback for a server on this machine, gateway for one elsewhere (VALET_URL)",
        }.OneOf("loopback", "gateway");
        var clientId = new Option<string?>("--client-id") { Description = "Use this OAuth client (registered as a BYOC credential of the org)" };
        var clientSecret = new Option<string?>("--client-secret")
        {
            Description = $"'-' reads its secret from stdin; without this option it comes from {ClientSecretVariable}. Never the secret itself: it would show in the process list",
        };
        var noBrowser = new Option<bool>("--no-browser") { Description = "Print the URL on stderr instead of opening a browser" };
        var timeout = new Option<string>("--timeout") { Description = "How long to wait (default: the flow lifetime, 5m)", DefaultValueFactory = _ => "5m" };
        var force = new Option<bool>("--force") { Description = "Start a flow even when a connection with these scopes exists (e.g. a second account)" };
        var parameters = new Option<string[]>("--param")
        {
            Description = "A connection parameter of the provider, NAME=VALUE (e.g. --param subdomain=acme for Zendesk); repeat for several",
            AllowMultipleArgumentsPerToken = false,
        };
        var device = new Option<bool>("--device")
        {
            Description = "Device authorization grant (RFC 8628): print a code and a URL to enter it at, on any device; the server polls",
        };

        return new Command("connect", "Connect an account: run the OAuth flow in a browser")
            .With(provider, scopes, transport, clientId, clientSecret, noBrowser, Verb.Json, timeout, force, parameters, device, KeysCommand.Org)
            .WithApi((parse, api, ct) => AsOutcomeAsync(parse.GetValue(Verb.Json), parse.GetValue(provider), async () =>
            {
                var wait = Durations.Parse(parse.GetValue(timeout)!, "--timeout");
                var json = parse.GetValue(Verb.Json);
                var secret = await ReadSecretAsync(parse.GetValue(clientSecret), parse.GetValue(clientId) is not null, ct);
                if ((parse.GetValue(clientId) is null) != string.IsNullOrEmpty(secret))
                {
                    throw new CliException(
                        $"--client-id needs its secret: pipe it in with `--client-secret -`, or set {ClientSecretVariable}.", ExitCodes.Usage);
                }

                if (parse.GetValue(device))
                {
                    // What only the browser flow uses: refused rather than silently ignored.
                    var unused = new (Option Option, string Name)[] { (transport, "--callback-transport"), (parameters, "--param"), (force, "--force") }
                        .Where(o => parse.GetResult(o.Option) is { Implicit: false }).Select(o => o.Name).ToList();
                    if (unused.Count > 0)
                    {
                        throw new CliException($"{string.Join(", ", unused)} cannot be used with --device (the device grant has no callback, "
                            + "connection parameters or second-account start).", ExitCodes.Usage);
                    }

                    var started = ValetApi.EnsureSuccess(await api.PostAsync("internal/oauth/connect/device", new
                    {
                        org = parse.GetValue(KeysCommand.Org),
                        provider = parse.GetValue(provider),
                        scopes = parse.GetValue(scopes)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                        client_id = parse.GetValue(clientId),
                        client_secret = secret,
                    }, ct));

                    // stderr only: with --json, stdout holds the one outcome document.
                    Console.Error.WriteLine($"To connect {parse.GetValue(provider)}, open {started.Str("verification_uri")} and enter the code: {started.Str("user_code")}");
                    if (started.Str("verification_uri_complete") is { Length: > 0 } complete)
                    {
                        Console.Error.WriteLine($"(or open {complete})");
                    }

                    var handle = "internal/oauth/connect/device/" + Uri.EscapeDataString(started.Str("state"));
                    JsonElement decided;
                    try
                    {
                        decided = await PollAsync(api, handle, wait, ExpiresAt(started), ct, "Waiting for the code to be entered and approved…");
                    }
                    catch (OperationCanceledException) when (ct.IsCancellationRequested)
                    {
                        // Ctrl+C: a code entered later must connect nothing.
                        if (await CancelFlowAsync(api, handle + "/cancel") == "flow_decided")
                        {
                            Console.Error.WriteLine("The code had already been approved: the connection is stored anyway (see `valet connections list`).");
                        }

                        throw;
                    }

                    // --timeout: the same; a code approved at the last moment is reported, not left unsaid.
                    if (decided.Str("status") == "pending" && await CancelFlowAsync(api, handle + "/cancel") == "flow_decided")
                    {
                        decided = await PollAsync(api, handle, TimeSpan.FromSeconds(10), null, CancellationToken.None, "The code was approved just now: storing the connection…");
                    }

                    return Outcome(json, decided);
                }

                var start = await api.PostAsync("internal/oauth/connect/start", new
                {
                    parameters = Parameters(parse.GetValue(parameters)),
                    org = parse.GetValue(KeysCommand.Org),
                    provider = parse.GetValue(provider),
                    scopes = parse.GetValue(scopes)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                    // The loopback listener is the server's, on its own 127.0.0.1: a browser on another machine cannot reach a
                    // remote node's, so a server elsewhere defaults to the gateway callback.
                    callback_transport = parse.GetValue(transport) ?? (api.BaseUrl.IsLoopback ? "loopback" : "gateway"),
                    client_id = parse.GetValue(clientId),
                    client_secret = secret,
                    force = parse.GetValue(force),
                }, ct);
                var body = ValetApi.EnsureSuccess(start);

                if (body.Str("status") == "already_connected")
                {
                    return Finish(json, new Dictionary<string, object?>
                    {
                        ["status"] = "already_connected",
                        ["connection_id"] = body.Str("connection_id"),
                        ["provider"] = body.Str("provider"),
                        ["account"] = body.TryGetProperty("account", out var account) ? account : null,
                        ["granted_scopes"] = body.TryGetProperty("granted_scopes", out var granted) ? granted : null,
                    }, $"Already connected: {body.Str("connection_id")} (use --force to connect another account).", ExitCodes.Success);
                }

                var url = body.Str("auth_url");
                if (parse.GetValue(noBrowser) || !TryOpenBrowser(url))
                {
                    Console.Error.WriteLine($"Open this URL to continue: {url}");
                }
                else
                {
                    Console.Error.WriteLine($"Opened your browser. If nothing happened, open: {url}");
                }

                var state = Uri.EscapeDataString(body.Str("state"));
                JsonElement status;
                try
                {
                    status = await PollAsync(api, "internal/oauth/connect/status/" + state, wait, ExpiresAt(body), ct);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    await CancelFlowAsync(api, "internal/oauth/connect/cancel/" + state); // Ctrl+C: nobody will wait for this flow any more
                    throw;
                }

                if (status.Str("status") == "pending")
                {
                    await CancelFlowAsync(api, "internal/oauth/connect/cancel/" + state); // --timeout: the same
                }

                return Outcome(json, status);
            }));
    }

    /// <summary>
    /// With <c>--json</c>, a connect that fails before its flow is decided (the server refuses the start, is unreachable, or
    /// loses the flow while we poll) still prints its one outcome document, shaped like a decided failure:
    /// <c>{"status": "error", "provider", "error": CODE, "detail"}</c>. Usage errors (exit 2) print none: nothing was attempted.
    /// </summary>
    private static async Task<int> AsOutcomeAsync(bool json, string? provider, Func<Task<int>> connect)
    {
        try
        {
            return await connect();
        }
        catch (CliException error) when (json && error.ExitCode == ExitCodes.Failure && error.Code is { } code)
        {
            // The stderr line ends in "(CODE)"; in the document the code has its own member.
            var detail = error.Message.EndsWith($" ({code})", StringComparison.Ordinal) ? error.Message[..^(code.Length + 3)] : error.Message;
            Finish(json, new Dictionary<string, object?> { ["status"] = "error", ["provider"] = provider, ["error"] = code, ["detail"] = detail }, null,
                ExitCodes.Failure);
            throw;
        }
    }

    /// <summary>The decided flow: its one line (or JSON document) and exit code; a failure ends in one stderr line, exit 1.</summary>
    private static int Outcome(bool json, JsonElement status)
    {
        var outcome = new Dictionary<string, object?> { ["status"] = status.Str("status"), ["provider"] = status.Str("provider") };
        if (status.Str("status") == "complete")
        {
            outcome["connection_id"] = status.Str("connection_id");
            outcome["account"] = status.GetProperty("account");
            outcome["granted_scopes"] = status.TryGetProperty("granted_scopes", out var granted) ? granted : null;
            var account = status.GetProperty("account");
            var who = account.Str("login") is { Length: > 0 } login ? login : account.Str("id");
            return Finish(json, outcome, $"Connected {status.Str("provider")} account {who} as {status.Str("connection_id")}.", ExitCodes.Success);
        }

        // Every failed outcome reads the same way (README: {"status": "error", "provider", "error": CODE, "detail"}).
        var (error, detail) = status.Str("status") switch
        {
            "expired" => ("flow_expired", "The flow expired before the person finished at the provider; run valet connect again."),
            "pending" => ("timeout", "No answer within --timeout; the flow was cancelled at the server."),
            _ when status.Str("error") == "interrupted" => ("interrupted",
                "The person approved, but the Valet node storing the connection stopped before it did; nothing was stored. Run valet connect again."),
            _ when status.Str("error") is { Length: > 0 } e => (e, $"The flow ended with the error '{e}' (the provider's or the person's refusal)."),
            _ => ("flow_failed", "The flow ended without a connection, and without a reason from the server."),
        };
        outcome["status"] = "error";
        outcome["error"] = error;
        outcome["detail"] = detail;
        Finish(json, outcome, null, ExitCodes.Failure);
        // No code: the outcome document is printed already (AsOutcomeAsync prints one only for a failure with a code).
        throw new CliException($"connection failed: {outcome["error"]}.");
    }

    /// <summary>
    /// Tells the server this CLI gave up on its flow: it ends as cancelled and its loopback listener closes now, not at the
    /// flow's expiry (a consent given later would connect an account nobody is waiting for). Best effort, briefly: the
    /// flow expires anyway. Returns the server's error code when it refused (<c>flow_decided</c>: a device code already
    /// approved), else null.
    /// </summary>
    private static async Task<string?> CancelFlowAsync(ValetApi api, string cancelPath)
    {
        using var brief = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            var answer = await api.PostAsync(cancelPath, null, brief.Token);
            return answer.IsSuccess ? null : answer.ErrorCode;
        }
        catch (Exception error) when (error is HttpRequestException or OperationCanceledException or CliException)
        {
            return null; // The server is gone or slow: the flow expires on its own.
        }
    }

    /// <summary>Past the flow's expiry the server answers <c>expired</c>; this margin only covers clock skew and a lost answer.</summary>
    private static readonly TimeSpan ExpiryMargin = TimeSpan.FromSeconds(10);

    private static DateTimeOffset? ExpiresAt(JsonElement body) =>
        body.TryGetProperty("expires_at", out var value) && value.ValueKind == JsonValueKind.String && value.TryGetDateTimeOffset(out var at) ? at : null;

    /// <summary>
    /// The client secret, from stdin (<c>--client-secret -</c>) or <see cref="ClientSecretVariable"/> (only with
    /// <c>--client-id</c>); never from the command line, where every user of the machine can read it (ps, /proc).
    /// </summary>
    private static async Task<string?> ReadSecretAsync(string? option, bool hasClientId, CancellationToken cancellationToken)
    {
        if (option is not null)
        {
            if (option != "-")
            {
                // The value is not repeated: the message goes to a terminal, a log or a CI transcript.
                throw new CliException(
                    $"--client-secret does not take the secret on the command line (it would show in the process list): use `--client-secret -` and pipe it on stdin, or set {ClientSecretVariable}.",
                    ExitCodes.Usage);
            }

            if (!hasClientId)
            {
                // Without a client id the secret has nothing to go with: reading it silently and then using the org's own
                // client would look like success with the wrong client.
                throw new CliException("--client-secret - goes with --client-id (the client it belongs to).", ExitCodes.Usage);
            }

            return (await SecretInput.ReadAsync("Client secret", cancellationToken))?.Trim();
        }

        return hasClientId && Environment.GetEnvironmentVariable(ClientSecretVariable) is { Length: > 0 } fromEnvironment
            ? fromEnvironment.Trim()
            : null;
    }

    private static async Task<JsonElement> PollAsync(ValetApi api, string path, TimeSpan wait, DateTimeOffset? expiresAt, CancellationToken cancellationToken,
        string waiting = "Waiting for you to finish in the browser…")
    {
        var started = DateTimeOffset.UtcNow;
        // Bounded by --timeout and by the flow's lifetime (its expiry moves later only while the code is being exchanged).
        DateTimeOffset Deadline() => expiresAt is { } at && at + ExpiryMargin < started + wait ? at + ExpiryMargin : started + wait;

        async Task<JsonElement> Loop(Action<string>? report)
        {
            while (true)
            {
                var status = ValetApi.EnsureSuccess(await api.GetAsync(path, cancellationToken));
                expiresAt = ExpiresAt(status) ?? expiresAt;
                var deadline = Deadline();
                if (status.Str("status") != "pending" || DateTimeOffset.UtcNow >= deadline)
                {
                    return status;
                }

                report?.Invoke($"{waiting} ({(int)(deadline - DateTimeOffset.UtcNow).TotalSeconds}s left)");
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken);
            }
        }

        if (Console.IsErrorRedirected)
        {
            return await Loop(null);
        }

        // Spinner on stderr only: stdout stays clean for --json.
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return await console.Status().StartAsync(waiting, context => Loop(text => context.Status(text)));
    }

    private static int Finish(bool json, Dictionary<string, object?> outcome, string? line, int exitCode)
    {
        if (json)
        {
            CliJson.Print(outcome);
        }
        else if (line is not null)
        {
            Console.Out.WriteLine(line);
        }

        return exitCode;
    }

    /// <summary>
    /// True when an opener took the URL: it exited 0, or is still running after a moment (some stay until the browser
    /// has started). An opener that exits non-zero found no browser (xdg-open exits 3 on a machine without one): the next
    /// is tried, then the caller prints the URL instead of claiming a browser opened.
    /// </summary>
    internal static bool TryOpenBrowser(string url)
    {
        foreach (var opener in OperatingSystem.IsMacOS() ? ["open"] : new[] { "xdg-open", "sensible-browser" })
        {
            try
            {
                using var process = Process.Start(new ProcessStartInfo(opener, url) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true });
                if (process is not null && (!process.WaitForExit(TimeSpan.FromSeconds(3)) || process.ExitCode == 0))
                {
                    return true;
                }
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // Not installed: try the next one, then print the URL.
            }
        }

        return false;
    }
}
