using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class FlowStore(Db db, IVault vault, TimeProvider time) : StoreBase(db, time), IFlowStore
{
    /// <summary>Finished flows stay readable (for pollers) this long before the sweep deletes them.</summary>
    private static readonly TimeSpan Retention = TimeSpan.FromDays(1);

    public async Task CreateAsync(Flow flow, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(flow);
        var createdAt = OrNow(flow.CreatedAt);
        await WriteAsync(
            $"The flow '{flow.Id}' or its state already exists, or its org is unknown.",
            async connection =>
            {
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await SweepAsync(connection, transaction, createdAt, cancellationToken);
                await InsertAsync(connection, transaction, flow, createdAt, ignoreEnvelopeConflict: false, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                return 0;
            },
            cancellationToken);
    }

    public async Task<int> CountPendingAsync(string orgId, bool signIn, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return (int)await connection.ScalarAsync<long>(
            "SELECT count(*) FROM flows WHERE org_id = @orgId AND sign_in = @signIn AND status IN ('pending', 'exchanging') AND expires_at > @now",
            new { orgId, signIn, now = Db.Time(now) }, null, cancellationToken);
    }

    public async Task<(Flow? Flow, bool Created)> FindOrCreateEnvelopeFlowAsync(Flow candidate, int maxPending, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var key = candidate.EnvelopeKey ?? throw new ArgumentException("An envelope flow needs its EnvelopeKey.", nameof(candidate));

        // A few rounds at most: each one ends unless a person consumes the flow between our read and our write.
        for (var round = 0; round < 3; round++)
        {
            var existing = await QueryOneAsync("SELECT * FROM flows WHERE envelope_key = @key", new { key }, Map, cancellationToken);
            if (existing is { Status: FlowStatus.Pending } && existing.ExpiresAt > now)
            {
                return (existing, false); // the common case under a storm of envelopes: a read, no write
            }

            if (existing is not null)
            {
                // Lapsed: give it a new life and a fresh state hash (a state handed out by an earlier re-arm dies).
                var revived = await QueryOneAsync(
                    """
                    UPDATE flows SET status = 'pending', state_hash = @stateHash, expires_at = @expiresAt, completed_at = NULL, error = NULL
                    WHERE id = @id AND envelope_key = @key AND status IN ('pending', 'expired') RETURNING *
                    """,
                    new { id = existing.Id, key, stateHash = candidate.StateHash, expiresAt = Db.Time(candidate.ExpiresAt) }, Map, cancellationToken);
                if (revived is not null)
                {
                    return (revived, false);
                }

                continue;
            }

            if (await CountPendingAsync(candidate.OrgId, signIn: false, now, cancellationToken) >= maxPending)
            {
                return (null, false);
            }

            var createdAt = OrNow(candidate.CreatedAt);
            var inserted = await WriteAsync(
                $"The flow '{candidate.Id}' or its state already exists, or its org is unknown.",
                async connection =>
                {
                    await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                    await SweepAsync(connection, transaction, createdAt, cancellationToken);
                    var rows = await InsertAsync(connection, transaction, candidate, createdAt, ignoreEnvelopeConflict: true, cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                    return rows;
                },
                cancellationToken);
            if (inserted == 1)
            {
                return (candidate with { CreatedAt = createdAt }, true);
            }

            // Another caller (on this node or another) inserted it first: the next round reads theirs.
        }

        return (await QueryOneAsync("SELECT * FROM flows WHERE envelope_key = @key", new { key }, Map, cancellationToken), false);
    }

    /// <summary>
    /// Inserts <paramref name="flow"/>. With <paramref name="ignoreEnvelopeConflict"/>, a row already holding its envelope
    /// key wins and nothing is inserted (0 rows): racing envelopes on every node end with one row.
    /// </summary>
    private async Task<int> InsertAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, Flow flow,
        DateTimeOffset createdAt, bool ignoreEnvelopeConflict, CancellationToken cancellationToken) =>
        await connection.ExecAsync(
            $"""
            INSERT INTO flows (id, org_id, provider, credential_id, scopes, state_hash, code_verifier, redirect_uri,
                transport, return_url, status, connection_id, granted_scopes, error, created_at, expires_at, completed_at, envelope_key, sign_in,
                parameters)
            VALUES (@Id, @OrgId, @Provider, @CredentialId, @Scopes, @StateHash, @CodeVerifier, @RedirectUri,
                @Transport, @ReturnUrl, @Status, @ConnectionId, @GrantedScopes, @Error, @CreatedAt, @ExpiresAt, @CompletedAt, @EnvelopeKey, @SignIn,
                @Parameters)
            {(ignoreEnvelopeConflict ? "ON CONFLICT (envelope_key) WHERE envelope_key IS NOT NULL DO NOTHING" : string.Empty)}
            """,
            new
            {
                flow.Id,
                flow.OrgId,
                flow.Provider,
                flow.CredentialId,
                Scopes = Sql.ToJson(flow.Scopes),
                flow.StateHash,
                CodeVerifier = vault.SealString(flow.CodeVerifier.Reveal(), Context(flow.Id)),
                flow.RedirectUri,
                Transport = flow.Transport == CallbackTransport.Loopback ? "loopback" : "gateway",
                flow.ReturnUrl,
                Status = StatusText(flow.Status),
                flow.ConnectionId,
                GrantedScopes = Sql.ToJson(flow.GrantedScopes),
                flow.Error,
                CreatedAt = Db.Time(createdAt),
                ExpiresAt = Db.Time(flow.ExpiresAt),
                CompletedAt = Db.Time(flow.CompletedAt),
                flow.EnvelopeKey,
                flow.SignIn,
                Parameters = Sql.ToJsonMap(flow.Parameters),
            },
            transaction, cancellationToken);

    public ValueTask<Flow?> FindAsync(string id, DateTimeOffset now, CancellationToken cancellationToken) =>
        FindWhereAsync("id = @key", id, now, cancellationToken);

    public ValueTask<Flow?> FindByStateAsync(string stateHash, DateTimeOffset now, CancellationToken cancellationToken) =>
        FindWhereAsync("state_hash = @key", stateHash, now, cancellationToken);

    public Task<Flow?> TryConsumeAsync(string stateHash, DateTimeOffset now, DateTimeOffset exchangeDeadline, CancellationToken cancellationToken) =>
        // One statement: of any number of racing callbacks exactly one sees the row come back.
        QueryOneAsync(
            """
            UPDATE flows SET status = 'exchanging', envelope_key = NULL, expires_at = CASE WHEN expires_at < @deadline THEN @deadline ELSE expires_at END
            WHERE state_hash = @stateHash AND status = 'pending' AND expires_at > @now RETURNING *
            """,
            new { stateHash, now = Db.Time(now), deadline = Db.Time(exchangeDeadline) }, Map, cancellationToken);

    public async Task<bool> RearmAsync(string id, string stateHash, Secret codeVerifier, string redirectUri, DateTimeOffset expiresAt,
        CancellationToken cancellationToken) =>
        await ExecAsync(
            """
            UPDATE flows SET state_hash = @stateHash, code_verifier = @verifier, redirect_uri = @redirectUri, expires_at = @expiresAt,
                status = 'pending', error = NULL, completed_at = NULL
            WHERE id = @id AND status IN ('pending', 'expired')
            """,
            new { id, stateHash, verifier = vault.SealString(codeVerifier.Reveal(), Context(id)), redirectUri, expiresAt = Db.Time(expiresAt) },
            cancellationToken) == 1;

    public Task CompleteAsync(string id, string connectionId, IReadOnlyList<string> grantedScopes, DateTimeOffset now, CancellationToken cancellationToken) =>
        ExecAsync(
            """
            UPDATE flows SET status = 'complete', envelope_key = NULL, connection_id = @connectionId, granted_scopes = @grantedScopes, completed_at = @now
            WHERE id = @id AND status IN ('pending', 'exchanging')
            """,
            new { id, connectionId, grantedScopes = Sql.ToJson(grantedScopes), now = Db.Time(now) }, cancellationToken);

    public Task FailAsync(string id, string error, DateTimeOffset now, CancellationToken cancellationToken) =>
        ExecAsync(
            "UPDATE flows SET status = 'error', envelope_key = NULL, error = @error, completed_at = @now WHERE id = @id AND status IN ('pending', 'exchanging')",
            new { id, error, now = Db.Time(now) }, cancellationToken);

    public async Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var touched = await SweepAsync(connection, transaction, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return touched;
    }

    private async Task<int> SweepAsync(System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var args = new { now = Db.Time(now), cutoff = Db.Time(now - Retention) };
        var expired = await connection.ExecAsync(
            "UPDATE flows SET status = 'expired', completed_at = expires_at WHERE status IN ('pending', 'exchanging') AND expires_at <= @now",
            args, transaction, cancellationToken);
        var deleted = await connection.ExecAsync(
            "DELETE FROM flows WHERE status IN ('complete', 'error', 'expired') AND COALESCE(completed_at, expires_at) < @cutoff",
            args, transaction, cancellationToken);
        return expired + deleted;
    }

    private async ValueTask<Flow?> FindWhereAsync(string where, string key, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        var flow = await connection.ReadOneAsync(Db, $"SELECT * FROM flows WHERE {where}", new { key }, null, Map, cancellationToken);
        if (flow is { Status: FlowStatus.Pending or FlowStatus.Exchanging } && flow.ExpiresAt <= now)
        {
            // Swept on read as well: stored as expired, so every node reports the same. Guarded on the status read, so a
            // flow finished meanwhile (or re-armed) is read again rather than misreported.
            var expired = await connection.ExecAsync(
                "UPDATE flows SET status = 'expired', completed_at = expires_at WHERE id = @Id AND status = @Status AND expires_at = @ExpiresAt",
                new { flow.Id, Status = StatusText(flow.Status), ExpiresAt = Db.Time(flow.ExpiresAt) }, null, cancellationToken);
            flow = expired == 1
                ? flow with { Status = FlowStatus.Expired, CompletedAt = flow.ExpiresAt }
                : await connection.ReadOneAsync(Db, "SELECT * FROM flows WHERE id = @Id", new { flow.Id }, null, Map, cancellationToken);
        }

        return flow;
    }

    private static SealContext Context(string id) => new("flows", id, "code_verifier");

    private static string StatusText(FlowStatus status) => status switch
    {
        FlowStatus.Pending => "pending",
        FlowStatus.Exchanging => "exchanging",
        FlowStatus.Complete => "complete",
        FlowStatus.Error => "error",
        FlowStatus.Expired => "expired",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    private static FlowStatus ParseStatus(string text) => text switch
    {
        "pending" => FlowStatus.Pending,
        "exchanging" => FlowStatus.Exchanging,
        "complete" => FlowStatus.Complete,
        "error" => FlowStatus.Error,
        "expired" => FlowStatus.Expired,
        _ => throw new InvalidOperationException($"Unknown flow status '{text}' in the database."),
    };

    private Flow Map(Row r)
    {
        var id = r.Str("id");
        return new Flow
        {
            Id = id,
            OrgId = r.Str("org_id"),
            Provider = r.Str("provider"),
            CredentialId = r.StrOrNull("credential_id"),
            Scopes = Sql.FromJson(r.Str("scopes")) ?? [],
            StateHash = r.Str("state_hash"),
            CodeVerifier = new Secret(vault.OpenString(r.Bytes("code_verifier"), Context(id))),
            RedirectUri = r.Str("redirect_uri"),
            Transport = r.Str("transport") == "loopback" ? CallbackTransport.Loopback : CallbackTransport.Gateway,
            ReturnUrl = r.StrOrNull("return_url"),
            EnvelopeKey = r.StrOrNull("envelope_key"),
            SignIn = r.Bool("sign_in"),
            Parameters = Sql.FromJsonMap(r.StrOrNull("parameters")),
            Status = ParseStatus(r.Str("status")),
            ConnectionId = r.StrOrNull("connection_id"),
            GrantedScopes = Sql.FromJson(r.StrOrNull("granted_scopes")),
            Error = r.StrOrNull("error"),
            CreatedAt = r.Time("created_at"),
            ExpiresAt = r.Time("expires_at"),
            CompletedAt = r.TimeOrNull("completed_at"),
        };
    }
}
