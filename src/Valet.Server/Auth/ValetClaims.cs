using System.Security.Claims;

namespace Valet.Server.Auth;

internal static class ValetClaims
{
    /// <summary>The bearer scheme (admin token, service token, API keys): the default for every route.</summary>
    public const string Scheme = "Valet";

    /// <summary>The dashboard's cookie scheme, asked for explicitly by the browser routes (<c>/me</c>, <c>/connect-authorize</c>).</summary>
    public const string SessionScheme = "ValetSession";
    public const string RoleOperator = "operator";
    public const string RoleService = "service";
    public const string RoleAgent = "agent";
    public const string OrgClaim = "valet:org";
    public const string KeyIdClaim = "valet:key";
    public const string OperatorClaim = "valet:operator";
    public const string SessionIdClaim = "valet:sid";
    public const string TokenKindClaim = "valet:token_kind";
    public const string TokenFingerprintClaim = "valet:token_fp";
    public const string ProviderClaim = "valet:provider";
    public const string AccountLoginClaim = "valet:account_login";
    public const string BaseUrlClaim = "valet:base_url";

    public const string OperatorPolicy = "operator";
    public const string ServicePolicy = "service";
    public const string AgentPolicy = "agent";

    /// <summary>Operators, and agents for the flows of their own org (the flow_id of an envelope is something to wait on).</summary>
    public const string FlowReaderPolicy = "flow-reader";

    public static bool IsOperator(this ClaimsPrincipal principal) => principal.IsInRole(RoleOperator);

    public static bool IsService(this ClaimsPrincipal principal) => principal.IsInRole(RoleService);

    /// <summary>The org an agent key or a dashboard session belongs to; null for the admin token (all orgs).</summary>
    public static string? OrgId(this ClaimsPrincipal principal) => principal.FindFirstValue(OrgClaim);

    public static string? KeyId(this ClaimsPrincipal principal) => principal.FindFirstValue(KeyIdClaim);

    /// <summary>An operator may act on an org when it is the admin/service principal or a session of that org.</summary>
    public static bool CanOperate(this ClaimsPrincipal principal, string orgId) =>
        principal.IsOperator() && (principal.OrgId() is null || string.Equals(principal.OrgId(), orgId, StringComparison.Ordinal));
}
