namespace Valet.Server.Dashboard;

/// <summary>The documented answer of <c>GET /me</c>: the dashboard session's org, who signed in (admin or service token) and when.</summary>
internal sealed record MeResponse(string Org, string Operator, DateTimeOffset Since);
