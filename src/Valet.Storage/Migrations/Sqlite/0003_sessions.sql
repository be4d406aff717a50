-- Operator dashboard sessions (a row per signed-in browser; sign-out deletes it) and the ASP.NET Core Data Protection
-- key ring that encrypts their cookies, kept here so every node reads every node's cookies. The key XML is sealed
-- by the vault (table data_protection_keys, column xml, row = the key's name).

CREATE TABLE sessions (
    id          TEXT    NOT NULL PRIMARY KEY,
    org_id      TEXT    NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    operator    TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX ix_sessions_expires ON sessions (expires_at);

CREATE TABLE data_protection_keys (
    name        TEXT    NOT NULL PRIMARY KEY,
    xml         BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
);
