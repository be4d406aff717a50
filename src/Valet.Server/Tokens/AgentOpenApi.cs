namespace Valet.Server.Tokens;

/// <summary>
/// OpenAPI metadata shared by the agent routes (tokens, bootstrap, proxy). Their error answers are declared like every
/// other route's, with <see cref="Http.ProblemCodesExtensions.ProducesProblemCodes"/> (a 409 carrying only envelope codes is
/// documented with the <c>AuthRecoveryEnvelope</c> schema); what every agent route shares (401, 403 <c>forbidden</c>, 429,
/// 503) comes from the document transformer (<c>OpenApiSetup</c>).
/// </summary>
internal static class AgentOpenApi
{
    public const string Tag = "Agent";

    /// <summary>
    /// The bearer scheme of API keys. The schemes and each operation's requirement come from the document transformer
    /// (<c>OpenApiSetup</c>), which gives every route tagged Agent or Proxy this one.
    /// </summary>
    public const string SecurityScheme = "agentKey";
}
