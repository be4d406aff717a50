using Valet.Core.Flows;
using System.Security.Cryptography;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage;
using Valet.Storage.Data;

namespace Valet.Tests.Storage;

/// <summary>
/// Every store behaviour, run once per backend (<see cref="SqliteStoreTests"/>, <see cref="PostgresStoreTests"/>).
/// Each test gets a fresh database; a "node" is one service provider over it, as one Valet process would be.
/// </summary>
public abstract partial class StoreSuite : IAsyncLifetime
{
    protected const string Org = "acme";

    private readonly List<Node> _nodes = [];
    private readonly List<XChaChaVault> _vaults = [];
    private DatabaseTarget? _target;

    protected DatabaseTarget Target => _target ?? throw new InvalidOperationException("Not initialized.");

    protected XChaChaVault Vault { get; private set; } = null!;

    /// <summary>A fresh, empty database for one test.</summary>
    protected abstract Task<DatabaseTarget> CreateDatabaseAsync();

    protected abstract Task DeleteDatabaseAsync(DatabaseTarget target);

    /// <summary>Everything the backend keeps at rest (file bytes, or a dump), for plaintext scans.</summary>
    protected abstract Task<byte[]> ReadAtRestAsync(Node node);

    public async Task InitializeAsync()
    {
        Vault = NewVault("k1");
        _target = await CreateDatabaseAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        foreach (var vault in _vaults)
        {
            vault.Dispose();
        }

        if (_target is not null)
        {
            await DeleteDatabaseAsync(_target);
        }
    }

    protected XChaChaVault NewVault(string kid) => NewVault(new VaultKeyMaterial(kid, RandomNumberGenerator.GetBytes(32)));

    protected XChaChaVault NewVault(params VaultKeyMaterial[] keys)
    {
        var vault = new XChaChaVault(VaultKeyRing.FromKeys(keys));
        _vaults.Add(vault);
        return vault;
    }

    /// <summary>Starts a node: DI as the server wires it, migrations, and (by default) the key check.</summary>
    protected async Task<Node> StartNodeAsync(IVault? vault = null, bool verifyKey = true)
    {
        var services = new ServiceCollection()
            .AddSingleton(vault ?? Vault)
            .AddValetStorage(Target)
            .AddValetStorage(Target) // twice on purpose: TryAdd keeps it safe
            .BuildServiceProvider();
        var node = new Node(services);
        _nodes.Add(node);
        await services.GetRequiredService<StorageInitializer>().InitializeAsync(CancellationToken.None);
        if (verifyKey)
        {
            await node.Vault.VerifyKeyAsync(CancellationToken.None);
        }

        return node;
    }

    protected async Task<Node> StartWithOrgAsync()
    {
        var node = await StartNodeAsync();
        await node.Orgs.CreateAsync(new Org { Id = Org, Name = "Acme" }, CancellationToken.None);
        return node;
    }

    protected static Connection NewConnection(string accountId, string provider = "github", string orgId = Org) => new()
    {
        Id = Ids.New("conn"),
        OrgId = orgId,
        Provider = provider,
        AccountId = accountId,
        AccountLogin = "login-" + accountId,
        AccessToken = new Secret("gho_access_" + Ids.RandomString(24)),
        RefreshToken = new Secret("ghr_refresh_" + Ids.RandomString(24)),
        Scopes = ["repo", "read:user"],
        ExpiresAt = DateTimeOffset.UtcNow.AddHours(1),
    };

    protected static Flow NewFlow(DateTimeOffset createdAt, TimeSpan lifetime, string? state = null) => new()
    {
        Id = Ids.New("flow"),
        OrgId = Org,
        Provider = "github",
        Scopes = ["repo"],
        StateHash = Ids.Sha256Hex(state ?? Ids.RandomToken()),
        CodeVerifier = new Secret("pkce_" + Ids.RandomToken()),
        RedirectUri = "http://127.0.0.1:7878/oauth/callback",
        Transport = CallbackTransport.Gateway,
        CreatedAt = createdAt,
        ExpiresAt = createdAt + lifetime,
    };

    protected static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }

    protected static CancellationToken None => CancellationToken.None;

    /// <summary>Record equality, with the scope lists compared by content.</summary>
    protected static void AssertSame(Connection expected, Connection actual)
    {
        Assert.Equal(expected with { Scopes = null, Parameters = null }, actual with { Scopes = null, Parameters = null });
        Assert.Equal(expected.Scopes, actual.Scopes);
        Assert.Equal(expected.Parameters, actual.Parameters);
    }

    protected sealed class Node(ServiceProvider services) : IAsyncDisposable
    {
        public IOrgStore Orgs => services.GetRequiredService<IOrgStore>();
        public ICredentialStore Credentials => services.GetRequiredService<ICredentialStore>();
        public IConnectionStore Connections => services.GetRequiredService<IConnectionStore>();
        public IConnectionLocks Locks => services.GetRequiredService<IConnectionLocks>();
        public IFlowStore Flows => services.GetRequiredService<IFlowStore>();
        public IDeviceFlowStore DeviceFlows => services.GetRequiredService<IDeviceFlowStore>();
        public IApiKeyStore Keys => services.GetRequiredService<IApiKeyStore>();
        public ITargetStore Targets => services.GetRequiredService<ITargetStore>();
        public IAuditStore Audit => services.GetRequiredService<IAuditStore>();
        public IVaultMaintenance Vault => services.GetRequiredService<IVaultMaintenance>();
        internal Db Db => services.GetRequiredService<Db>();
        public IServiceProvider Services => services;

        /// <summary>Raw SQL, bypassing the stores (to tamper with the data as an attacker with database access would).</summary>
        public async Task<int> ExecuteRawAsync(string sql, object? args = null)
        {
            await using var connection = await Db.OpenAsync(CancellationToken.None);
            return await connection.ExecuteAsync(sql, args);
        }

        public ValueTask DisposeAsync() => services.DisposeAsync();
    }
}
