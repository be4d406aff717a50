-- When each API key was last used, to within a minute (KeyUsage records the first use of a key in each minute). In a table
-- of its own, as on PostgreSQL (where api_keys announces every change to every node's cache); see that script.
CREATE TABLE api_key_usage (
    key_id        TEXT    NOT NULL PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    last_used_at  INTEGER NOT NULL
);
