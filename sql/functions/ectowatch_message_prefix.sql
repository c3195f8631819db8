-- The portable edition's trigger functions start each message with this:
-- `{"v":1,"op":...,"table":...,"label":...,"key":[...],"rows":[`, as
-- extension/watcher_plan.cpp writes it. "table" is the watched table, also
-- for a partition's clone of its row trigger. As natively, a trigger sends
-- only for the watcher the catalog registers for this table and delivery:
-- NULL (with a warning, nothing is sent) for a label that is no watcher, an
-- error for a trigger attached by hand for another table's watcher.
CREATE FUNCTION @extschema@.ectowatch_message_prefix(relid oid, trigger_name name, watcher_label text, delivery text,
                                                     op text, keys text[])
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    watched oid := relid;
    parent oid;
    registered record;
    qualified text;
BEGIN
    SELECT t.tgparentid INTO parent FROM pg_trigger t WHERE t.tgrelid = relid AND t.tgname = trigger_name;
    WHILE parent IS NOT NULL AND parent <> 0 LOOP
        SELECT t.tgrelid, t.tgparentid INTO watched, parent FROM pg_trigger t WHERE t.oid = parent;
    END LOOP;
    SELECT format('%I.%I', n.nspname, c.relname) INTO qualified
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = watched;
    SELECT c.table_name, c.delivery INTO registered
      FROM @extschema@.ectowatch_catalog c WHERE c.label = watcher_label;
    IF NOT FOUND THEN
        RAISE WARNING 'ectowatch: trigger "%" on "%" sends for label "%", which is not a watcher '
                      '(not in ectowatch_watchers); no notification is sent', trigger_name, relid::regclass, watcher_label
            USING HINT = 'Drop it and call ectowatch_watch() instead.';
        RETURN NULL;
    END IF;
    IF registered.table_name::oid <> watched OR registered.delivery <> ectowatch_message_prefix.delivery THEN
        RAISE EXCEPTION 'ectowatch: trigger "%" on "%" names watcher "%", which watches % with delivery %',
              trigger_name, relid::regclass, watcher_label,
              coalesce((SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = registered.table_name),
                       'a table that no longer exists'), registered.delivery
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Only the triggers ectowatch_watch() creates for a watcher send on its label; this '
                                  'one was attached by hand (for %s, delivery %s).', qualified, delivery),
                  HINT = format('Drop the trigger (DROP TRIGGER %I ON %s) and watch this table with ectowatch_watch() '
                                'under a label of its own.', trigger_name, relid::regclass);
    END IF;
    RETURN '{"v":1,"op":"' || op || '","table":' || to_json(qualified)::text || ',"label":' || to_json(watcher_label)::text
           || ',"key":' || to_json(keys)::text || ',"rows":[';
END;
$$;
COMMENT ON FUNCTION @extschema@.ectowatch_message_prefix(oid, name, text, text, text, text[]) IS
    'Internal (portable edition): the start of a watcher''s messages, for its trigger';
