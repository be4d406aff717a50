using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// Several nodes on one real PostgreSQL, the real IdP (3600 s tokens, and a 30 s one for the background refresher)
/// and Chromium for the one connect each test needs. Run alone: a 1,000-request storm over three processes and
/// timing-sensitive background renewals do not share two cores well with the other browser tests.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RefreshPostgresCollection :
    ICollectionFixture<PostgresFixture>, ICollectionFixture<StockPostgresFixture>, ICollectionFixture<IdpFixture>, ICollectionFixture<ShortLivedIdpFixture>, ICollectionFixture<BrowserFixture>
{
    public const string Name = "refresh-postgres";
}
