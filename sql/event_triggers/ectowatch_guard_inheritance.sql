-- See sql/functions/ectowatch_guard_inheritance.sql.
CREATE EVENT TRIGGER ectowatch_guard_inheritance ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'CREATE TABLE')
    EXECUTE FUNCTION @extschema@.ectowatch_guard_inheritance();
