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

    public bool Allows(string provider, AccountIdentity account) =>
        Providers.Contains(provider, StringComparer.Ordinal) &&
        ((account.Login is { Length: > 0 } login && Operators.Contains(login)) || (account.Email is { Length: > 0 } email && Operators.Contains(email)));

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
