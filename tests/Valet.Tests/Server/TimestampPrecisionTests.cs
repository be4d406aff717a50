using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// A row's timestamps read the same in the answer that made it and in every later read: milliseconds, on both backends
/// (SQLite stores milliseconds, PostgreSQL microseconds, the clock has 100 ns ticks).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class TimestampPrecisionTests(PostgresFixture postgres)
{
    public static TheoryData<string> Backends => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ACreatesAnswer_AndLaterReads_ShowTheSameInstant(string backend)
    {
        var database = backend == "postgres" ? await postgres.CreateDatabaseAsync() : null;
        await using var server = await ValetTestServer.StartAsync(database is null ? null : new Dictionary<string, string?>
        {
            ["DATABASE"] = database, ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
        });
        using var admin = server.Client();

        // Several of each, so a clock that happened to land on a whole millisecond cannot make the check pass.
        for (var i = 0; i < 5; i++)
        {
            var org = await Created(await admin.PostAsJsonAsync("/v1/orgs", new { id = $"time-{i}", name = "Time" }));
            var orgRead = await admin.GetFromJsonAsync<JsonElement>($"/v1/orgs/time-{i}");
            AssertSameInstant(org, orgRead, "created_at");
            var listed = (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs")).EnumerateArray().Single(o => o.GetProperty("id").GetString() == $"time-{i}");
            AssertSameInstant(org, listed, "created_at");

            var key = await Created(await admin.PostAsJsonAsync($"/v1/orgs/time-{i}/keys", new { name = "k", permissions = Array.Empty<object>() }));
            var keyRead = await admin.GetFromJsonAsync<JsonElement>($"/v1/keys/{key.GetProperty("id").GetString()}");
            AssertSameInstant(key, keyRead, "created_at");

            var credential = await Created(await admin.PostAsJsonAsync($"/v1/orgs/time-{i}/credentials",
                new { provider = "github", client_id = "c", client_secret = "s" }));
            var credentialRead = await admin.GetFromJsonAsync<JsonElement>($"/v1/credentials/{credential.GetProperty("id").GetString()}");
            AssertSameInstant(credential, credentialRead, "created_at");

            var imported = await Created(await admin.PostAsJsonAsync($"/v1/orgs/time-{i}/connections/import", new
            {
                provider = "github", credential_id = credential.GetProperty("id").GetString(), access_token = "at", expires_in = 3600,
                account = new { id = $"acct-{i}" },
            }));
            var connectionRead = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{imported.GetProperty("id").GetString()}");
            AssertSameInstant(imported, connectionRead, "created_at");
            AssertSameInstant(imported, connectionRead, "expires_at");
        }
    }

    private static async Task<JsonElement> Created(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement;
    }

    private static void AssertSameInstant(JsonElement made, JsonElement read, string member)
    {
        var a = made.GetProperty(member).GetString()!;
        var b = read.GetProperty(member).GetString()!;
        Assert.Equal(a, b);
        // Milliseconds at most: "…T06:00:00.123+00:00".
        var fraction = a.Contains('.', StringComparison.Ordinal) ? a[(a.IndexOf('.', StringComparison.Ordinal) + 1)..].TakeWhile(char.IsDigit).Count() : 0;
        Assert.InRange(fraction, 0, 3);
    }
}
