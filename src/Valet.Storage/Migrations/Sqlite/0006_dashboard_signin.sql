-- Dashboard sign-in. Single-use sign-in links (`valet dashboard`, `valet demo`): only the SHA-256 of the link's token is kept; a
-- use deletes the row (DELETE … RETURNING: one statement, so two concurrent uses cannot both succeed).

CREATE TABLE signin_links (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    operator    TEXT    NOT NULL,
    return_path TEXT    NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX ix_signin_links_expires ON signin_links (expires_at);

-- A flow started by "Sign in with <provider>": its completion checks the operator allow-list and sets the default connection.
ALTER TABLE flows ADD COLUMN sign_in INTEGER NOT NULL DEFAULT 0;
