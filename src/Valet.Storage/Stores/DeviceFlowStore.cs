using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class DeviceFlowStore(Db db, IVault vault, TimeProvider time) : StoreBase(db, time), IDeviceFlowStore
{
    public Task CreateAsync(DeviceFlow flow, CancellationToken cancellationToken) =>
        WriteAsync(
            $"The device flow '{flow.Id}' already exists or its org is unknown.",
            c => c.ExecAsync(
                """
                INSERT INTO device_flows (id, handle_hash, org_id, provider, credential_id, scopes, device_code, user_code, verification_uri,
                    verification_uri_complete, interval_seconds, next_poll_at, expires_at, status, created_at, updated_at)
                VALUES (@Id, @HandleHash, @OrgId, @Provider, @CredentialId, @Scopes, @DeviceCode, @UserCode, @VerificationUri,
                    @VerificationUriComplete, @IntervalSeconds, @NextPollAt, @ExpiresAt, 'pending', @Now, @Now)
                """,
                new
                {
                    flow.Id, flow.HandleHash, flow.OrgId, flow.Provider, flow.CredentialId, Scopes = Sql.ToJson(flow.Scopes),
                    DeviceCode = vault.SealString(flow.DeviceCode.Reveal(), Context(flow.Id)), flow.UserCode, flow.VerificationUri,
                    flow.VerificationUriComplete, flow.IntervalSeconds, NextPollAt = Db.Time(Db.Truncate(flow.NextPollAt)),
                    ExpiresAt = Db.Time(Db.Truncate(flow.ExpiresAt)), Now = Db.Time(Now()),
                },
                null, cancellationToken),
            cancellationToken);

    public async ValueTask<DeviceFlow?> FindByHandleAsync(string handleHash, CancellationToken cancellationToken) =>
        await QueryOneAsync("SELECT * FROM device_flows WHERE handle_hash = @handleHash", new { handleHash }, Map, cancellationToken);

    public async Task<IReadOnlyList<DeviceFlow>> ListDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) =>
        await QueryAsync(
            $"SELECT * FROM device_flows WHERE status = 'pending' AND next_poll_at <= @now ORDER BY next_poll_at LIMIT {limit}",
            new { now = Db.Time(now) }, Map, cancellationToken);

    public async Task<bool> TryClaimAsync(DeviceFlow flow, DateTimeOffset leaseUntil, CancellationToken cancellationToken) =>
        await ExecAsync(
            "UPDATE device_flows SET next_poll_at = @lease, updated_at = @now WHERE id = @Id AND status = 'pending' AND next_poll_at = @seen",
            new { flow.Id, lease = Db.Time(Db.Truncate(leaseUntil)), now = Db.Time(Now()), seen = Db.Time(flow.NextPollAt) }, cancellationToken) == 1;

    public Task ScheduleAsync(string id, int intervalSeconds, DateTimeOffset nextPollAt, CancellationToken cancellationToken) =>
        ExecAsync(
            "UPDATE device_flows SET interval_seconds = @intervalSeconds, next_poll_at = @next, updated_at = @now WHERE id = @id AND status = 'pending'",
            new { id, intervalSeconds, next = Db.Time(Db.Truncate(nextPollAt)), now = Db.Time(Now()) }, cancellationToken);

    public async Task<bool> TryStartCompletingAsync(string id, CancellationToken cancellationToken) =>
        await ExecAsync(
            "UPDATE device_flows SET status = 'completing', updated_at = @now WHERE id = @id AND status = 'pending'",
            new { id, now = Db.Time(Now()) }, cancellationToken) == 1;

    public async Task<bool> TryCancelAsync(string id, CancellationToken cancellationToken) =>
        await ExecAsync(
            "UPDATE device_flows SET status = 'error', error = 'cancelled', updated_at = @now WHERE id = @id AND status = 'pending'",
            new { id, now = Db.Time(Now()) }, cancellationToken) == 1;

    public Task FinishAsync(string id, DeviceFlowStatus status, string? connectionId, string? error, CancellationToken cancellationToken) =>
        ExecAsync(
            "UPDATE device_flows SET status = @status, connection_id = @connectionId, error = @error, updated_at = @now WHERE id = @id AND status IN ('pending', 'completing')",
            new { id, status = status.ToString().ToLowerInvariant(), connectionId, error, now = Db.Time(Now()) }, cancellationToken);

    private static SealContext Context(string id) => new("device_flows", id, "device_code");

    private DeviceFlow Map(Row r)
    {
        var id = r.Str("id");
        return new DeviceFlow
        {
            Id = id,
            HandleHash = r.Str("handle_hash"),
            OrgId = r.Str("org_id"),
            Provider = r.Str("provider"),
            CredentialId = r.StrOrNull("credential_id"),
            Scopes = Sql.FromJson(r.StrOrNull("scopes")),
            DeviceCode = new Secret(vault.OpenString(r.Bytes("device_code"), Context(id))),
            UserCode = r.Str("user_code"),
            VerificationUri = r.Str("verification_uri"),
            VerificationUriComplete = r.StrOrNull("verification_uri_complete"),
            IntervalSeconds = r.Int("interval_seconds"),
            NextPollAt = r.Time("next_poll_at"),
            ExpiresAt = r.Time("expires_at"),
            Status = Enum.Parse<DeviceFlowStatus>(r.Str("status"), ignoreCase: true),
            ConnectionId = r.StrOrNull("connection_id"),
            Error = r.StrOrNull("error"),
            CreatedAt = r.Time("created_at"),
            UpdatedAt = r.Time("updated_at"),
        };
    }
}
