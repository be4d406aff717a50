using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Flows;
using Valet.Server.Hosting;

namespace Valet.Server.Dashboard;

internal sealed record IssuedSignInLink(string Url, DateTimeOffset ExpiresAt);

internal enum SignInLinkOutcome
{
    SignedIn,
    Unknown,
    Expired,
}

/// <summary>
/// Single-use, five-minute sign-in links for the local operator (<c>valet dashboard</c>, the end of <c>valet demo</c>).
/// The token is 256 random bits; only its SHA-256 is stored, and a use deletes the row in the same statement that reads
/// it. The session it opens is the service token's (operator <c>local</c>): replacing the service token ends it.
/// </summary>
internal sealed class SignInLinks(ISignInLinkStore store, IOrgStore orgs, OperatorSessions sessions, PublicBaseUrl baseUrl, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    public const string Path = "/signin/link/";

    /// <summary>A link for <paramref name="orgId"/> landing on <paramref name="returnPath"/>; null when the org does not exist.</summary>
    public async Task<IssuedSignInLink?> IssueAsync(string orgId, string returnPath, CancellationToken cancellationToken)
    {
        if (await orgs.FindAsync(orgId, cancellationToken) is null)
        {
            return null;
        }

        var token = Ids.RandomToken(32);
        var now = time.GetUtcNow();
        var link = new SignInLinkRecord
        {
            TokenHash = Ids.Sha256Hex(token),
            OrgId = orgId,
            Operator = OperatorSessions.OperatorName(OperatorTokens.ServiceKind),
            ReturnPath = ReturnUrls.IsLocalPath(returnPath) ? returnPath : "/",
            ExpiresAt = now + Lifetime,
        };
        await store.CreateAsync(link, now, cancellationToken);
        return new IssuedSignInLink(baseUrl.For(Path + token), link.ExpiresAt);
    }

    /// <summary>Uses the link (it is gone afterwards, whatever the outcome) and, if it is still valid, signs this browser in.</summary>
    public async Task<(SignInLinkOutcome Outcome, string? ReturnPath)> UseAsync(HttpContext context, string token)
    {
        var link = token.Length is 0 or > 128 ? null : await store.ConsumeAsync(Ids.Sha256Hex(token), context.RequestAborted);
        if (link is null)
        {
            return (SignInLinkOutcome.Unknown, null);
        }

        if (link.ExpiresAt <= time.GetUtcNow())
        {
            return (SignInLinkOutcome.Expired, null);
        }

        await sessions.SignInAsync(context, link.OrgId, OperatorTokens.ServiceKind);
        return (SignInLinkOutcome.SignedIn, link.ReturnPath);
    }
}
