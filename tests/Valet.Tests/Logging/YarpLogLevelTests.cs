using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Logging;

/// <summary>
/// YARP's forwarder logs two Information lines per proxied call; Valet starts its category at Warning (docs/performance.md,
/// "What changed the proxy"), unless the operator configured <c>Logging:LogLevel:Yarp</c>, which then decides.
/// </summary>
public sealed class YarpLogLevelTests
{
    [Fact]
    public async Task YarpStartsAtWarning()
    {
        await using var server = await ValetTestServer.StartAsync();
        var rules = YarpRules(server);
        Assert.Equal([LogLevel.Warning], rules.Select(r => r.LogLevel));
    }

    [Fact]
    public async Task AnOperatorsYarpLevel_IsNotOverridden()
    {
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["Logging:LogLevel:Yarp"] = "Information" });
        var rules = YarpRules(server);
        Assert.Equal([LogLevel.Information], rules.Select(r => r.LogLevel));
    }

    [Fact]
    public async Task TheMcpSdk_StartsAtCritical_SoAnAgentsUnknownToolIsNotLoggedAsAServerError_UnlessTheOperatorSaysOtherwise()
    {
        await using var server = await ValetTestServer.StartAsync();
        Assert.Equal([LogLevel.Critical], Rules(server, "ModelContextProtocol").Select(r => r.LogLevel));

        await using var configured = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["Logging:LogLevel:ModelContextProtocol"] = "Warning" });
        Assert.Equal([LogLevel.Warning], Rules(configured, "ModelContextProtocol").Select(r => r.LogLevel));
    }

    private static List<LoggerFilterRule> YarpRules(ValetTestServer server) => Rules(server, "Yarp");

    private static List<LoggerFilterRule> Rules(ValetTestServer server, string category) =>
        server.Services.GetRequiredService<IOptions<LoggerFilterOptions>>().Value.Rules
            .Where(r => r.CategoryName == category && r.ProviderName is null).ToList();
}
