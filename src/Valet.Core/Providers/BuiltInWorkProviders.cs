using static Valet.Core.Providers.CatalogData;

namespace Valet.Core.Providers;

/// <summary>
/// Catalog OAuth providers: work and developer tools (files, code hosting, tasks, meetings, support, CRM). Plain data like <see cref="BuiltInProviders"/>; each entry
/// cites the provider's own OAuth documentation beside the behaviour it takes from it. "From memory, not checked here" marks
/// what no page read while writing the entry confirmed (docs/providers.md, "Work and developer tools", lists the sources).
/// </summary>
internal static class BuiltInWorkProviders
{
    public static IReadOnlyList<ProviderDefinition> All { get; } =
    [
        new()
        {
            // https://developer.box.com/guides/authentication/tokens/access-tokens/: POST https://api.box.com/oauth2/token,
            // form-encoded, answers an access token (expires_in 3600) and a refresh token. Authorize URL, client_id/client_secret
            // in the body, single-use refresh tokens (60 days), /oauth2/revoke (client_id, client_secret, token: RFC 7009's
            // shape) and GET /2.0/users/me (id, name, login = the email): from memory, not checked here.
            Id = "box",
            DisplayName = "Box",
            AuthorizationEndpoint = U("https://account.box.com/api/oauth2/authorize"),
            TokenEndpoint = U("https://api.box.com/oauth2/token"),
            RevocationEndpoint = U("https://api.box.com/oauth2/revoke"),
            UserInfoEndpoint = U("https://api.box.com/2.0/users/me"),
            Identity = new() { IdPath = "id", LoginPath = "login", EmailPath = "login" },
            ApiBaseUrls = ["https://api.box.com/2.0", "https://upload.box.com/api/2.0"],
        },
        new()
        {
            // https://developer.atlassian.com/cloud/bitbucket/oauth-2: authorize at https://bitbucket.org/site/oauth2/authorize,
            // swap the code at https://bitbucket.org/site/oauth2/access_token with `curl -u "client_id:secret"` (HTTP Basic),
            // form-encoded grant_type=authorization_code / refresh_token. Not Atlassian 3LO: no audience, no offline_access.
            // Scopes are the consumer's permissions (no scope parameter needed). Expiring access tokens with a refresh token
            // that is not rotated, and GET /2.0/user (uuid, username, display_name): from memory, not checked here.
            Id = "bitbucket",
            DisplayName = "Bitbucket Cloud",
            AuthorizationEndpoint = U("https://bitbucket.org/site/oauth2/authorize"),
            TokenEndpoint = U("https://bitbucket.org/site/oauth2/access_token"),
            UserInfoEndpoint = U("https://api.bitbucket.org/2.0/user"),
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "uuid", LoginPath = "username" },
            ApiBaseUrls = ["https://api.bitbucket.org/2.0"],
        },
        new()
        {
            // Doist's own clients (https://doist.github.io/todoist-api-python/authentication,
            // https://doist.github.io/todoist-api-typescript/authorization; github.com/Doist/todoist-api-python authentication.py):
            // scopes joined with ",", the code swapped with client_id + client_secret + code in a form body; the answer is
            // access_token + token_type only: no refresh token, no expires_in (a token lives until the user revokes it).
            // app.todoist.com / api.todoist.com hosts and GET /api/v1/user (id, full_name, email): from memory, not checked here.
            // Todoist's revocation endpoint is not taken: whether it accepts this client authentication was not checked.
            Id = "todoist",
            DisplayName = "Todoist",
            AuthorizationEndpoint = U("https://app.todoist.com/oauth/authorize"),
            TokenEndpoint = U("https://api.todoist.com/oauth/access_token"),
            UserInfoEndpoint = U("https://api.todoist.com/api/v1/user"),
            DefaultScopes = ["data:read"],
            ScopeSeparator = ",",
            Identity = new() { IdPath = "id", LoginPath = "full_name", EmailPath = "email" },
            ApiBaseUrls = ["https://api.todoist.com/api/v1"],
        },
        new()
        {
            // https://developers.miro.com/docs/getting-started-with-oauth: authorize at https://miro.com/oauth/authorize;
            // https://developers.miro.com/reference/get-new-access-token-using-refresh-token: POST https://api.miro.com/v1/oauth/token,
            // client_id and client_secret as form body parameters; https://developers.miro.com/reference/oauth-20-authorization-v2:
            // expiring tokens last 1 hour, refresh tokens 60 days, and "when a new access token is requested, you also get a new
            // refresh token ... the old access token and refresh token are no longer valid" (rotation; apps without expiring tokens
            // get a non-expiring one). /v1/oauth-token (.../use-access-token-for-rest-api-requests) describes the token; its
            // user.id / user.name members: from memory, not checked here.
            Id = "miro",
            DisplayName = "Miro",
            AuthorizationEndpoint = U("https://miro.com/oauth/authorize"),
            TokenEndpoint = U("https://api.miro.com/v1/oauth/token"),
            UserInfoEndpoint = U("https://api.miro.com/v1/oauth-token"),
            DefaultScopes = ["boards:read"],
            Identity = new() { IdPath = "user.id", LoginPath = "user.name" },
            ApiBaseUrls = ["https://api.miro.com"],
        },
        new()
        {
            // https://developer.calendly.com/how-to-access-calendly-data-on-behalf-of-authenticated-users: authorize at
            // https://auth.calendly.com/oauth/authorize, access tokens expire after 2 hours;
            // https://developer.calendly.com/api-docs/calendly-o-auth/o-auth/post-oauth-refresh-token: POST
            // https://auth.calendly.com/oauth/token, form-encoded, web clients "pass client_id and client_secret via Basic HTTP
            // Authorization header"; https://developer.calendly.com/refresh-token-rotation-guide: single-use refresh tokens,
            // "revoked immediately after a successful POST /oauth/token call". Scopes are per app since 2026 (none assumed
            // here). GET https://api.calendly.com/users/me → resource.uri / name / email: from memory, not checked here.
            Id = "calendly",
            DisplayName = "Calendly",
            AuthorizationEndpoint = U("https://auth.calendly.com/oauth/authorize"),
            TokenEndpoint = U("https://auth.calendly.com/oauth/token"),
            UserInfoEndpoint = U("https://api.calendly.com/users/me"),
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "resource.uri", LoginPath = "resource.name", EmailPath = "resource.email" },
            ApiBaseUrls = ["https://api.calendly.com"],
        },
        new()
        {
            // https://developer.webex.com/docs/authentication: integrations use the authorization code grant and get an
            // access token with a refresh token. The endpoints (webexapis.com/v1/authorize, /v1/access_token with client_id and
            // client_secret in a form body), the 14-day access / 90-day refresh lifetimes, the spark:* scopes and GET
            // /v1/people/me (id, displayName; emails is an array): from memory, not checked here.
            Id = "webex",
            DisplayName = "Webex",
            AuthorizationEndpoint = U("https://webexapis.com/v1/authorize"),
            TokenEndpoint = U("https://webexapis.com/v1/access_token"),
            UserInfoEndpoint = U("https://webexapis.com/v1/people/me"),
            DefaultScopes = ["spark:people_read"],
            Identity = new() { IdPath = "id", LoginPath = "displayName" },
            ApiBaseUrls = ["https://webexapis.com/v1"],
        },
        new()
        {
            // https://developers.intercom.com/docs/build-an-integration/learn-more/authentication/setting-up-oauth: public apps
            // use OAuth; permissions are chosen on the app, not per request (no scope). Access tokens do not expire and come
            // without a refresh token (https://nango.dev/docs/api-integrations/intercom/how-to-register-your-own-intercom-api-oauth-app).
            // The endpoints (app.intercom.com/oauth, api.intercom.io/auth/eagle/token with client_id and client_secret in the
            // body) and GET /me (id, name, email of the admin): from memory, not checked here. US-hosted workspaces only: EU and
            // AU workspaces live on other hosts (override the endpoints and ApiBaseUrl).
            Id = "intercom",
            DisplayName = "Intercom",
            AuthorizationEndpoint = U("https://app.intercom.com/oauth"),
            TokenEndpoint = U("https://api.intercom.io/auth/eagle/token"),
            UserInfoEndpoint = U("https://api.intercom.io/me"),
            Identity = new() { IdPath = "id", LoginPath = "name", EmailPath = "email" },
            ApiBaseUrls = ["https://api.intercom.io"],
        },
        new()
        {
            // https://airtable.com/developers/web/api/oauth-reference: GET https://airtable.com/oauth2/v1/authorize with a
            // space-delimited scope ("at least one scope"), state, code_challenge + code_challenge_method=S256 (PKCE required).
            // Airtable's own example (github.com/Airtable/oauth-example, index.js): POST https://airtable.com/oauth2/v1/token,
            // form-encoded, "Authorization is required if your integration has a client secret" (Basic), "client_id is optional
            // if authorization header provided", code_verifier in the body. Refresh rotates: "the previous access and refresh
            // tokens are invalidated" (https://www.nango.dev/blog/airtable-oauth-refresh-token-invalid-grant); access tokens
            // last 60 minutes, refresh tokens 60 days. GET /v0/meta/whoami → id, email (with user.email:read): from memory, not
            // checked here.
            // The id "airtable" is the personal-access-token provider (BuiltInApiKeyProviders.cs); this is the OAuth integration.
            Id = "airtable-oauth",
            DisplayName = "Airtable (OAuth)",
            AuthorizationEndpoint = U("https://airtable.com/oauth2/v1/authorize"),
            TokenEndpoint = U("https://airtable.com/oauth2/v1/token"),
            UserInfoEndpoint = U("https://api.airtable.com/v0/meta/whoami"),
            DefaultScopes = ["user.email:read"],
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "id", EmailPath = "email" },
            ApiBaseUrls = ["https://api.airtable.com/v0"],
        },
        new()
        {
            // https://developer.clickup.com/docs/authentication: personal tokens or the OAuth authorization code grant;
            // https://developer.clickup.com/reference/getaccesstoken is the token route. ClickUp has no OAuth scopes and its
            // OAuth tokens do not expire and come without a refresh token (third-party summary:
            // https://docs.unified.to/skills/clickup-oauth-app/SKILL.md). The URLs (app.clickup.com/api,
            // api.clickup.com/api/v2/oauth/token taking client_id, client_secret, code) and GET /api/v2/user → user.id /
            // username / email: from memory, not checked here.
            Id = "clickup",
            DisplayName = "ClickUp",
            AuthorizationEndpoint = U("https://app.clickup.com/api"),
            TokenEndpoint = U("https://api.clickup.com/api/v2/oauth/token"),
            UserInfoEndpoint = U("https://api.clickup.com/api/v2/user"),
            Identity = new() { IdPath = "user.id", LoginPath = "user.username", EmailPath = "user.email" },
            ApiBaseUrls = ["https://api.clickup.com/api/v2"],
        },
        new()
        {
            // https://developers.pipedrive.com/docs/api/v1/Oauth and https://pipedrive.readme.io/docs/marketplace-oauth-authorization:
            // GET https://oauth.pipedrive.com/oauth/authorize (client_id, redirect_uri, state); tokens from the
            // https://oauth.pipedrive.com domain, each bound to a user, a company, the app, scopes and "an expiration date".
            // POST /oauth/token with HTTP Basic client authentication, a refresh token, and the company's api_domain in the
            // answer: from memory, not checked here. Valet does not read api_domain (only Salesforce's instance_url), so calls go
            // to api.pipedrive.com, which serves every company.
            Id = "pipedrive",
            DisplayName = "Pipedrive",
            AuthorizationEndpoint = U("https://oauth.pipedrive.com/oauth/authorize"),
            TokenEndpoint = U("https://oauth.pipedrive.com/oauth/token"),
            UserInfoEndpoint = U("https://api.pipedrive.com/v1/users/me"),
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "data.id", LoginPath = "data.name", EmailPath = "data.email" },
            ApiBaseUrls = ["https://api.pipedrive.com"],
        },
        new()
        {
            // Forgejo at codeberg.org. https://forgejo.org/docs/latest/user/oauth2-provider: /login/oauth/authorize,
            // /login/oauth/access_token, OIDC userinfo at /login/oauth/userinfo; the authorization code grant with PKCE;
            // confidential and public clients; "OAuth2 scopes are not yet implemented" (no scope asked). Expiring access
            // tokens with a refresh token, client_secret_post accepted, and GET /api/v1/user (id, login, email): from memory,
            // not checked here. Another Forgejo or Gitea host overrides the endpoints and ApiBaseUrl.
            Id = "codeberg",
            DisplayName = "Codeberg (Forgejo)",
            AuthorizationEndpoint = U("https://codeberg.org/login/oauth/authorize"),
            TokenEndpoint = U("https://codeberg.org/login/oauth/access_token"),
            UserInfoEndpoint = U("https://codeberg.org/api/v1/user"),
            Identity = new() { IdPath = "id", LoginPath = "login", EmailPath = "email" },
            ApiBaseUrls = ["https://codeberg.org/api/v1"],
        },
        new()
        {
            // Webflow Data API v2. Everything here is from memory, not checked here: authorize at
            // https://webflow.com/oauth/authorize, POST https://api.webflow.com/oauth/access_token (client_id, client_secret,
            // code, grant_type in a form body), tokens that do not expire and no refresh token, space-separated scopes
            // (authorized_user:read), GET /v2/token/authorized_by → id, email, firstName.
            Id = "webflow",
            DisplayName = "Webflow",
            AuthorizationEndpoint = U("https://webflow.com/oauth/authorize"),
            TokenEndpoint = U("https://api.webflow.com/oauth/access_token"),
            UserInfoEndpoint = U("https://api.webflow.com/v2/token/authorized_by"),
            DefaultScopes = ["authorized_user:read"],
            Identity = new() { IdPath = "id", LoginPath = "firstName", EmailPath = "email" },
            ApiBaseUrls = ["https://api.webflow.com/v2"],
        },
        new()
        {
            // monday.com, OAuth 2.1 (https://developer.monday.com/apps/docs/oauth-2-1): PKCE, refresh tokens. Token, refresh
            // and revocation are JSON bodies with client_id/client_secret; no expires_in (the JWT access token's exp is read
            // instead: TokenRules.ExpiresAt); refresh tokens rotate
            // (https://developer.monday.com/apps/docs/migrating-to-the-new-oauth-flow). Identity: the GraphQL me query, POSTed
            // to https://api.monday.com/v2, "Required scope: me:read" (https://developer.monday.com/api-reference/reference/me).
            // No API-Version pinned (optional; the Current version answers without it). Decisions and what monday's pages do
            // not confirm (Bearer for OAuth tokens, user ids across accounts): docs/providers.md, "monday".
            Id = "monday",
            DisplayName = "monday.com",
            AuthorizationEndpoint = U("https://auth.monday.com/oauth2/authorize"),
            TokenEndpoint = U("https://auth.monday.com/oauth_ms/oauth/token"),
            RevocationEndpoint = U("https://auth.monday.com/oauth_ms/oauth/revoke"),
            UserInfoEndpoint = U("https://api.monday.com/v2"),
            DefaultScopes = ["me:read"],
            RequiredScopes = ["me:read"],
            TokenRequestFormat = TokenRequestFormat.Json,
            Identity = new()
            {
                IdPath = "data.me.id", LoginPath = "data.me.name", EmailPath = "data.me.email",
                UsePost = true, PostJson = """{"query":"{ me { id name email } }"}""",
            },
            ApiBaseUrls = ["https://api.monday.com/v2"],
        },
    ];
}
