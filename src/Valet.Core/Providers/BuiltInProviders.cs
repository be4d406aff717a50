using static Valet.Core.Providers.CatalogData;

namespace Valet.Core.Providers;

/// <summary>
/// The built-in catalog: plain data. Provider differences live in these records (quirks, paths, parameters),
/// never in code that branches on an id. Configuration (<c>Providers:&lt;id&gt;</c>) may override any of them.
/// </summary>
public static class BuiltInProviders
{
    /// <summary>Identity mapping for OIDC user-info endpoints.</summary>
    public static IdentityMapping OidcIdentity { get; } = new() { IdPath = "sub", LoginPath = "preferred_username", EmailPath = "email" };

    public static IReadOnlyList<ProviderDefinition> All { get; } =
    [
        new()
        {
            Id = "github",
            DisplayName = "GitHub",
            AuthorizationEndpoint = U("https://github.com/login/oauth/authorize"),
            TokenEndpoint = U("https://github.com/login/oauth/access_token"),
            UserInfoEndpoint = U("https://api.github.com/user"),
            DefaultScopes = ["read:user", "user:email"],
            Identity = new() { IdPath = "id", LoginPath = "login", EmailPath = "email", LoginIsUnique = true },
            ApiBaseUrls = ["https://api.github.com"],
            ApiHeaders = P(("X-GitHub-Api-Version", "2022-11-28")),
            Targets = [new() { Name = "api", Path = "" }],
        },
        new()
        {
            // gitlab.com; a self-hosted GitLab overrides Issuer (or the endpoints) and ApiBaseUrl.
            Id = "gitlab",
            DisplayName = "GitLab",
            AuthorizationEndpoint = U("https://gitlab.com/oauth/authorize"),
            TokenEndpoint = U("https://gitlab.com/oauth/token"),
            RevocationEndpoint = U("https://gitlab.com/oauth/revoke"),
            UserInfoEndpoint = U("https://gitlab.com/api/v4/user"),
            DefaultScopes = ["read_user"],
            Identity = new() { IdPath = "id", LoginPath = "username", EmailPath = "email", LoginIsUnique = true },
            ApiBaseUrls = ["https://gitlab.com/api/v4"],
        },
        new()
        {
            Id = "google",
            DisplayName = "Google",
            Issuer = "https://accounts.google.com",
            AuthorizationEndpoint = U("https://accounts.google.com/o/oauth2/v2/auth"),
            TokenEndpoint = U("https://oauth2.googleapis.com/token"),
            RevocationEndpoint = U("https://oauth2.googleapis.com/revoke"),
            UserInfoEndpoint = U("https://openidconnect.googleapis.com/v1/userinfo"),
            DefaultScopes = ["openid", "email", "profile"],
            RequiredScopes = ["openid", "email"],
            ExtraAuthorizationParameters = P(("access_type", "offline"), ("prompt", "consent"), ("include_granted_scopes", "true")),
            Identity = new() { IdPath = "sub", LoginPath = "email", EmailPath = "email" },
            ApiBaseUrls =
            [
                "https://www.googleapis.com", "https://gmail.googleapis.com", "https://people.googleapis.com",
                "https://sheets.googleapis.com", "https://docs.googleapis.com", "https://drive.googleapis.com",
                // Service endpoints as each API's REST reference names them (developers.google.com/workspace/slides/api/reference/rest,
                // /forms/api/reference/rest, /workspace/tasks/reference/rest). Calendar's is https://www.googleapis.com.
                "https://slides.googleapis.com", "https://forms.googleapis.com", "https://tasks.googleapis.com",
            ],
        },
        new()
        {
            // Microsoft 365 (work/school and personal accounts): the multi-tenant v2 endpoints.
            Id = "microsoft",
            DisplayName = "Microsoft 365",
            AuthorizationEndpoint = U("https://login.microsoftonline.com/common/oauth2/v2.0/authorize"),
            TokenEndpoint = U("https://login.microsoftonline.com/common/oauth2/v2.0/token"),
            UserInfoEndpoint = U("https://graph.microsoft.com/v1.0/me"),
            DefaultScopes = ["offline_access", "User.Read"],
            RequiredScopes = ["offline_access", "User.Read"],
            Identity = new() { IdPath = "id", LoginPath = "userPrincipalName", EmailPath = "mail" },
            ApiBaseUrls = ["https://graph.microsoft.com"],
            Targets =
            [
                new() { Name = "mail", Path = "v1.0/me/messages", RequiredScopes = ["Mail.Read"] },
                new() { Name = "calendar", Path = "v1.0/me/calendar", RequiredScopes = ["Calendars.Read"] },
            ],
        },
        new()
        {
            // OAuth v2 with user scopes: the user token is under authed_user; auth.test names the account.
            Id = "slack",
            DisplayName = "Slack",
            AuthorizationEndpoint = U("https://slack.com/oauth/v2/authorize"),
            TokenEndpoint = U("https://slack.com/api/oauth.v2.access"),
            RevocationEndpoint = U("https://slack.com/api/auth.revoke"),
            UserInfoEndpoint = U("https://slack.com/api/auth.test"),
            DefaultScopes = ["users:read"],
            ScopeSeparator = ",",
            Quirks = ProviderQuirks.SlackNestedAuthedUser | ProviderQuirks.OkFalseErrors | ProviderQuirks.UserScopeParameter,
            Identity = new() { IdPath = "user_id", LoginPath = "user", UsePost = true },
            ApiBaseUrls = ["https://slack.com/api"],
        },
        new()
        {
            Id = "notion",
            DisplayName = "Notion",
            AuthorizationEndpoint = U("https://api.notion.com/v1/oauth/authorize"),
            TokenEndpoint = U("https://api.notion.com/v1/oauth/token"),
            RevocationEndpoint = U("https://api.notion.com/v1/oauth/revoke"),
            UserInfoEndpoint = U("https://api.notion.com/v1/users/me"),
            ExtraAuthorizationParameters = P(("owner", "user")),

            // "Create a token" / "Refresh a token" / "Revoke token": JSON bodies, HTTP Basic client authentication and
            // Notion-Version on each (https://developers.notion.com/reference/create-a-token, /reference/refresh-a-token,
            // /reference/revoke-token). Errors carry their code in "code" (/reference/status-codes); no expires_in.
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            TokenRequestFormat = TokenRequestFormat.Json,
            Quirks = ProviderQuirks.ApiHeadersOnTokenRequests,
            Identity = new() { IdPath = "bot.owner.user.id", LoginPath = "bot.owner.user.name", EmailPath = "bot.owner.user.person.email" },
            ApiBaseUrls = ["https://api.notion.com"],
            ApiHeaders = P(("Notion-Version", "2022-06-28")),
        },
        new()
        {
            // Linear's API is GraphQL only, and its GraphQL requests are POSTs with a JSON body
            // (https://linear.app/developers/graphql): the viewer query is sent that way, not as a GET query string.
            Id = "linear",
            DisplayName = "Linear",
            AuthorizationEndpoint = U("https://linear.app/oauth/authorize"),
            TokenEndpoint = U("https://api.linear.app/oauth/token"),
            RevocationEndpoint = U("https://api.linear.app/oauth/revoke"),
            UserInfoEndpoint = U("https://api.linear.app/graphql"),
            DefaultScopes = ["read"],
            ScopeSeparator = ",",
            Identity = new()
            {
                IdPath = "data.viewer.id", LoginPath = "data.viewer.name", EmailPath = "data.viewer.email",
                UsePost = true, PostJson = """{"query":"{ viewer { id name email } }"}""",
            },
            ApiBaseUrls = ["https://api.linear.app"],
        },
        new()
        {
            Id = "atlassian",
            DisplayName = "Atlassian (Jira, Confluence)",
            AuthorizationEndpoint = U("https://auth.atlassian.com/authorize"),
            TokenEndpoint = U("https://auth.atlassian.com/oauth/token"),
            UserInfoEndpoint = U("https://api.atlassian.com/me"),
            DefaultScopes = ["read:me", "offline_access"],
            RequiredScopes = ["read:me", "offline_access"],
            ExtraAuthorizationParameters = P(("audience", "api.atlassian.com"), ("prompt", "consent")),
            Identity = new() { IdPath = "account_id", LoginPath = "nickname", EmailPath = "email" },
            ApiBaseUrls = ["https://api.atlassian.com"],
        },
        new()
        {
            Id = "dropbox",
            DisplayName = "Dropbox",
            AuthorizationEndpoint = U("https://www.dropbox.com/oauth2/authorize"),
            TokenEndpoint = U("https://api.dropboxapi.com/oauth2/token"),
            UserInfoEndpoint = U("https://api.dropboxapi.com/2/users/get_current_account"),
            DefaultScopes = ["account_info.read"],
            ExtraAuthorizationParameters = P(("token_access_type", "offline")),
            Identity = new() { IdPath = "account_id", LoginPath = "name.display_name", EmailPath = "email", UsePost = true },
            ApiBaseUrls = ["https://api.dropboxapi.com", "https://content.dropboxapi.com"],
        },
        new()
        {
            // The API lives on the org's instance_url from the token response; login.salesforce.com is only the default.
            Id = "salesforce",
            DisplayName = "Salesforce",
            AuthorizationEndpoint = U("https://login.salesforce.com/services/oauth2/authorize"),
            TokenEndpoint = U("https://login.salesforce.com/services/oauth2/token"),
            RevocationEndpoint = U("https://login.salesforce.com/services/oauth2/revoke"),
            UserInfoEndpoint = U("https://login.salesforce.com/services/oauth2/userinfo"),
            DefaultScopes = ["api", "refresh_token"],
            RequiredScopes = ["refresh_token"],
            Quirks = ProviderQuirks.InstanceUrlApiBase,
            Identity = new() { IdPath = "user_id", LoginPath = "preferred_username", EmailPath = "email" },
            ApiBaseUrls = ["https://login.salesforce.com"],
            InstanceUrlHostSuffixes = [".salesforce.com", ".force.com"],
        },
        new()
        {
            // HubSpot's token introspection puts the token in the URL; the account-info call names the portal instead.
            // The token endpoint is the date-versioned one: /oauth/v1/token is removed on 16 February 2027
            // (https://developers.hubspot.com/changelog/v1-oauth-api-deprecation); the new one takes the same form-encoded
            // body (client_id, client_secret, code, code_verifier, redirect_uri, refresh_token:
            // https://developers.hubspot.com/docs/api-reference/2026-03/authentication/oauth-tokens/refresh-oauth-token).
            // Its new revoke endpoint (/oauth/2026-03/token/revoke) is not used: its request format was not checked here.
            Id = "hubspot",
            DisplayName = "HubSpot",
            AuthorizationEndpoint = U("https://app.hubspot.com/oauth/authorize"),
            TokenEndpoint = U("https://api.hubapi.com/oauth/2026-03/token"),
            UserInfoEndpoint = U("https://api.hubapi.com/account-info/v3/details"),
            DefaultScopes = ["oauth"],
            Identity = new() { IdPath = "portalId" },
            ApiBaseUrls = ["https://api.hubapi.com"],
        },
        new()
        {
            Id = "discord",
            DisplayName = "Discord",
            AuthorizationEndpoint = U("https://discord.com/oauth2/authorize"),
            TokenEndpoint = U("https://discord.com/api/oauth2/token"),
            RevocationEndpoint = U("https://discord.com/api/oauth2/token/revoke"),
            // Versioned: an unversioned path goes to Discord's default API version, v6, which is deprecated
            // (https://discord.com/developers/docs/reference, "API Versioning"). The API base stays unversioned, so an
            // agent names its version in the path (v10/users/@me).
            UserInfoEndpoint = U("https://discord.com/api/v10/users/@me"),
            DefaultScopes = ["identify", "email"],
            Identity = new() { IdPath = "id", LoginPath = "username", EmailPath = "email" },
            ApiBaseUrls = ["https://discord.com/api"],
        },
        new()
        {
            Id = "zoom",
            DisplayName = "Zoom",
            AuthorizationEndpoint = U("https://zoom.us/oauth/authorize"),
            TokenEndpoint = U("https://zoom.us/oauth/token"),
            RevocationEndpoint = U("https://zoom.us/oauth/revoke"),
            UserInfoEndpoint = U("https://api.zoom.us/v2/users/me"),
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "id", LoginPath = "display_name", EmailPath = "email" },
            ApiBaseUrls = ["https://api.zoom.us/v2"],
        },
        new()
        {
            Id = "asana",
            DisplayName = "Asana",
            AuthorizationEndpoint = U("https://app.asana.com/-/oauth_authorize"),
            TokenEndpoint = U("https://app.asana.com/-/oauth_token"),
            RevocationEndpoint = U("https://app.asana.com/-/oauth_revoke"),
            UserInfoEndpoint = U("https://app.asana.com/api/1.0/users/me"),
            DefaultScopes = ["default"],
            Identity = new() { IdPath = "data.gid", LoginPath = "data.name", EmailPath = "data.email" },
            ApiBaseUrls = ["https://app.asana.com/api/1.0"],
        },
        new()
        {
            Id = "figma",
            DisplayName = "Figma",
            AuthorizationEndpoint = U("https://www.figma.com/oauth"),
            TokenEndpoint = U("https://api.figma.com/v1/oauth/token"),
            UserInfoEndpoint = U("https://api.figma.com/v1/me"),
            DefaultScopes = ["current_user:read", "file_content:read"],
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "id", LoginPath = "handle", EmailPath = "email" },
            ApiBaseUrls = ["https://api.figma.com"],
        },
        new()
        {
            Id = "spotify",
            DisplayName = "Spotify",
            AuthorizationEndpoint = U("https://accounts.spotify.com/authorize"),
            TokenEndpoint = U("https://accounts.spotify.com/api/token"),
            UserInfoEndpoint = U("https://api.spotify.com/v1/me"),
            DefaultScopes = ["user-read-email", "user-read-private"],
            TokenEndpointAuth = TokenEndpointAuthMethod.ClientSecretBasic,
            Identity = new() { IdPath = "id", LoginPath = "display_name", EmailPath = "email" },
            ApiBaseUrls = ["https://api.spotify.com"],
        },
        new()
        {
            // Every Zendesk account is its own subdomain: the URLs are templates over the connection's "subdomain"
            // (valet connect zendesk --param subdomain=acme). "Using OAuth to authenticate Zendesk API requests in a web app"
            // and "OAuth Tokens for Grant Types" (https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/):
            // authorize at /oauth/authorizations/new, POST /oauth/tokens with parameters "formatted as JSON" (client_id and
            // client_secret in the body, PKCE code_verifier), refresh tokens that rotate ("invalidating the previous access and
            // refresh tokens"); GET /api/v2/users/me names the user. No RFC 7009 revocation (Zendesk revokes by token id).
            Id = "zendesk",
            DisplayName = "Zendesk",
            ConnectionParameters = [new() { Name = "subdomain", Kind = ConnectionParameterKind.HostLabel }],
            UrlTemplates = new()
            {
                AuthorizationEndpoint = "https://{subdomain}.zendesk.com/oauth/authorizations/new",
                TokenEndpoint = "https://{subdomain}.zendesk.com/oauth/tokens",
                UserInfoEndpoint = "https://{subdomain}.zendesk.com/api/v2/users/me",
                ApiBaseUrls = ["https://{subdomain}.zendesk.com/api/v2"],
            },
            DefaultScopes = ["read"],
            TokenRequestFormat = TokenRequestFormat.Json,
            Identity = new() { IdPath = "user.id", LoginPath = "user.name", EmailPath = "user.email" },
        },
        .. BuiltInWorkProviders.All,
        .. BuiltInBusinessProviders.All,
        .. BuiltInApiKeyProviders.All,
    ];

    public static ProviderDefinition? Find(string id) =>
        All.FirstOrDefault(p => string.Equals(p.Id, id, StringComparison.OrdinalIgnoreCase));
}
