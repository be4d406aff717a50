-- Providers registered at run time (PUT /v1/providers/{id}, SPEC §13). `document` is the JSON as the operator sent it
-- (no secret: clients are registered as credentials); `resolved` is what discovery found at registration, so that no
-- node repeats it. Every committed change is announced on valet_changes as 'prov:' || id (the channel of migration
-- 0002), and each node's listener reloads its provider registry.

CREATE TABLE runtime_providers (
    id          text        NOT NULL PRIMARY KEY,
    document    text        NOT NULL,
    resolved    text,
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE FUNCTION valet_notify_runtime_provider_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('valet_changes', 'prov:' || OLD.id);
    ELSE
        PERFORM pg_notify('valet_changes', 'prov:' || NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER runtime_providers_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON runtime_providers
    FOR EACH ROW EXECUTE FUNCTION valet_notify_runtime_provider_change();
