namespace Valet.Server.Proxy;

/// <summary>
/// Adds an api_key provider's secret query parameter at the last moment: after YARP has logged the destination and
/// before the socket, and removes it from the request again once the call returns, so the secret is in the request
/// line sent to the provider and nowhere else (not in a log, an audit path, an exception or <c>RequestMessage</c>).
/// </summary>
internal sealed class SecretQueryHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    public static readonly HttpRequestOptionsKey<(string Name, string Value)> Key = new("valet.secret-query");

    private static readonly UriCreationOptions Verbatim = new() { DangerousDisablePathAndQueryCanonicalization = true };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(Key, out var query) || request.RequestUri is not { } original)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        request.RequestUri = With(original, query.Name, query.Value);
        try
        {
            return await base.SendAsync(request, cancellationToken);
        }
        catch (Exception error) when (Quotes(error, query))
        {
            // The client's own error can quote the request line: SocketsHttpHandler's "Received an invalid status line:
            // 'GET /items?api_key=… HTTP/1.1'" when a non-HTTP server echoes it (a mis-set port on Redis or SMTP). YARP
            // logs that exception with its message, so it is rethrown with the secret cut out, same kind and error class,
            // and without the inner chain that may quote it too.
            throw Redacted(error, query);
        }
        finally
        {
            request.RequestUri = original;
        }
    }

    private static bool Quotes(Exception error, (string Name, string Value) query)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e.Message.Contains(Uri.EscapeDataString(query.Name) + "=", StringComparison.Ordinal)
                || e.Message.Contains(query.Value, StringComparison.Ordinal)
                || e.Message.Contains(Uri.EscapeDataString(query.Value), StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static Exception Redacted(Exception error, (string Name, string Value) query)
    {
        const string Mark = "[redacted]";
        var message = error.Message.Replace(Uri.EscapeDataString(query.Value), Mark, StringComparison.Ordinal)
            .Replace(query.Value, Mark, StringComparison.Ordinal);
        // Whatever follows the parameter's name up to the next separator: a line cut short may hold part of the value.
        message = System.Text.RegularExpressions.Regex.Replace(message,
            "(?<=[?&]" + System.Text.RegularExpressions.Regex.Escape(Uri.EscapeDataString(query.Name)) + "=)[^&\\s'\"]*", Mark);
        return error switch
        {
            OperationCanceledException canceled => new OperationCanceledException(message, null, canceled.CancellationToken),
            HttpRequestException http => new HttpRequestException(http.HttpRequestError, message, null, http.StatusCode),
            _ => new HttpRequestException(HttpRequestError.Unknown, message),
        };
    }

    /// <summary><paramref name="uri"/> with <c>name=value</c> (escaped) appended to its query, byte for byte otherwise.</summary>
    internal static Uri With(Uri uri, string name, string value)
    {
        var text = uri.OriginalString;
        var separator = text.Contains('?', StringComparison.Ordinal) ? (text.EndsWith('?') || text.EndsWith('&') ? string.Empty : "&") : "?";
        return new Uri(text + separator + Uri.EscapeDataString(name) + "=" + Uri.EscapeDataString(value), Verbatim);
    }

    /// <summary>
    /// The agent's query without any parameter named <paramref name="name"/> (a caller must not pick or shadow the
    /// secret Valet injects). <paramref name="query"/> is empty or starts with '?'.
    /// </summary>
    internal static string Without(string query, string name)
    {
        if (query.Length <= 1)
        {
            return query;
        }

        var kept = query[1..].Split('&').Where(pair =>
        {
            var key = pair.Split('=', 2)[0];
            string decoded;
            try
            {
                decoded = Uri.UnescapeDataString(key.Replace('+', ' '));
            }
            catch (UriFormatException)
            {
                decoded = key;
            }

            return !string.Equals(decoded, name, StringComparison.Ordinal);
        }).ToList();
        return kept.Count == 0 ? string.Empty : "?" + string.Join('&', kept);
    }
}
