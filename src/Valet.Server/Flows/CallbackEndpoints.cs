using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Flows;
using Valet.Server.Dashboard;

namespace Valet.Server.Flows;

internal static class CallbackEndpoints
{
    /// <summary>The gateway callback, <c>{VALET_PUBLIC_URL}/oauth/callback</c>. Anonymous: the state is the credential.</summary>
    public static IEndpointConventionBuilder MapOAuthCallback(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/oauth/callback", async (HttpContext context, FlowEngine engine) =>
        {
            var callback = Read(context.Request);
            if (!await ProviderSignInEndpoints.CheckBrowserAsync(context, callback.State))
            {
                return;
            }

            var outcome = await engine.CompleteAsync(callback, context.RequestAborted);
            if (outcome is { Flow.SignIn: true, BadState: false })
            {
                await ProviderSignInEndpoints.FinishAsync(context, outcome);
                return;
            }

            await CallbackPage.WriteAsync(context, outcome);
        }).AllowAnonymous().ExcludeFromDescription();

    public static CallbackParameters Read(HttpRequest request) =>
        new(Single(request, "code"), Single(request, "state"), Single(request, "iss"), Single(request, "error"));

    /// <summary>A parameter given twice is treated as absent (no parameter pollution).</summary>
    private static string? Single(HttpRequest request, string name) =>
        request.Query.TryGetValue(name, out var values) && values.Count == 1 ? values[0] : null;
}
