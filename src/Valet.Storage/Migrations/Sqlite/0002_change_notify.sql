-- Intentionally empty: the PostgreSQL script of this number adds LISTEN/NOTIFY triggers for cross-node cache
-- invalidation. SQLite serves one process, whose stores invalidate their cache themselves (see docs/storage.md);
-- the script exists so that both backends keep the same migration numbers.
SELECT 1;
