namespace Valet.Server.Dashboard;

/// <summary>The audit kinds Valet writes, and each in words for the dashboard (the API keeps the kind itself).</summary>
internal static class AuditKinds
{
    /// <summary>Every kind, in the order the audit page's filter offers them.</summary>
    public static readonly string[] All =
        [
            "connection.created", "connection.updated", "connection.refreshed", "connection.refresh_failed", "connection.reauth_required",
            "connection.deleted", "proxy.request",
        ];

    /// <summary>A kind in words; an unknown one as it is.</summary>
    public static string Label(string kind) => kind switch
    {
        "connection.created" => "Connected",
        "connection.updated" => "Reconnected or updated",
        "connection.refreshed" => "Token refreshed",
        "connection.refresh_failed" => "Refresh failed",
        "connection.reauth_required" => "Grant ended: reconnect needed",
        "connection.deleted" => "Disconnected",
        "proxy.request" => "API call",
        _ => kind,
    };
}
