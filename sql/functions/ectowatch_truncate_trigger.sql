-- The TRUNCATE trigger of every deleted watcher (extension/triggers.cpp).
CREATE FUNCTION @extschema@.ectowatch_truncate_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_truncate_trigger';
