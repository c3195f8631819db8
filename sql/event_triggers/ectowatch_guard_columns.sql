-- See sql/functions/ectowatch_guard_columns.sql.
CREATE EVENT TRIGGER ectowatch_guard_columns ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION @extschema@.ectowatch_guard_columns();
