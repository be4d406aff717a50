-- Providers registered at run time (PUT /v1/providers/{id}, SPEC §13). `document` is the JSON as the operator sent it
-- (no secret: clients are registered as credentials); `resolved` is what discovery found at registration, so that no
-- node repeats it. SQLite serves one process, which reloads its registry itself on every write.

CREATE TABLE runtime_providers (
    id          TEXT    NOT NULL PRIMARY KEY,
    document    TEXT    NOT NULL,
    resolved    TEXT,
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
