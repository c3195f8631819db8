    -- CREATE OR REPLACE: a replaced watcher never has a moment without trigger.
    BEGIN
--@if < 0.4.0
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s FOR EACH ROW %s EXECUTE FUNCTION @extschema@.ectowatch_row_trigger(%s)',
                       trigger_name, event, tbl, when_clause, trigger_args);
--@else
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s %s %s EXECUTE FUNCTION @extschema@.ectowatch_row_trigger(%s)',
                       trigger_name, event, tbl, fires, when_clause, trigger_args);
--@end
--@include fragments/condition_rejected.sql
    EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl, CASE WHEN replicated THEN 'ALWAYS' ELSE '' END, trigger_name);
    IF op = 'deleted' THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.ectowatch_truncate_trigger(%s)',
                       trigger_name || '_tr', tbl, trigger_args);
        EXECUTE format('ALTER TABLE %s ENABLE %s TRIGGER %I', tbl, CASE WHEN replicated THEN 'ALWAYS' ELSE '' END, trigger_name || '_tr');
    END IF;
