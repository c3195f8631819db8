-- The version of the portable edition installed in this schema (the native
-- edition's is in pg_extension): what a later install upgrades from.
CREATE FUNCTION @extschema@.ectowatch_portable_version() RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT '@VERSION@'::text $$;
COMMENT ON FUNCTION @extschema@.ectowatch_portable_version() IS
    'The version of the portable edition of ectowatch (PL/pgSQL) installed in this schema';
