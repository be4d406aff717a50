using Microsoft.Extensions.Configuration;
using Valet.Core;
using Valet.Core.Flows;
using Valet.Core.OAuth;
using Valet.Core.Providers;

namespace Valet.Server.Dashboard;

/// <summary>
/// "Sign in with a provider" (SPEC §10): <c>VALET_DASHBOARD__SIGNINPROVIDER</c> (a provider id, or several separated by
/// commas) and <c>VALET_DASHBOARD__OPERATORS</c> (logins or emails, compared case-insensitively). Off unless both are set;
/// a provider that is not in the catalog, or providers without operators, fail the boot.
/// </summary>
internal sealed class ProviderSignIn : ISignInGate
{
    private ProviderSignIn(IReadOnlyList<string> providers, IReadOnlySet<string> operators)
    {
        Providers = providers;
        Operators = operators;
    }

    public IReadOnlyList<string> Providers { get; }

    public IReadOnlySet<string> Operators { get; }

    public bool Enabled => Providers.Count > 0;

    /// <summary>
    /// What sessions signed in through a provider are bound to (see <see cref="Auth.OperatorTokens"/>): changing the
    /// providers or the allow-list ends them, as a changed admin token ends the admin's sessions.
    /// </summary>
    public string? Configuration => Enabled ? string.Join(',', Providers) + "|" + string.Join(',', Operators.Order(StringComparer.Ordinal)) : null;

    /// <summary>
    /// Whether the account that just signed in is an operator (docs/dashboard.md, "Who may sign in"): an entry
    /// <c>provider:id</c> names the account's immutable id at that provider; a login matches where the provider's login
    /// cannot be taken by someone else (<see cref="IdentityMapping.LoginIsUnique"/>, or a provider the operator configured);
    /// an email matches only when the provider said it is verified. A display name, a workspace-local handle or an email the
    /// provider does not vouch for lets anyone who can make an account there name themselves after an operator.
    /// </summary>
    public bool Allows(ProviderDefinition provider, AccountIdentity account)
    {
        if (!Providers.Contains(provider.Id, StringComparer.Ordinal))
        {
            return false;
        }

        if (Operators.Contains(provider.Id + ":" + account.Id))
        {
            return true;
        }

        // A login is compared with login entries only: an account whose login reads "alice@corp.example" or "github:1"
        // must not pass for an email entry (unverified) or an id entry.
        var trustedLogin = provider.Identity.LoginIsUnique || provider.Source != ProviderSource.Catalog;
        return (trustedLogin && account.Login is { Length: > 0 } login && login.IndexOfAny(['@', ':']) < 0 && Operators.Contains(login))
            || (account.EmailVerified && account.Email is { Length: > 0 } email && Operators.Contains(email));
    }

    public static ProviderSignIn From(IConfiguration configuration, IProviderCatalog catalog)
    {
        var providers = Split(configuration["Dashboard:SignInProvider"]);
        var operators = new HashSet<string>(Split(configuration["Dashboard:Operators"]), StringComparer.OrdinalIgnoreCase);
        var problems = new List<string>();
        foreach (var provider in providers.Where(p => catalog.Find(p) is null))
        {
            problems.Add($"VALET_DASHBOARD__SIGNINPROVIDER: '{provider}' is not a configured provider.");
        }

        if (providers.Count > 0 && operators.Count == 0)
        {
            problems.Add("VALET_DASHBOARD__SIGNINPROVIDER needs VALET_DASHBOARD__OPERATORS: the logins or emails allowed to sign in (comma-separated).");
        }

        return problems.Count > 0 ? throw new ValetConfigurationException(problems) : new ProviderSignIn(providers, operators);
    }

    private static List<string> Split(string? value) =>
        [.. (value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct(StringComparer.Ordinal)];
}
