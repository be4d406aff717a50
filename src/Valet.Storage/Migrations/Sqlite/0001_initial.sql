-- Valet schema v1 (SQLite). Timestamps are INTEGER unix milliseconds (UTC); sealed secrets are BLOBs
-- (vault format: 0x01 | kid length | kid | nonce | ciphertext+tag); JSON columns are TEXT.

CREATE TABLE orgs (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    headless    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE credentials (
    id             TEXT    NOT NULL PRIMARY KEY,
    org_id         TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider       TEXT    NOT NULL,
    client_id      TEXT    NOT NULL,
    client_secret  BLOB,
    created_at     INTEGER NOT NULL
);
CREATE INDEX ix_credentials_org ON credentials (org_id);

CREATE TABLE connections (
    id                 TEXT    NOT NULL PRIMARY KEY,
    org_id             TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider           TEXT    NOT NULL,
    credential_id      TEXT    REFERENCES credentials (id) ON DELETE RESTRICT,
    account_id         TEXT    NOT NULL,
    account_login      TEXT,
    account_email      TEXT,
    scopes             TEXT,
    access_token       BLOB    NOT NULL,
    refresh_token      BLOB,
    token_type         TEXT    NOT NULL,
    expires_at         INTEGER,
    status             TEXT    NOT NULL,
    status_reason      TEXT,
    api_base_url       TEXT,
    version            INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    last_refreshed_at  INTEGER,
    next_refresh_at    INTEGER,
    refresh_failures   INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_connections_account ON connections (org_id, provider, account_id);
CREATE INDEX ix_connections_credential ON connections (credential_id);
CREATE INDEX ix_connections_next_refresh ON connections (next_refresh_at) WHERE next_refresh_at IS NOT NULL;

CREATE TABLE org_default_connections (
    org_id         TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider       TEXT NOT NULL,
    connection_id  TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, provider)
);
CREATE INDEX ix_org_default_connections_connection ON org_default_connections (connection_id);

CREATE TABLE flows (
    id              TEXT    NOT NULL PRIMARY KEY,
    org_id          TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider        TEXT    NOT NULL,
    credential_id   TEXT,
    scopes          TEXT    NOT NULL,
    state_hash      TEXT    NOT NULL,
    code_verifier   BLOB    NOT NULL,
    redirect_uri    TEXT    NOT NULL,
    transport       TEXT    NOT NULL,
    return_url      TEXT,
    status          TEXT    NOT NULL,
    connection_id   TEXT,
    granted_scopes  TEXT,
    error           TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    completed_at    INTEGER
);
CREATE UNIQUE INDEX ux_flows_state_hash ON flows (state_hash);
CREATE INDEX ix_flows_expires_at ON flows (expires_at);

CREATE TABLE api_keys (
    id            TEXT    NOT NULL PRIMARY KEY,
    org_id        TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    prefix        TEXT    NOT NULL,
    hash          BLOB    NOT NULL,
    permissions   TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE UNIQUE INDEX ux_api_keys_prefix ON api_keys (prefix);
CREATE INDEX ix_api_keys_org ON api_keys (org_id);

CREATE TABLE targets (
    id               TEXT    NOT NULL PRIMARY KEY,
    org_id           TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    connection_id    TEXT    NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    provider         TEXT    NOT NULL,
    managed          INTEGER NOT NULL,
    base_url         TEXT    NOT NULL,
    required_scopes  TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX ux_targets_connection_name ON targets (connection_id, name);
CREATE INDEX ix_targets_org ON targets (org_id);

CREATE TABLE audit_events (
    id             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    org_id         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    key_id         TEXT,
    connection_id  TEXT,
    target_id      TEXT,
    method         TEXT,
    path           TEXT,
    status         INTEGER,
    duration_ms    INTEGER,
    bytes_in       INTEGER,
    bytes_out      INTEGER,
    detail         TEXT,
    at             INTEGER NOT NULL
);
CREATE INDEX ix_audit_events_org_id ON audit_events (org_id, id);

CREATE TABLE vault_meta (
    key    TEXT NOT NULL PRIMARY KEY,
    value  BLOB NOT NULL
);
