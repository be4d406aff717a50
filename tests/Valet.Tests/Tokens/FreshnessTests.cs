using Valet.Core.Domain;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

/// <summary>
/// When a stored token is served as it is: later than the skew before its expiry, and for a token Valet fetched itself,
/// later than half its lifetime before it, so a token that lives shorter than twice the skew is still reused.
/// </summary>
public sealed class FreshnessTests
{
    private static readonly DateTimeOffset Issued = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Skew = TimeSpan.FromMinutes(2);

    private static Connection Token(TimeSpan lifetime, bool fetchedByValet) => new()
    {
        Id = "conn_1", OrgId = "default", Provider = "machine", AccountId = "client", AccessToken = new Secret("at"),
        ExpiresAt = Issued + lifetime, LastRefreshedAt = fetchedByValet ? Issued : null,
    };

    [Theory]
    [InlineData(20, 0, true)] // a 20-second token just fetched: reused, not fetched again on every call
    [InlineData(20, 9, true)]
    [InlineData(20, 10, false)] // half its life left: renewed, as the proactive schedule would
    [InlineData(3600, 3470, true)] // a long-lived token keeps the 2-minute skew
    [InlineData(3600, 3480, false)]
    public void FetchedToken_IsFresh_UntilTheSkewOrHalfItsLifetime_WhicheverIsShorter(int lifetimeSeconds, int ageSeconds, bool fresh)
    {
        var connection = Token(TimeSpan.FromSeconds(lifetimeSeconds), fetchedByValet: true);

        Assert.Equal(fresh, RefreshPolicy.IsFresh(connection, Issued + TimeSpan.FromSeconds(ageSeconds), Skew));
    }

    [Fact]
    public void ImportedToken_OfUnknownAge_KeepsTheWholeSkew()
    {
        var connection = Token(TimeSpan.FromSeconds(20), fetchedByValet: false);

        Assert.False(RefreshPolicy.IsFresh(connection, Issued, Skew));
        Assert.True(RefreshPolicy.IsFresh(connection with { ExpiresAt = null }, Issued, Skew)); // never expires
    }
}
