using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// Several nodes on one real PostgreSQL, the real IdP (3600 s tokens, and a 30 s one for the background refresher)
/// and Chromium for the one connect each test needs.
/// </summary>
[CollectionDefinition(Name)]
public sealed class RefreshPostgresCollection :
    ICollectionFixture<PostgresFixture>, ICollectionFixture<IdpFixture>, ICollectionFixture<ShortLivedIdpFixture>, ICollectionFixture<BrowserFixture>
{
    public const string Name = "refresh-postgres";
}
