using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>One answer of the token route, read whole.</summary>
internal sealed record TokenAnswer(HttpStatusCode Status, string? MediaType, string Text, JsonElement Body, string? RetryAfter)
{
    public string? AccessToken => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("access_token", out var t) ? t.GetString() : null;

    public string? Code => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("code", out var c) ? c.GetString() : null;
}

/// <summary>Helpers shared by the proof tests: connect for real, force expiry, fire storms, read what is stored.</summary>
internal static class RefreshKit
{
    /// <summary>Connects <paramref name="login"/> through the server's gateway flow, driving the IdP's pages in Chromium.</summary>
    public static async Task<string> ConnectAsync(Uri baseUrl, string adminToken, BrowserFixture browser, string login, string org = "default")
    {
        using var admin = Client(baseUrl, adminToken);
        var start = await admin.PostAsJsonAsync($"/v1/orgs/{org}/connect", new { provider = "idp" });
        var started = await start.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(start.IsSuccessStatusCode, started.ToString());

        var page = await browser.AuthorizeAsync(started.GetProperty("authorize_url").GetString()!, login);
        await page.Context.CloseAsync();

        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{started.GetProperty("flow_id").GetString()}/wait?timeout=15");
        Assert.Equal("complete", flow.GetProperty("status").GetString());
        return flow.GetProperty("connection_id").GetString()!;
    }

    public static Task<string> ConnectAsync(ValetTestServer server, BrowserFixture browser, string login, string org = "default") =>
        ConnectAsync(server.BaseUrl, ValetTestServer.AdminToken, browser, login, org);

    public static HttpClient Client(Uri baseUrl, string? bearer)
    {
        var client = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>One client for a storm: enough sockets that the requests really are concurrent.</summary>
    public static HttpClient StormClient(string bearer)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1000, PooledConnectionLifetime = TimeSpan.FromMinutes(2) };
        var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(90) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return client;
    }

    /// <summary>
    /// <paramref name="count"/> token requests released at once, request <c>i</c> going to <c>bases[i % bases.Count]</c>.
    /// </summary>
    public static async Task<TokenAnswer[]> StormAsync(HttpClient client, IReadOnlyList<Uri> bases, string connectionId, int count)
    {
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = Enumerable.Range(0, count).Select(async i =>
        {
            await go.Task;
            return await TokenAsync(client, new Uri(bases[i % bases.Count], $"/v1/connections/{connectionId}/token"));
        }).ToList();
        go.SetResult();
        return await Task.WhenAll(calls);
    }

    public static async Task<TokenAnswer> TokenAsync(HttpClient client, Uri url, object? body = null)
    {
        using var response = body is null ? await client.PostAsync(url, null) : await client.PostAsJsonAsync(url, body);
        return await ReadAsync(response);
    }

    public static Task<TokenAnswer> TokenAsync(HttpClient client, string connectionId, object? body = null) =>
        TokenAsync(client, new Uri(client.BaseAddress!, $"/v1/connections/{connectionId}/token"), body);

    public static async Task<TokenAnswer> ReadAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        JsonElement body = default;
        if (text.Length > 0)
        {
            try
            {
                body = JsonDocument.Parse(text).RootElement.Clone();
            }
            catch (JsonException)
            {
                // Not JSON (e.g. an unmapped route): the text is kept for the assertions.
            }
        }

        return new TokenAnswer(response.StatusCode, response.Content.Headers.ContentType?.MediaType, text, body,
            response.Headers.TryGetValues("Retry-After", out var values) ? values.Single() : null);
    }

    /// <summary>The same, straight in a PostgreSQL database shared by several nodes (as an out-of-band write).</summary>
    public static async Task ExpireInPostgresAsync(string database, string connectionId)
    {
        await using var db = new Npgsql.NpgsqlConnection(database);
        await db.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("UPDATE connections SET expires_at = now() - interval '1 minute' WHERE id = @id", db);
        command.Parameters.AddWithValue("id", connectionId);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    /// <summary>
    /// <see cref="ExpireInPostgresAsync"/> on nodes that may have the row cached, returning once every node has evicted
    /// it, instead of sleeping a guessed second for the NOTIFY. A probe key, first used on every node (so each caches it),
    /// is deleted in the same transaction, after the update. PostgreSQL delivers one transaction's notifications in the
    /// order they were sent, and a listener applies them in order, so a node that refuses the probe has also evicted the
    /// connection. Each node is asked until its first 401: one failed authentication per node, far below the lockout.
    /// </summary>
    public static async Task ExpireOnEveryNodeAsync(string database, IReadOnlyList<Uri> nodes, string connectionId)
    {
        using var admin = Client(nodes[0], ValetTestServer.AdminToken);
        var created = await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "notify-probe", permissions = new[] { new { connection = connectionId } } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var body = await created.Content.ReadFromJsonAsync<JsonElement>();
        using var probe = Client(nodes[0], body.GetProperty("key").GetString());
        foreach (var node in nodes)
        {
            Assert.Equal(HttpStatusCode.OK, (await probe.GetAsync(new Uri(node, "/v1/bootstrap"))).StatusCode);
        }

        await using (var db = new Npgsql.NpgsqlConnection(database))
        {
            await db.OpenAsync();
            await using var transaction = await db.BeginTransactionAsync();
            await using var expire = new Npgsql.NpgsqlCommand("UPDATE connections SET expires_at = now() - interval '1 minute' WHERE id = @id", db, transaction);
            expire.Parameters.AddWithValue("id", connectionId);
            Assert.Equal(1, await expire.ExecuteNonQueryAsync());
            await using var delete = new Npgsql.NpgsqlCommand("DELETE FROM api_keys WHERE id = @id", db, transaction);
            delete.Parameters.AddWithValue("id", body.GetProperty("id").GetString()!);
            Assert.Equal(1, await delete.ExecuteNonQueryAsync());
            await transaction.CommitAsync();
        }

        foreach (var node in nodes)
        {
            Assert.True(await EventuallyAsync(async () => (await probe.GetAsync(new Uri(node, "/v1/bootstrap"))).StatusCode == HttpStatusCode.Unauthorized,
                TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20)), $"{node} did not hear of the change within 30 s");
        }
    }

    /// <summary>Makes Valet see the stored access token as expired (the IdP's token itself is untouched).</summary>
    public static async Task ExpireAsync(IServiceProvider services, string connectionId)
    {
        var store = services.GetRequiredService<IConnectionStore>();
        var connection = await StoredAsync(services, connectionId);
        var updated = await store.UpdateAsync(connection with { ExpiresAt = DateTimeOffset.UtcNow.AddMinutes(-1) }, CancellationToken.None);
        Assert.NotNull(updated);
    }

    public static async Task<Connection> StoredAsync(IServiceProvider services, string connectionId) =>
        await services.GetRequiredService<IConnectionStore>().FindAsync(connectionId, CancellationToken.None)
        ?? throw new InvalidOperationException($"No connection {connectionId}.");

    /// <summary>Rows in the flows table of a SQLite-backed test server.</summary>
    public static async Task<long> FlowCountAsync(ValetTestServer server)
    {
        await using var db = new SqliteConnection($"Data Source={Path.Combine(server.DataDirectory, "valet.db")};Mode=ReadOnly;Pooling=False");
        await db.OpenAsync();
        await using var command = db.CreateCommand();
        command.CommandText = "SELECT count(*) FROM flows";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan timeout, TimeSpan? every = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(every ?? TimeSpan.FromMilliseconds(200));
        }

        return await condition();
    }

    /// <summary>The problem+json checks every envelope shares (SPEC §5).</summary>
    public static void AssertEnvelope(TokenAnswer answer, string code)
    {
        Assert.True(answer.Status == HttpStatusCode.Conflict, $"{answer.Status}: {answer.Text}");
        Assert.Equal("application/problem+json", answer.MediaType);
        Assert.Equal(code, answer.Code);
        Assert.Equal("urn:valet:problem:" + code, answer.Body.GetProperty("type").GetString());
        Assert.Equal("idp", answer.Body.GetProperty("provider").GetString());
    }

    public static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];
}
