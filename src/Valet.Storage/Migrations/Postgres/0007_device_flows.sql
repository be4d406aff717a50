-- Device authorization grant (RFC 8628) flows: the device code is sealed to its row and column like every secret;
-- only the SHA-256 of the CLI's handle is kept. Any node's poller claims a due flow by moving next_poll_at (a
-- compare-and-set, so two nodes never poll the same flow at once) and may finish it.

CREATE TABLE device_flows (
    id                         text NOT NULL PRIMARY KEY,
    handle_hash                text NOT NULL UNIQUE,
    org_id                     text NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    provider                   text NOT NULL,
    credential_id              text,
    scopes                     text,
    device_code                bytea NOT NULL,
    user_code                  text NOT NULL,
    verification_uri           text NOT NULL,
    verification_uri_complete  text,
    interval_seconds           integer NOT NULL,
    next_poll_at               timestamptz NOT NULL,
    expires_at                 timestamptz NOT NULL,
    status                     text NOT NULL,
    connection_id              text,
    error                      text,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);
CREATE INDEX ix_device_flows_due ON device_flows (status, next_poll_at);
