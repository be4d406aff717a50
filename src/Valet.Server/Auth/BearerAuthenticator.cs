using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Keys;
using Valet.Core.Stores;

namespace Valet.Server.Auth;

/// <summary>What a bearer header proved: nothing was presented, it failed (why), or who the caller is.</summary>
internal readonly record struct BearerOutcome(ClaimsPrincipal? Principal, string? Failure);

/// <summary>
/// The one place a bearer token becomes a principal: the admin token (operator), the local service token (operator +
/// service) or an agent API key (agent of one org). Used by <see cref="ValetAuthenticationHandler"/> for every route and
/// directly by the agent lane (<c>AgentLane.UseAgentLane</c>), so both answer alike.
/// <para>
/// This runs on every agent request, so the hot path allocates little: the principal of a key is built once per cached
/// <see cref="ApiKey"/> instance (a changed key is a new instance, so a new principal), and a key it has verified before
/// is compared in constant time rather than hashed again (<see cref="ApiKeyPrincipal"/>).
/// </para>
/// </summary>
internal sealed class BearerAuthenticator(OperatorTokens operatorTokens, IApiKeyStore keys, KeyUsage usage)
{
    private const string BearerPrefix = "Bearer ";

    private static readonly ConditionalWeakTable<ApiKey, ApiKeyPrincipal> Principals = new();

    private static readonly ClaimsPrincipal ServicePrincipal = Principal(new Claim(ClaimTypes.Role, ValetClaims.RoleOperator),
        new Claim(ClaimTypes.Role, ValetClaims.RoleService), new Claim(ValetClaims.OperatorClaim, "service"));

    private static readonly ClaimsPrincipal AdminPrincipal = Principal(new Claim(ClaimTypes.Role, ValetClaims.RoleOperator),
        new Claim(ValetClaims.OperatorClaim, "admin"));

    public async ValueTask<BearerOutcome> AuthenticateAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var header = request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return default;
        }

        if (!header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return Fail("Unsupported authorization scheme.");
        }

        var (start, length) = Trimmed(header);
        if (length == 0)
        {
            return Fail("Empty bearer token.");
        }

        // API keys first: they are what the hot routes see. A token of another shape never reaches the store.
        if (ApiKeySecrets.PrefixOf(header.AsSpan(start, length)) is { } prefix)
        {
            var key = await keys.FindByPrefixAsync(prefix, cancellationToken);
            if (key is not null)
            {
                var principal = Principals.GetValue(key, static k => new ApiKeyPrincipal(k));
                if (principal.VerifiedBefore(header.AsSpan(start, length)) || principal.Verify(header.AsSpan(start, length)))
                {
                    usage.Used(key);
                    return new BearerOutcome(principal, null);
                }
            }
        }

        if (operatorTokens.IsService(header.AsSpan(start, length)))
        {
            return new BearerOutcome(ServicePrincipal, null);
        }

        return operatorTokens.IsAdmin(header.AsSpan(start, length)) ? new BearerOutcome(AdminPrincipal, null) : Fail("Unknown bearer token.");
    }

    /// <summary>
    /// While the request's address is locked out (too many failed authentications): does it present a secret this node
    /// has already seen succeed, checked without a database read or a hash? An agent key whose row is cached here and
    /// whose secret is the one that row last verified, or the service token Valet generated itself (the local file; not
    /// one set with VALET_SERVICE_TOKEN). Both carry 256 bits of entropy, so letting them through tells a guesser nothing it
    /// could have guessed; the admin token and a chosen service token, which may be weak, and every other bearer stay
    /// refused until the lockout ends (docs/decisions.md, "Rate limits").
    /// </summary>
    public bool KnownWithoutLookup(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var (start, length) = Trimmed(header);
        var presented = header.AsSpan(start, length);
        if (length == 0)
        {
            return false;
        }

        if (ApiKeySecrets.PrefixOf(presented) is { } prefix)
        {
            return keys.FindCachedByPrefix(prefix) is { } key && Principals.TryGetValue(key, out var principal) && principal.VerifiedBefore(presented);
        }

        return operatorTokens.ServiceTokenGenerated && operatorTokens.IsService(presented);
    }

    private static BearerOutcome Fail(string why) => new(null, why);

    private static (int Start, int Length) Trimmed(string header)
    {
        var token = header.AsSpan(BearerPrefix.Length);
        var trimmedStart = token.TrimStart();
        var start = BearerPrefix.Length + (token.Length - trimmedStart.Length);
        return (start, trimmedStart.TrimEnd().Length);
    }

    private static ClaimsPrincipal Principal(params Claim[] claims) => new(new ClaimsIdentity(claims, ValetClaims.Scheme));
}

/// <summary>
/// The principal of an agent API key: role agent, its org and key id as claims, and the key row itself. It lives as long
/// as that cached key row (revoking or changing the key replaces the row, so the principal goes with it).
/// <para>
/// It also remembers the secret that last passed <see cref="ApiKeySecrets.Verify"/> against this row, so the next request
/// with the same key is compared to it in constant time instead of hashed again (SHA-256 was ~2 µs of every proxied call).
/// This keeps a presented agent key in the process's memory while its row is cached: the process already holds the
/// encryption key and decrypted provider tokens, which are worth more (docs/decisions.md, "Verified API keys in memory").
/// A different secret with the same prefix is still hashed and compared to the stored hash, as before.
/// </para>
/// </summary>
internal sealed class ApiKeyPrincipal(ApiKey key) : ClaimsPrincipal(new ClaimsIdentity(
    [new Claim(ClaimTypes.Role, ValetClaims.RoleAgent), new Claim(ValetClaims.OrgClaim, key.OrgId), new Claim(ValetClaims.KeyIdClaim, key.Id)],
    ValetClaims.Scheme))
{
    private string? _verified;

    public ApiKey Key { get; } = key;

    /// <summary><paramref name="presented"/> is the secret that already passed <see cref="Verify"/> for this row (constant time).</summary>
    public bool VerifiedBefore(ReadOnlySpan<char> presented) =>
        Volatile.Read(ref _verified) is { } verified
        && CryptographicOperations.FixedTimeEquals(MemoryMarshal.AsBytes(presented), MemoryMarshal.AsBytes(verified.AsSpan()));

    /// <summary>Hashes <paramref name="presented"/> and compares it with the row's hash; remembers it when it matches.</summary>
    public bool Verify(ReadOnlySpan<char> presented)
    {
        if (!ApiKeySecrets.Verify(presented, Key.Hash))
        {
            return false;
        }

        Volatile.Write(ref _verified, presented.ToString());
        return true;
    }
}
