-- The row trigger of every watcher (extension/triggers.cpp).
CREATE FUNCTION @extschema@.ectowatch_row_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'ectowatch_row_trigger';
