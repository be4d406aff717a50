using System.Runtime.CompilerServices;
using Valet.Core.Access;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

/// <summary>Core's one path from an agent's key to a token: permissions, connection choice, envelopes, the single read.</summary>
public sealed class AgentAccessTests : IDisposable
{
    private readonly RefreshRig _rig = new();
    private readonly FakeTargetStore _targets = new();
    private readonly FakeDefaults _defaults = new();

    public void Dispose() => _rig.Dispose();

    [Fact]
    public async Task FreshToken_ByConnection_ReadsTheConnectionOnce_NoLock_NoProviderCall()
    {
        _rig.Add(TimeSpan.FromMinutes(10));

        var outcome = await NewAccess().TokenAsync(Caller(Connection(RefreshRig.Id)), RefreshRig.Id, [], default);

        var token = Assert.IsType<AccessOutcome.Token>(outcome);
        Assert.Equal(new Secret("at-0"), token.AccessToken);
        Assert.Equal(RefreshRig.Id, token.Connection.Id);
        Assert.Equal(1, _rig.Store.Reads);
        Assert.Equal(0, _rig.Locks.Acquisitions);
        Assert.Equal(0, _rig.OAuth.Calls);
    }

    [Fact]
    public async Task ExpiringToken_ByConnection_IsRefreshedThroughTheEngine_WithoutASecondPlainRead()
    {
        _rig.Add(TimeSpan.FromSeconds(30));

        var outcome = await NewAccess().TokenAsync(Caller(Connection(RefreshRig.Id)), RefreshRig.Id, [], default);

        Assert.Equal(new Secret("at-1"), Assert.IsType<AccessOutcome.Token>(outcome).AccessToken);
        Assert.Equal(1, _rig.OAuth.Calls);
        Assert.Equal(1, _rig.Locks.Acquisitions);
        Assert.Equal(1, _rig.Store.Reads); // the lock re-reads under the lock; nobody reads the row twice outside it
    }

    [Fact]
    public async Task Permissions_OtherOrgIsNotFound_NoPermissionIsForbidden_ProviderPermissionAndServiceMayUse()
    {
        _rig.Add();
        _rig.Add(id: "conn_other", tweak: c => c with { OrgId = "beta" });
        var access = NewAccess();

        var otherOrg = await access.TokenAsync(Caller(Connection("conn_other")), "conn_other", [], default);
        var none = await access.TokenAsync(Caller(Connection("conn_elsewhere")), RefreshRig.Id, [], default);
        var byProvider = await access.TokenAsync(Caller(Provider("acme")), RefreshRig.Id, [], default);
        var service = await access.TokenAsync(AgentCaller.Service, "conn_other", [], default);
        var nobody = await access.TokenAsync(default, RefreshRig.Id, [], default);
        var tooLong = await access.TokenAsync(Caller(Provider("acme")), new string('x', 65), [], default);

        Assert.Equal("connection_not_found", Assert.IsType<AccessOutcome.NotFound>(otherOrg).Code);
        Assert.Equal(RefreshRig.Id, Assert.IsType<AccessOutcome.Forbidden>(none).Connection?.Id);
        Assert.IsType<AccessOutcome.Token>(byProvider);
        Assert.IsType<AccessOutcome.Token>(service);
        Assert.IsType<AccessOutcome.NotFound>(nobody);
        Assert.IsType<AccessOutcome.NotFound>(tooLong);
    }

    [Fact]
    public async Task DeadConnection_IsTheReauthEnvelope_BeforeMissingScopes_AndMissingScopesNameWhatIsMissing()
    {
        _rig.Add(tweak: c => c with { Status = ConnectionStatus.ReauthRequired, StatusReason = "invalid_grant" });
        _rig.Add(id: "conn_2");
        var access = NewAccess();
        var caller = Caller(Provider("acme"));

        var dead = Assert.IsType<AccessOutcome.Envelope>(await access.TokenAsync(caller, RefreshRig.Id, ["write"], default));
        var missing = Assert.IsType<AccessOutcome.Envelope>(await access.TokenAsync(caller, "conn_2", ["read", "write", "admin"], default));

        Assert.Equal(EnvelopeCodes.ReauthRequired, dead.Code);
        Assert.Equal(RefreshRig.Id, dead.Connection?.Id);
        Assert.Equal(["write"], dead.RequiredScopes);
        Assert.Empty(dead.MissingScopes);
        Assert.Equal(EnvelopeCodes.MissingScopes, missing.Code);
        Assert.Equal(["write", "admin"], missing.MissingScopes);
        Assert.Equal("default", missing.OrgId);
        Assert.Equal(0, _rig.OAuth.Calls);
    }

    [Fact]
    public async Task ByProvider_NoneYet_IsNeedsAuthentication_WhenTheKeyNamesTheProvider_ElseForbidden_UnknownIsNotFound()
    {
        var access = NewAccess();

        var needs = Assert.IsType<AccessOutcome.Envelope>(await access.TokenForProviderAsync(Caller(Provider("acme")), "acme", ["read"], default));
        var forbidden = await access.TokenForProviderAsync(Caller(Connection("conn_x")), "acme", [], default);
        var unknown = await access.TokenForProviderAsync(Caller(Provider("acme")), "nope", [], default);
        var service = await access.TokenForProviderAsync(AgentCaller.Service, "acme", [], default);

        Assert.Equal(EnvelopeCodes.NeedsAuthentication, needs.Code);
        Assert.Null(needs.Connection);
        Assert.Equal(["read"], needs.RequiredScopes);
        Assert.Equal(["read"], needs.MissingScopes);
        Assert.IsType<AccessOutcome.Forbidden>(forbidden);
        Assert.Equal("unknown_provider", Assert.IsType<AccessOutcome.NotFound>(unknown).Code);
        Assert.IsType<AccessOutcome.Forbidden>(service);
    }

    [Fact]
    public async Task ByProvider_Several_TheDefaultDecides_EvenWhenItMustBeReconnected_ElseScopes_ElseAmbiguous()
    {
        _rig.Add(id: "conn_a");
        _rig.Add(id: "conn_b", tweak: c => c with { Scopes = ["read", "write"] });
        var access = NewAccess();
        var caller = Caller(Provider("acme"));

        // No default: the one account that can serve, else the candidates to choose from.
        var ambiguous = Assert.IsType<AccessOutcome.Ambiguous>(await access.TokenForProviderAsync(caller, "acme", [], default));
        var byScopes = Assert.IsType<AccessOutcome.Token>(await access.TokenForProviderAsync(caller, "acme", ["write"], default));

        // A default: it answers, and when it lacks the scopes (or is dead) the answer is its envelope: the agent never
        // silently acts as another person.
        _defaults.Set("default", "acme", "conn_a");
        var byDefault = Assert.IsType<AccessOutcome.Token>(await access.TokenForProviderAsync(caller, "acme", [], default));
        var defaultLacksScopes = Assert.IsType<AccessOutcome.Envelope>(await access.TokenForProviderAsync(caller, "acme", ["write"], default));

        Assert.Equal(["conn_a", "conn_b"], ambiguous.Connections.Select(c => c.Id).Order());
        Assert.Equal("acme", ambiguous.Provider);
        Assert.Equal("conn_b", byScopes.Connection.Id);
        Assert.Equal("conn_a", byDefault.Connection.Id);
        Assert.Equal(EnvelopeCodes.MissingScopes, defaultLacksScopes.Code);
        Assert.Equal("conn_a", defaultLacksScopes.Connection!.Id);
    }

    [Fact]
    public async Task Target_IsUsable_WithTheTargetOrItsConnection_ElseForbiddenNamingBoth_OtherOrgNotFound()
    {
        _rig.Add();
        _targets.Add(new Target
        {
            Id = "tgt_1", OrgId = "default", ConnectionId = RefreshRig.Id, Name = "api", Provider = "acme", BaseUrl = "https://api.acme.test/v1",
        });
        _targets.Add(new Target
        {
            Id = "tgt_beta", OrgId = "beta", ConnectionId = RefreshRig.Id, Name = "api", Provider = "acme", BaseUrl = "https://api.acme.test/v1",
        });
        var access = NewAccess();

        var byTarget = Assert.IsType<AccessOutcome.Granted>(await access.TargetAsync(Caller(new Permission(PermissionKind.Target, "tgt_1")), "tgt_1", default));
        var byConnection = await access.TargetAsync(Caller(Connection(RefreshRig.Id)), "tgt_1", default);
        var forbidden = Assert.IsType<AccessOutcome.Forbidden>(await access.TargetAsync(Caller(Connection("conn_x")), "tgt_1", default));
        var otherOrg = await access.TargetAsync(Caller(Provider("acme")), "tgt_beta", default);

        Assert.Equal("tgt_1", byTarget.Target?.Id);
        Assert.Equal(RefreshRig.Id, byTarget.Connection.Id);
        Assert.IsType<AccessOutcome.Granted>(byConnection);
        Assert.Equal(("tgt_1", RefreshRig.Id), (forbidden.Target?.Id, forbidden.Connection?.Id));
        Assert.Equal("target_not_found", Assert.IsType<AccessOutcome.NotFound>(otherOrg).Code);
    }

    [Fact]
    public async Task Overview_ListsUsableConnections_EnvelopesForDeadOnes_NeedsForNamedProvidersWithoutOne_AndReachableTargets()
    {
        _rig.Add(tweak: c => c with { Status = ConnectionStatus.ReauthRequired });
        _rig.Add(id: "conn_hidden");
        _targets.Add(new Target
        {
            Id = "tgt_1", OrgId = "default", ConnectionId = RefreshRig.Id, Name = "api", Provider = "acme", BaseUrl = "https://api.acme.test/v1",
        });
        _targets.Add(new Target
        {
            Id = "tgt_hidden", OrgId = "default", ConnectionId = "conn_hidden", Name = "api", Provider = "acme", BaseUrl = "https://api.acme.test/v1",
        });
        // "gone": a provider deleted since the key was made (a runtime one): nothing can connect it, so no envelope asks to.
        _rig.Catalog = new FakeCatalog(_rig.Catalog.Find("acme")!, new ProviderDefinition { Id = "globex", DisplayName = "Globex" });
        var key = Key(Connection(RefreshRig.Id), Provider("globex"), Provider("globex"), Provider("gone"));

        var overview = await NewAccess().OverviewAsync(key, default);

        var item = Assert.Single(overview.Connections);
        Assert.Equal(RefreshRig.Id, item.Connection.Id);
        Assert.Equal(EnvelopeCodes.ReauthRequired, item.Envelope?.Code);
        var need = Assert.Single(overview.Needs);
        Assert.Equal(("globex", EnvelopeCodes.NeedsAuthentication), (need.Provider, need.Code));
        Assert.Equal("tgt_1", Assert.Single(overview.Targets).Id);
    }

    [Theory]
    [InlineData("https://api.acme.test/v1/repos", null, "https://api.acme.test/v1/repos", false)]
    [InlineData("https://api.acme.test/v2", null, null, false)]
    [InlineData("https://api.acme.test/v10", null, null, false)]
    [InlineData(null, "https://api.acme.test/other", "https://api.acme.test/other", false)]
    [InlineData(null, "https://eu.acme-instances.test", "https://eu.acme-instances.test/", false)]
    [InlineData(null, "https://evil.test/api", "https://api.acme.test/v1", true)]
    [InlineData(null, null, "https://api.acme.test/v1", false)]
    public void ApiBase_IsTheProvidersOrUnderIt_NeverAnArbitraryHost(string? targetBase, string? connectionBase, string? expected, bool ignored)
    {
        var provider = new ProviderDefinition
        {
            Id = "acme", DisplayName = "Acme", TokenEndpoint = new Uri("https://acme.test/token"), ApiBaseUrls = ["https://api.acme.test/v1"],
            InstanceUrlHostSuffixes = [".acme-instances.test"],
        };
        var connection = _rig.Add(tweak: c => c with { ApiBaseUrl = connectionBase });
        var target = targetBase is null ? null : new Target
        {
            Id = "tgt_1", OrgId = "default", ConnectionId = connection.Id, Name = "api", Provider = "acme", BaseUrl = targetBase,
        };

        var resolved = ApiBases.Resolve(provider, connection, target, out var connectionBaseIgnored);

        Assert.Equal(expected, resolved?.ToString());
        Assert.Equal(ignored, connectionBaseIgnored);
    }

    private AgentAccess NewAccess() =>
        new(_rig.Store, _targets, _defaults, _rig.Catalog, _rig.NewService(), new StaticOptionsMonitor<RefreshOptions>(_rig.Options), _rig.Time);

    private static AgentCaller Caller(params Permission[] permissions) => AgentCaller.For(Key(permissions));

    private static ApiKey Key(params Permission[] permissions) => new()
    {
        Id = "key_1", OrgId = "default", Name = "agent", Prefix = "valet_x", Hash = [], Permissions = permissions,
    };

    private static Permission Connection(string id) => new(PermissionKind.Connection, id);

    private static Permission Provider(string id) => new(PermissionKind.Provider, id);

    private sealed class FakeTargetStore : ITargetStore
    {
        private readonly List<Target> _rows = [];

        public void Add(Target target) => _rows.Add(target);

        public Task CreateAsync(Target target, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<Target?> FindAsync(string id, CancellationToken cancellationToken) => ValueTask.FromResult(_rows.FirstOrDefault(t => t.Id == id));

        public async IAsyncEnumerable<Target> ListAsync(string orgId, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            foreach (var target in _rows.Where(t => t.OrgId == orgId))
            {
                yield return target;
            }
        }

        public IAsyncEnumerable<Target> ListByConnectionAsync(string connectionId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    /// <summary>Only the default-connection pointers are used here.</summary>
    private sealed class FakeDefaults : IOrgStore
    {
        private readonly Dictionary<(string, string), string> _defaults = [];

        public void Set(string orgId, string provider, string connectionId) => _defaults[(orgId, provider)] = connectionId;

        public ValueTask<string?> FindDefaultConnectionAsync(string orgId, string provider, CancellationToken cancellationToken) =>
            ValueTask.FromResult(_defaults.GetValueOrDefault((orgId, provider)));

        public Task CreateAsync(Org org, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task EnsureAsync(Org org, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<Org?> FindAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IAsyncEnumerable<Org> ListAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Org?> SetHeadlessAsync(string id, bool headless, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task SetDefaultConnectionAsync(string orgId, string provider, string connectionId, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }
}
