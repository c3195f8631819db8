-- The one place where the reserved labels are defined: ectowatch's own
-- channels begin with ectowatch_ and never end in _inserted, _updated or
-- _deleted (today only ectowatch_resync, on which every client listens for
-- "your messages may be lost"), in any letter case since an unquoted LISTEN
-- folds to lower case. The suffixes stay free so that the default label
-- <table>_<op> of a table named ectowatch_... keeps working.
CREATE FUNCTION @extschema@.ectowatch_label_reserved(label text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT starts_with(lower(label), 'ectowatch_') AND lower(label) !~ '_(inserted|updated|deleted)$' $$;
COMMENT ON FUNCTION @extschema@.ectowatch_label_reserved(text) IS
    'Internal: whether a label is one of ectowatch''s own channels, which watchers may not use';
