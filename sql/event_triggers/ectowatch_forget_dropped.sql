-- Keeping the catalog in step with DDL: sql/functions/ectowatch_forget_dropped.sql.
CREATE EVENT TRIGGER ectowatch_forget_dropped ON sql_drop
    EXECUTE FUNCTION @extschema@.ectowatch_forget_dropped();
