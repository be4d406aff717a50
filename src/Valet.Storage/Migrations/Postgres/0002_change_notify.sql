-- Cross-node cache invalidation: every committed change to an API key or a connection is announced on the channel
-- valet_changes ('key:' || prefix, 'conn:' || id). Each node's ChangeListener LISTENs and evicts its cached copy.
-- NOTIFY is transactional: it is delivered at commit, never for a rolled-back write, and duplicates within one
-- transaction collapse into one.

CREATE FUNCTION valet_notify_api_key_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('valet_changes', 'key:' || OLD.prefix);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.prefix IS DISTINCT FROM OLD.prefix) THEN
        PERFORM pg_notify('valet_changes', 'key:' || NEW.prefix);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION valet_notify_connection_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('valet_changes', 'conn:' || OLD.id);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id) THEN
        PERFORM pg_notify('valet_changes', 'conn:' || NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION valet_notify_api_key_change();

CREATE TRIGGER connections_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION valet_notify_connection_change();
