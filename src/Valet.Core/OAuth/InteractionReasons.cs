using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Valet.Core.OAuth;

/// <summary>
/// Token-endpoint errors that mean "a person must act": retrying never helps, so a refresh that meets one makes the
/// connection <c>reauth_required</c> with one of these reasons (docs/providers.md, "A person must act"). Classified only by
/// documented codes; an error that is not in these tables keeps its ordinary classification (an unknown one stays
/// transient).
/// </summary>
public static class InteractionReasons
{
    /// <summary>Multi-factor authentication is required, has expired, or must be registered first.</summary>
    public const string MfaRequired = "mfa_required";

    /// <summary>The user or an administrator has not consented (or no longer consents) to the application.</summary>
    public const string ConsentRequired = "consent_required";

    /// <summary>A Conditional Access policy blocks token issuance (device, app, location, risk).</summary>
    public const string ConditionalAccess = "conditional_access";

    /// <summary>The person must sign in again.</summary>
    public const string LoginRequired = "login_required";

    /// <summary>Some other interaction the provider does not name.</summary>
    public const string InteractionRequired = "interaction_required";

    /// <summary>
    /// OpenID Connect Core 1.0 §3.1.2.6 (https://openid.net/specs/openid-connect-core-1_0.html#AuthError): errors that
    /// say the request "requires End-User interaction"; Microsoft's token endpoint answers refreshes with them too
    /// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes, "interaction_required: … Retry the
    /// request with the same resource, interactively").
    /// </summary>
    private static readonly FrozenDictionary<string, string> OAuthErrors = new Dictionary<string, string>
    {
        ["interaction_required"] = InteractionRequired,
        ["login_required"] = LoginRequired,
        ["consent_required"] = ConsentRequired,
        ["account_selection_required"] = InteractionRequired,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>
    /// Microsoft Entra STS codes, read from the documented <c>error_codes</c> array of the error answer (never from
    /// <c>error_description</c>, which Microsoft says must not drive code). Source: "Microsoft Entra authentication and
    /// authorization error codes", https://learn.microsoft.com/entra/identity-platform/reference-error-codes (text in
    /// MicrosoftDocs/entra-docs, docs/identity-platform/reference-error-codes.md).
    /// </summary>
    private static readonly FrozenDictionary<long, string> EntraCodes = new Dictionary<long, string>
    {
        [50072] = MfaRequired,          // UserStrongAuthEnrollmentRequiredInterrupt: must enroll for second factor
        [50074] = MfaRequired,          // UserStrongAuthClientAuthNRequiredInterrupt: strong authentication required
        [50076] = MfaRequired,          // UserStrongAuthClientAuthNRequired: MFA required after an admin change; "retry with a new authorize request"
        [50078] = MfaRequired,          // UserStrongAuthExpired: presented MFA has expired
        [50079] = MfaRequired,          // UserStrongAuthEnrollmentRequired: must register security info for MFA
        [65001] = ConsentRequired,      // DelegationDoesNotExist: "Send an interactive authorization request for this user and resource"
        [50005] = ConditionalAccess,    // DevicePolicyError: platform not supported through Conditional Access policy
        [50131] = ConditionalAccess,    // ConditionalAccessFailed
        [53000] = ConditionalAccess,    // DeviceNotCompliant
        [53001] = ConditionalAccess,    // DeviceNotDomainJoined
        [53002] = ConditionalAccess,    // ApplicationUsedIsNotAnApprovedApp
        [53003] = ConditionalAccess,    // BlockedByConditionalAccess
        [50158] = InteractionRequired,  // ExternalSecurityChallenge not satisfied
        [70043] = LoginRequired,        // BadTokenDueToSignInFrequency (Conditional Access sign-in frequency)
    }.ToFrozenDictionary();

    /// <summary>
    /// The reason a person must act, or null. <paramref name="code"/> is the sanitised <c>error</c>; <paramref name="body"/>
    /// the answer, for Microsoft's <c>error_codes</c> (which win: <c>invalid_grant</c> + 65001 is a consent to give, not a
    /// dead grant).
    /// </summary>
    public static string? Find(string code, JsonObject? body)
    {
        if (body?["error_codes"] is JsonArray codes)
        {
            foreach (var node in codes)
            {
                if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number && value.TryGetValue<long>(out var number)
                    && EntraCodes.TryGetValue(number, out var reason))
                {
                    return reason;
                }
            }
        }

        return OAuthErrors.GetValueOrDefault(code);
    }

    /// <summary>Every reason this table can give, for documentation and tests.</summary>
    public static IReadOnlyList<string> All { get; } = [MfaRequired, ConsentRequired, ConditionalAccess, LoginRequired, InteractionRequired];
}
