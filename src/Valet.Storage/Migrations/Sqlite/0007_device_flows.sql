-- Device authorization grant (RFC 8628) flows: the device code is sealed to its row and column like every secret;
-- only the SHA-256 of the CLI's handle is kept. Any node's poller claims a due flow by moving next_poll_at (a
-- compare-and-set, so two nodes never poll the same flow at once) and may finish it.

CREATE TABLE device_flows (
    id                         TEXT NOT NULL PRIMARY KEY,
    handle_hash                TEXT NOT NULL UNIQUE,
    org_id                     TEXT NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider                   TEXT NOT NULL,
    credential_id              TEXT,
    scopes                     TEXT,
    device_code                BLOB NOT NULL,
    user_code                  TEXT NOT NULL,
    verification_uri           TEXT NOT NULL,
    verification_uri_complete  TEXT,
    interval_seconds           INTEGER NOT NULL,
    next_poll_at               INTEGER NOT NULL,
    expires_at                 INTEGER NOT NULL,
    status                     TEXT NOT NULL,
    connection_id              TEXT,
    error                      TEXT,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
);
CREATE INDEX ix_device_flows_due ON device_flows (status, next_poll_at);
