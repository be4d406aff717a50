-- Valet schema v1 (PostgreSQL). Timestamps are timestamptz (UTC, millisecond precision by convention); sealed secrets are bytea
-- (vault format: 0x01 | kid length | kid | nonce | ciphertext+tag); JSON columns are text.

CREATE TABLE orgs (
    id          text    NOT NULL PRIMARY KEY,
    name        text    NOT NULL,
    headless    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);

CREATE TABLE credentials (
    id             text    NOT NULL PRIMARY KEY,
    org_id         text    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider       text    NOT NULL,
    client_id      text    NOT NULL,
    client_secret  bytea,
    created_at     timestamptz NOT NULL
);
CREATE INDEX ix_credentials_org ON credentials (org_id);

CREATE TABLE connections (
    id                 text    NOT NULL PRIMARY KEY,
    org_id             text    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider           text    NOT NULL,
    credential_id      text    REFERENCES credentials (id) ON DELETE RESTRICT,
    account_id         text    NOT NULL,
    account_login      text,
    account_email      text,
    scopes             text,
    access_token       bytea   NOT NULL,
    refresh_token      bytea,
    token_type         text    NOT NULL,
    expires_at         timestamptz,
    status             text    NOT NULL,
    status_reason      text,
    api_base_url       text,
    version            bigint  NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    last_refreshed_at  timestamptz,
    next_refresh_at    timestamptz,
    refresh_failures   integer NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_connections_account ON connections (org_id, provider, account_id);
CREATE INDEX ix_connections_credential ON connections (credential_id);
CREATE INDEX ix_connections_next_refresh ON connections (next_refresh_at) WHERE next_refresh_at IS NOT NULL;

CREATE TABLE org_default_connections (
    org_id         text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider       text NOT NULL,
    connection_id  text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, provider)
);
CREATE INDEX ix_org_default_connections_connection ON org_default_connections (connection_id);

CREATE TABLE flows (
    id              text    NOT NULL PRIMARY KEY,
    org_id          text    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider        text    NOT NULL,
    credential_id   text,
    scopes          text    NOT NULL,
    state_hash      text    NOT NULL,
    code_verifier   bytea   NOT NULL,
    redirect_uri    text    NOT NULL,
    transport       text    NOT NULL,
    return_url      text,
    status          text    NOT NULL,
    connection_id   text,
    granted_scopes  text,
    error           text,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    completed_at    timestamptz
);
CREATE UNIQUE INDEX ux_flows_state_hash ON flows (state_hash);
CREATE INDEX ix_flows_expires_at ON flows (expires_at);

CREATE TABLE api_keys (
    id            text    NOT NULL PRIMARY KEY,
    org_id        text    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name          text    NOT NULL,
    prefix        text    NOT NULL,
    hash          bytea   NOT NULL,
    permissions   text    NOT NULL,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE UNIQUE INDEX ux_api_keys_prefix ON api_keys (prefix);
CREATE INDEX ix_api_keys_org ON api_keys (org_id);

CREATE TABLE targets (
    id               text    NOT NULL PRIMARY KEY,
    org_id           text    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    connection_id    text    NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    name             text    NOT NULL,
    provider         text    NOT NULL,
    managed          boolean NOT NULL,
    base_url         text    NOT NULL,
    required_scopes  text    NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX ux_targets_connection_name ON targets (connection_id, name);
CREATE INDEX ix_targets_org ON targets (org_id);

CREATE TABLE audit_events (
    id             bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id         text    NOT NULL,
    kind           text    NOT NULL,
    key_id         text,
    connection_id  text,
    target_id      text,
    method         text,
    path           text,
    status         integer,
    duration_ms    bigint,
    bytes_in       bigint,
    bytes_out      bigint,
    detail         text,
    at             timestamptz NOT NULL
);
CREATE INDEX ix_audit_events_org_id ON audit_events (org_id, id);

CREATE TABLE vault_meta (
    key    text NOT NULL PRIMARY KEY,
    value  bytea NOT NULL
);
