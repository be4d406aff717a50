using static Valet.Core.Providers.CatalogData;

namespace Valet.Core.Providers;

/// <summary>
/// Catalog OAuth providers: business, commerce, finance and social platforms. Plain data like <see cref="BuiltInProviders"/>; each entry
/// cites the provider's own OAuth documentation beside the behaviour it takes from it. "From memory, not checked here" marks what no
/// documentation page confirmed while this list was written (docs/providers.md, "Business, commerce and social", lists the sources).
/// </summary>
internal static class BuiltInBusinessProviders
{
    public static IReadOnlyList<ProviderDefinition> All { get; } =
    [
        new()
        {
            // https://developer.xero.com/documentation/oauth2/pkce-flow: authorize at login.xero.com/identity/connect/authorize with
            // space-separated scopes (openid profile email …). https://developer.xero.com/faq/oauth2: access tokens last 30 minutes;
            // "you should replace your existing refresh token with the new one" (rotation); unused refresh tokens expire after 60 days.
            // Token endpoint identity.xero.com/connect/token with Basic client authentication, revocation at
            // identity.xero.com/connect/revocation (RFC 7009: token + Basic) and the OIDC user-info endpoint: from memory, not checked here.
            // Every API call also needs the xero-tenant-id header (GET /connections lists the tenants): the agent sends it.
            Id = "xero",
            DisplayName = "Xero",
            AuthorizationEndpoint = U("https://login.xero.com/identity/connect/authorize"),
            TokenEndpoint = U("https://identity.xero.com/connect/token"),
            RevocationEndpoint = U("https://identity.xero.com/connect/revocation"),
            UserInfoEndpoint = U("https://identity.xero.com/connect/userinfo"),
            DefaultScopes = ["openid", "profile", "email", "offline_access"],
            RequiredScopes = ["openid", "email", "offline_access"],
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "sub", LoginPath = "email", EmailPath = "email" },
            ApiBaseUrls = ["https://api.xero.com"],
        },
        new()
        {
            // X (Twitter) OAuth 2.0 with PKCE: https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token — confidential
            // clients authenticate to the token endpoint with HTTP Basic; https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code
            // — POST https://api.x.com/2/oauth2/token, access tokens last two hours, a refresh token only with the offline.access scope.
            // The x.com/i/oauth2/authorize page, the revoke endpoint (token + token_type_hint, Basic) and GET /2/users/me → data.id /
            // data.username: from memory, not checked here.
            Id = "x",
            DisplayName = "X (Twitter)",
            AuthorizationEndpoint = U("https://x.com/i/oauth2/authorize"),
            TokenEndpoint = U("https://api.x.com/2/oauth2/token"),
            RevocationEndpoint = U("https://api.x.com/2/oauth2/revoke"),
            UserInfoEndpoint = U("https://api.x.com/2/users/me"),
            DefaultScopes = ["tweet.read", "users.read", "offline.access"],
            RequiredScopes = ["tweet.read", "users.read", "offline.access"],
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "data.id", LoginPath = "data.username" },
            ApiBaseUrls = ["https://api.x.com"],
        },
        new()
        {
            // https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow (3-legged code flow, client secret in
            // the form body) and Sign In with LinkedIn using OpenID Connect (https://logto.io/oauth-providers-explorer/linkedin lists the
            // discovery document's endpoints): /oauth/v2/authorization, /oauth/v2/accessToken, GET https://api.linkedin.com/v2/userinfo →
            // sub / name / email. Refresh tokens are issued only to approved partners, so most connections end with their 60-day
            // access token (lifetime from memory, not checked here). No RFC 7009 revocation.
            Id = "linkedin",
            DisplayName = "LinkedIn",
            AuthorizationEndpoint = U("https://www.linkedin.com/oauth/v2/authorization"),
            TokenEndpoint = U("https://www.linkedin.com/oauth/v2/accessToken"),
            UserInfoEndpoint = U("https://api.linkedin.com/v2/userinfo"),
            DefaultScopes = ["openid", "profile", "email"],
            RequiredScopes = ["openid", "profile", "email"],
            Identity = new() { IdPath = "sub", LoginPath = "name", EmailPath = "email" },
            ApiBaseUrls = ["https://api.linkedin.com"],
        },
        new()
        {
            // https://github.com/reddit/reddit/wiki/OAuth2: authorize at www.reddit.com/api/v1/authorize with duration=permanent for a
            // refresh token (else the token lasts an hour); POST www.reddit.com/api/v1/access_token with HTTP Basic (client id and
            // secret, the only client authentication Reddit takes); revoke at /api/v1/revoke_token (token + token_type_hint, Basic);
            // the API, GET /api/v1/me included (id / name), lives on oauth.reddit.com, not the host that issued the token.
            Id = "reddit",
            DisplayName = "Reddit",
            AuthorizationEndpoint = U("https://www.reddit.com/api/v1/authorize"),
            TokenEndpoint = U("https://www.reddit.com/api/v1/access_token"),
            RevocationEndpoint = U("https://www.reddit.com/api/v1/revoke_token"),
            UserInfoEndpoint = U("https://oauth.reddit.com/api/v1/me"),
            DefaultScopes = ["identity"],
            ExtraAuthorizationParameters = P(("duration", "permanent")),
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "id", LoginPath = "name" },
            ApiBaseUrls = ["https://oauth.reddit.com"],
        },
        new()
        {
            // https://dev.twitch.tv/docs/authentication.md (user access tokens, authorization code grant flow: id.twitch.tv/oauth2/authorize
            // and /oauth2/token, client secret in the form body; refresh tokens "may change", keep the new one) and
            // https://dev.twitch.tv/docs/authentication/validate-tokens.md. The revoke endpoint (client_id + token) and the OIDC user-info
            // endpoint (openid scope → sub / preferred_username / email): from memory, not checked here. Helix wants a Client-Id header
            // with the app's client id on every call; the catalog cannot hold it (it is the operator's), so the agent sends it.
            Id = "twitch",
            DisplayName = "Twitch",
            AuthorizationEndpoint = U("https://id.twitch.tv/oauth2/authorize"),
            TokenEndpoint = U("https://id.twitch.tv/oauth2/token"),
            RevocationEndpoint = U("https://id.twitch.tv/oauth2/revoke"),
            UserInfoEndpoint = U("https://id.twitch.tv/oauth2/userinfo"),
            DefaultScopes = ["openid", "user:read:email"],
            Identity = new() { IdPath = "sub", LoginPath = "preferred_username", EmailPath = "email" },
            ApiBaseUrls = ["https://api.twitch.tv/helix"],
        },
        new()
        {
            // https://developers.strava.com/docs/authentication: www.strava.com/oauth/authorize with comma-separated scopes (read,
            // activity:read …), POST /oauth/token with client_id and client_secret in the body, short-lived access tokens refreshed
            // with the refresh token (which may change: the newest is kept); deauthorization takes the access token as a parameter, not
            // RFC 7009. GET /api/v3/athlete → id / username: from memory, not checked here.
            Id = "strava",
            DisplayName = "Strava",
            AuthorizationEndpoint = U("https://www.strava.com/oauth/authorize"),
            TokenEndpoint = U("https://www.strava.com/oauth/token"),
            UserInfoEndpoint = U("https://www.strava.com/api/v3/athlete"),
            DefaultScopes = ["read"],
            ScopeSeparator = ",",
            Identity = new() { IdPath = "id", LoginPath = "username" },
            ApiBaseUrls = ["https://www.strava.com/api/v3"],
        },
        new()
        {
            // Typeform: the "offline" scope is what yields a refresh token (https://nango.dev/docs/api-integrations/typeform/how-to-register-your-own-typeform-api-oauth-app,
            // a third party's guide); access tokens expire after a lifetime the app sets (default 7 days, per Typeform's
            // js-api-client issue #53). Endpoints api.typeform.com/oauth/authorize and /oauth/token, client secret in the body,
            // GET /me → user_id / alias / email: from memory, not checked here.
            Id = "typeform",
            DisplayName = "Typeform",
            AuthorizationEndpoint = U("https://api.typeform.com/oauth/authorize"),
            TokenEndpoint = U("https://api.typeform.com/oauth/token"),
            UserInfoEndpoint = U("https://api.typeform.com/me"),
            DefaultScopes = ["accounts:read", "forms:read", "offline"],
            Identity = new() { IdPath = "user_id", LoginPath = "alias", EmailPath = "email" },
            ApiBaseUrls = ["https://api.typeform.com"],
        },
        new()
        {
            // https://developers.pinterest.com/docs/getting-started/set-up-authentication-and-authorization/ and Pinterest's generated
            // client (https://github.com/pinterest/pinterest-python-generated-api-client/blob/main/docs/OauthApi.md): start at
            // www.pinterest.com/oauth/, POST https://api.pinterest.com/v5/oauth/token with HTTP Basic, authorization code or refresh token.
            // Comma-separated scopes and GET /v5/user_account → id / username: from memory, not checked here.
            Id = "pinterest",
            DisplayName = "Pinterest",
            AuthorizationEndpoint = U("https://www.pinterest.com/oauth/"),
            TokenEndpoint = U("https://api.pinterest.com/v5/oauth/token"),
            UserInfoEndpoint = U("https://api.pinterest.com/v5/user_account"),
            DefaultScopes = ["user_accounts:read"],
            ScopeSeparator = ",",
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "id", LoginPath = "username" },
            ApiBaseUrls = ["https://api.pinterest.com/v5"],
        },
        new()
        {
            // FreshBooks: token endpoint https://api.freshbooks.com/auth/oauth/token (FreshBooks' Postman collection as quoted in
            // https://gist.github.com/reece/36ecf539210d2448e5b29d931fe4054a), one-time-use rotating refresh tokens, user:<object>:<action>
            // scopes and GET /auth/api/v1/users/me naming the person (https://docs.unified.to/skills/freshbooks-oauth-app/SKILL.md, a third
            // party). The auth.freshbooks.com authorize host, the RFC 7009 revoke endpoint and the response.* identity paths: from
            // memory, not checked here.
            Id = "freshbooks",
            DisplayName = "FreshBooks",
            AuthorizationEndpoint = U("https://auth.freshbooks.com/oauth/authorize"),
            TokenEndpoint = U("https://api.freshbooks.com/auth/oauth/token"),
            RevocationEndpoint = U("https://api.freshbooks.com/auth/oauth/revoke"),
            UserInfoEndpoint = U("https://api.freshbooks.com/auth/api/v1/users/me"),
            DefaultScopes = ["user:profile:read"],
            Identity = new() { IdPath = "response.id", LoginPath = "response.first_name", EmailPath = "response.email" },
            ApiBaseUrls = ["https://api.freshbooks.com"],
        },
        new()
        {
            // Eventbrite: "Retrieve your user" (https://www.eventbrite.com/platform/api#/reference/user/retrieve-your-user, as cited by
            // https://authjs.dev/reference/core/providers/eventbrite): id, name and an emails array (no single email path). The
            // /oauth/authorize and /oauth/token endpoints, no scopes, and tokens that do not expire (no refresh token): from memory,
            // not checked here.
            Id = "eventbrite",
            DisplayName = "Eventbrite",
            AuthorizationEndpoint = U("https://www.eventbrite.com/oauth/authorize"),
            TokenEndpoint = U("https://www.eventbrite.com/oauth/token"),
            UserInfoEndpoint = U("https://www.eventbriteapi.com/v3/users/me/"),
            Identity = new() { IdPath = "id", LoginPath = "name" },
            ApiBaseUrls = ["https://www.eventbriteapi.com/v3"],
        },
        new()
        {
            // Square, all from memory, not checked here: connect.squareup.com/oauth2/authorize (scopes such as MERCHANT_PROFILE_READ,
            // session=false for production), POST /oauth2/token with a JSON body carrying client_id and client_secret, 30-day access
            // tokens, GET /v2/merchants/me → merchant.id / merchant.business_name. Its revoke endpoint is not RFC 7009 (Client
            // authorization header, merchant or access token), so none is listed.
            Id = "square",
            DisplayName = "Square",
            AuthorizationEndpoint = U("https://connect.squareup.com/oauth2/authorize"),
            TokenEndpoint = U("https://connect.squareup.com/oauth2/token"),
            UserInfoEndpoint = U("https://connect.squareup.com/v2/merchants/me"),
            DefaultScopes = ["MERCHANT_PROFILE_READ"],
            ExtraAuthorizationParameters = P(("session", "false")),
            TokenRequestFormat = TokenRequestFormat.Json,
            Identity = new() { IdPath = "merchant.id", LoginPath = "merchant.business_name" },
            ApiBaseUrls = ["https://connect.squareup.com/v2"],
        },
    ];
}
