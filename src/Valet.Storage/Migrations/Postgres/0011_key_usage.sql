-- When each API key was last used, to within a minute (KeyUsage records the first use of a key in each minute, per node).
-- In a table of its own, not api_keys.last_used_at: api_keys has a trigger that announces every change to every node,
-- which evicts the key from every cache; a usage stamp must not do that once a minute per key. No trigger here.
-- api_keys.last_used_at stays (never written) so that older readers of the column keep working.
CREATE TABLE api_key_usage (
    key_id        text        NOT NULL PRIMARY KEY REFERENCES api_keys (id) ON DELETE CASCADE,
    last_used_at  timestamptz NOT NULL
);
