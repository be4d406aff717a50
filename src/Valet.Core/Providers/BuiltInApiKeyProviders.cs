using static Valet.Core.Providers.CatalogData;

namespace Valet.Core.Providers;

/// <summary>
/// The catalog's API-key and basic-auth providers (SPEC §13): where each one's API lives and how its credential goes
/// in, as that provider documents it (the page is cited on each entry and kept in <see cref="ProviderDefinition.DocsUrl"/>).
/// An operator stores the secret (<c>valet connections add ID --secret -</c>); the proxy injects it.
/// </summary>
internal static class BuiltInApiKeyProviders
{
    private static ApiKeyInjection Header(string template) =>
        ApiKeyInjection.ParseHeader(template, out var problem) ?? throw new InvalidOperationException(problem);

    public static IReadOnlyList<ProviderDefinition> All { get; } =
    [
        new()
        {
            // "Authorization: Bearer OPENAI_API_KEY" — https://platform.openai.com/docs/api-reference/authentication
            Id = "openai",
            DisplayName = "OpenAI",
            AuthMode = AuthMode.ApiKey,
            ApiKey = Header("Authorization: Bearer {secret}"),
            ApiBaseUrls = ["https://api.openai.com"],
            DocsUrl = "https://platform.openai.com/docs/api-reference/authentication",
        },
        new()
        {
            // "All requests to the Anthropic API must include an x-api-key header", plus a required anthropic-version
            // header — https://docs.anthropic.com/en/api/getting-started, https://docs.anthropic.com/en/api/versioning
            Id = "anthropic",
            DisplayName = "Anthropic",
            AuthMode = AuthMode.ApiKey,
            ApiKey = Header("x-api-key: {secret}"),
            ApiBaseUrls = ["https://api.anthropic.com"],
            ApiHeaders = P(("anthropic-version", "2023-06-01")),
            DocsUrl = "https://docs.anthropic.com/en/api/getting-started",
        },
        new()
        {
            // Basic auth with the key as username, or "Authorization: Bearer sk_..." — https://docs.stripe.com/api/authentication
            Id = "stripe",
            DisplayName = "Stripe",
            AuthMode = AuthMode.ApiKey,
            ApiKey = Header("Authorization: Bearer {secret}"),
            ApiBaseUrls = ["https://api.stripe.com"],
            DocsUrl = "https://docs.stripe.com/api/authentication",
        },
        new()
        {
            // "Authorization: Bearer <Your-API-Key>" —
            // https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/authentication
            Id = "sendgrid",
            DisplayName = "SendGrid",
            AuthMode = AuthMode.ApiKey,
            ApiKey = Header("Authorization: Bearer {secret}"),
            ApiBaseUrls = ["https://api.sendgrid.com"],
            DocsUrl = "https://www.twilio.com/docs/sendgrid/api-reference/how-to-use-the-sendgrid-v3-api/authentication",
        },
        new()
        {
            // HTTP Basic: API key SID (or Account SID) as username, its secret (or Auth Token) as password —
            // https://www.twilio.com/docs/usage/requests-to-twilio
            Id = "twilio",
            DisplayName = "Twilio",
            AuthMode = AuthMode.Basic,
            SecretLabels = new("Account SID or API key SID", "Auth token or API key secret", "SID and auth token"),
            ApiBaseUrls = ["https://api.twilio.com"],
            DocsUrl = "https://www.twilio.com/docs/usage/requests-to-twilio",
        },
        new()
        {
            // "DD-API-KEY" header (reads also need DD-APPLICATION-KEY, which an agent adds itself or a second provider
            // entry carries) — https://docs.datadoghq.com/api/latest/authentication/. Other sites: override ApiBaseUrl.
            Id = "datadog",
            DisplayName = "Datadog",
            AuthMode = AuthMode.ApiKey,
            ApiKey = Header("DD-API-KEY: {secret}"),
            ApiBaseUrls = ["https://api.datadoghq.com"],
            DocsUrl = "https://docs.datadoghq.com/api/latest/authentication/",
        },
        new()
        {
            // HTTP Basic with username "api" and the API key as password —
            // https://documentation.mailgun.com/docs/mailgun/api-reference/authentication (EU: https://api.eu.mailgun.net)
            Id = "mailgun",
            DisplayName = "Mailgun",
            AuthMode = AuthMode.Basic,
            SecretLabels = new("Username (api)", "API key", "API key"),
            ApiBaseUrls = ["https://api.mailgun.net", "https://api.eu.mailgun.net"],
            DocsUrl = "https://documentation.mailgun.com/docs/mailgun/api-reference/authentication",
        },
        new()
        {
            // "Authorization: Token token=<API key>" and the versioned Accept header —
            // https://developer.pagerduty.com/docs/rest-api-v2/authentication/
            Id = "pagerduty",
            DisplayName = "PagerDuty",
            AuthMode = AuthMode.ApiKey,
            ApiKey = Header("Authorization: Token token={secret}"),
            ApiBaseUrls = ["https://api.pagerduty.com"],
            ApiHeaders = P(("Accept", "application/vnd.pagerduty+json;version=2")),
            DocsUrl = "https://developer.pagerduty.com/docs/rest-api-v2/authentication/",
        },
        new()
        {
            // Personal access tokens as "Authorization: Bearer pat..." — https://airtable.com/developers/web/api/authentication
            Id = "airtable",
            DisplayName = "Airtable (personal access token)",
            AuthMode = AuthMode.ApiKey,
            ApiKey = Header("Authorization: Bearer {secret}"),
            ApiBaseUrls = ["https://api.airtable.com"],
            DocsUrl = "https://airtable.com/developers/web/api/authentication",
        },
        new()
        {
            // HTTP Basic with the Atlassian account email and an API token, against the site itself
            // (https://your-site.atlassian.net) — https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/
            // Each connection names its site (api_base_url); only *.atlassian.net over https is accepted.
            Id = "jira",
            DisplayName = "Jira Cloud (API token)",
            AuthMode = AuthMode.Basic,
            SecretLabels = new("Atlassian account email", "API token", "Email and API token"),
            InstanceUrlHostSuffixes = [".atlassian.net"],
            DocsUrl = "https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/",
        },
        new()
        {
            // The same rule for Confluence Cloud (the site's /wiki REST API) —
            // https://developer.atlassian.com/cloud/confluence/basic-auth-for-rest-apis/
            Id = "confluence",
            DisplayName = "Confluence Cloud (API token)",
            AuthMode = AuthMode.Basic,
            SecretLabels = new("Atlassian account email", "API token", "Email and API token"),
            InstanceUrlHostSuffixes = [".atlassian.net"],
            DocsUrl = "https://developer.atlassian.com/cloud/confluence/basic-auth-for-rest-apis/",
        },
    ];
}
