using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// A node dies (SIGKILL) while it holds a connection's refresh lock and its provider call is in flight. The survivors
/// must answer every caller, no row may stay locked, and the connection must end usable or <c>reauth_required</c> with a
/// reason (docs/refresh.md, "A node dies mid-refresh").
/// </summary>
[Collection(RefreshPostgresCollection.Name)]
public sealed class CrashProofTests(PostgresFixture postgres, IdpFixture idp, BrowserFixture browser, Xunit.Abstractions.ITestOutputHelper output)
    : IAsyncLifetime
{
    private const int Trials = 10;
    private const int Nodes = 3;
    private readonly ServeProcess?[] _nodes = new ServeProcess?[Nodes];
    private readonly Dictionary<string, string?>[] _settings = new Dictionary<string, string?>[Nodes];
    private string _database = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _database = await postgres.CreateDatabaseAsync();
        var key = ValetTestServer.RandomKey();
        for (var i = 0; i < Nodes; i++)
        {
            // Each node names its sessions, so the test can see which one holds the lock.
            _settings[i] = new Dictionary<string, string?>(idp.ProviderSettings())
            {
                ["DATABASE"] = _database + $";Application Name=valet-node-{i}",
                ["ENCRYPTION_KEY"] = key,
                ["ADMIN_TOKEN"] = ValetTestServer.AdminToken,
                ["RateLimits:AgentRequestsPerSecond"] = "100000", // a storm with one key
                ["RateLimits:AgentBurst"] = "100000",
            };
        }

        _nodes[0] = await ServeProcess.StartAsync(_settings[0]);
        var others = await Task.WhenAll(ServeProcess.StartAsync(_settings[1]), ServeProcess.StartAsync(_settings[2]));
        _nodes[1] = others[0];
        _nodes[2] = others[1];
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }
        }

        await postgres.DropDatabaseAsync(_database);
        await idp.ResetAsync();
    }

    [Fact]
    public async Task KillingTheLockHolder_MidRefresh_LeavesEveryOtherCallerAnswered_AndNoRowLocked()
    {
        var random = new Random(20261129);
        var outcomes = new List<string>();
        for (var trial = 0; trial < Trials; trial++)
        {
            await idp.ResetAsync();
            var live = _nodes.Select((n, i) => (Node: n!, Index: i)).ToList();
            var connectionId = await RefreshKit.ConnectAsync(live[trial % Nodes].Node.BaseUrl, ValetTestServer.AdminToken, browser, $"crash{trial}");
            using var admin = RefreshKit.Client(live[0].Node.BaseUrl, ValetTestServer.AdminToken);
            var created = await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = $"agent{trial}", permissions = new[] { new { connection = connectionId } } });
            var apiKey = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
            // Slow first, then expired: a node's proactive refresher may claim the row the moment it is due, and a refresh
            // that ran before the IdP turned slow would finish unseen and leave the storm nothing to refresh (trial 9 of a
            // loaded run once found no lock holder that way).
            await idp.SetSlowAsync(1000);
            await RefreshKit.ExpireInPostgresAsync(_database, connectionId);

            using var agent = RefreshKit.StormClient(apiKey);
            agent.Timeout = TimeSpan.FromSeconds(60);
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var calls = Enumerable.Range(0, 150).Select(async i =>
            {
                var index = i % Nodes;
                await go.Task;
                try
                {
                    return (Index: index, Answer: (TokenAnswer?)await RefreshKit.TokenAsync(agent, new Uri(live[index].Node.BaseUrl, $"/v1/connections/{connectionId}/token")));
                }
                catch (Exception e) when (e is HttpRequestException or System.Net.Sockets.SocketException)
                {
                    // A caller of the node being killed may meet a socket the dying process accepted: .NET then throws the
                    // SocketException of Socket.RemoteEndPoint (ENOTCONN) unwrapped. Only survivors' callers must be answered.
                    return (Index: index, Answer: null);
                }
            }).ToList();
            go.SetResult();

            // The holder: the session keeping a transaction open across the provider call. Kill it at a random moment
            // of the (one-second) provider call.
            var holder = await LockHolderAsync(TimeSpan.FromSeconds(20));
            Assert.True(holder >= 0, $"trial {trial}: no node was seen holding the refresh lock");
            await Task.Delay(random.Next(0, 800));
            await _nodes[holder]!.DisposeAsync();
            _nodes[holder] = null;

            var answers = await Task.WhenAll(calls);
            foreach (var (index, answer) in answers.Where(a => a.Index != holder))
            {
                Assert.True(answer is not null, $"trial {trial}: a caller of surviving node {index} got no answer");
                Assert.True(IsAcceptable(answer!), $"trial {trial}, node {index}: {answer!.Status} {answer.Text}");
            }

            await idp.ResetAsync();
            Assert.False(await IsLockedAsync(connectionId), $"trial {trial}: the connection row is still locked");

            // The connection ends working, or waiting for a person with a reason: never stuck in between.
            var survivor = _nodes.First(n => n is not null)!;
            var final = await RefreshKit.TokenAsync(agent, new Uri(survivor.BaseUrl, $"/v1/connections/{connectionId}/token"));
            var (status, reason) = await StatusAsync(connectionId);
            if (final.Status == HttpStatusCode.OK)
            {
                Assert.Equal("active", status);
            }
            else
            {
                RefreshKit.AssertEnvelope(final, "reauth_required");
                Assert.Equal("reauth_required", status);
                Assert.False(string.IsNullOrEmpty(reason), $"trial {trial}: reauth_required without a reason");
            }

            outcomes.Add($"{status}{(reason is null ? string.Empty : " (" + reason + ")")}");
            _nodes[holder] = await ServeProcess.StartAsync(_settings[holder]);
        }

        output.WriteLine(string.Join(Environment.NewLine, outcomes.Select((o, i) => $"trial {i}: {o}")));
        Assert.Equal(Trials, outcomes.Count);
    }

    private static bool IsAcceptable(TokenAnswer answer) => answer.Status switch
    {
        HttpStatusCode.OK => answer.AccessToken is not null,
        HttpStatusCode.Conflict => answer.Code is "reauth_required" or "needs_authentication" or "missing_scopes",
        HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout => answer.Code == "provider_unavailable",
        _ => false,
    };

    /// <summary>Index of the node whose session sits in an open transaction holding the row lock; -1 if none in time.</summary>
    private async Task<int> LockHolderAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        await using var db = new NpgsqlConnection(postgres.AdminConnectionString);
        await db.OpenAsync();
        while (DateTime.UtcNow < deadline)
        {
            await using var command = new NpgsqlCommand(
                """
                SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND a.state = 'idle in transaction'
                  AND a.application_name LIKE 'valet-node-%' AND a.query ILIKE '%for update%'
                LIMIT 1
                """, db);
            if (await command.ExecuteScalarAsync() is string name)
            {
                return int.Parse(name["valet-node-".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }

            await Task.Delay(20);
        }

        return -1;
    }

    private async Task<bool> IsLockedAsync(string connectionId)
    {
        await using var db = new NpgsqlConnection(_database);
        await db.OpenAsync();
        await using var transaction = await db.BeginTransactionAsync();
        await using var command = new NpgsqlCommand("SELECT 1 FROM connections WHERE id = @id FOR UPDATE NOWAIT", db, transaction);
        command.Parameters.AddWithValue("id", connectionId);
        try
        {
            await command.ExecuteScalarAsync();
            return false;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            return true;
        }
    }

    private async Task<(string Status, string? Reason)> StatusAsync(string connectionId)
    {
        await using var db = new NpgsqlConnection(_database);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT status, status_reason FROM connections WHERE id = @id", db);
        command.Parameters.AddWithValue("id", connectionId);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1));
    }
}
