--------------------------------------------------------------------------------
-- The catalog: one row per watcher. Kept by pg_dump (pg_extension_config_dump).
-- The trigger is what actually sends; this table says what exists. Both are
-- always changed together by ectowatch_watch/ectowatch_unwatch, and the event
-- triggers below keep the table in step when triggers or tables are dropped.
-- Columns added by an update come last here too, in the order the updates
-- added them, so a fresh install and an updated one have the same table.
--------------------------------------------------------------------------------
CREATE TABLE @extschema@.ectowatch_catalog (
    label           text PRIMARY KEY
                    CHECK (label ~ '^[A-Za-z_][A-Za-z0-9_]*$' AND octet_length(label) <= 48),
    table_name      regclass NOT NULL,
    op              text NOT NULL CHECK (op IN (@OPS@)),
    key_columns     text[] NOT NULL,
    extra_columns   text[],
    trigger_columns text[],
    condition       text,
    replicated      boolean NOT NULL DEFAULT false,
    -- every column the watcher relies on (keys, extras, trigger columns and
    -- the columns its condition reads): renaming or dropping one is refused
--@if < 0.2.0
    used_columns    text[] NOT NULL
--@else
    used_columns    text[] NOT NULL,
    delivery        text NOT NULL DEFAULT 'notify' CHECK (delivery IN (@DELIVERIES@))
--@end
);
--@if extension
SELECT pg_catalog.pg_extension_config_dump('@extschema@.ectowatch_catalog', '');
--@end

-- Table owners who are not superusers manage their own watchers: every role
-- may read the catalog, but may only change rows of tables it owns, and only
-- rows whose trigger exists (so a label cannot be squatted by hand); the
-- policies are in sql/policies/ectowatch_catalog.sql.
ALTER TABLE @extschema@.ectowatch_catalog ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.ectowatch_catalog TO PUBLIC;
