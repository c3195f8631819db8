-- The portable edition's one way out for a finished message: NOTIFY on the
-- watcher's channel, or for delivery 'durable' a transactional logical
-- message with the native edition's prefix (unsigned: the client reads it
-- through pgoutput). Both are sent only if the transaction commits.
CREATE FUNCTION @extschema@.ectowatch_send(delivery text, channel text, payload text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF delivery = 'durable' THEN
        PERFORM pg_logical_emit_message(true, 'ectowatch', payload);
    ELSE
        PERFORM pg_notify(channel, payload);
    END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_send(text, text, text) IS
    'Internal (portable edition): sends one message of a watcher';
