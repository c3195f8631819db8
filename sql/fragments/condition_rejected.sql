    EXCEPTION WHEN syntax_error_or_access_rule_violation OR feature_not_supported OR datatype_mismatch THEN
        -- Only the condition can make a well-formed CREATE TRIGGER fail this way.
        IF condition IS NULL THEN
            RAISE;
        END IF;
        DECLARE
            state text;
            message text;
        BEGIN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
            RAISE EXCEPTION 'ectowatch_watch: condition rejected: %', message
                USING ERRCODE = state,
                      HINT = 'The condition is a boolean expression over OLD and NEW (OLD only in updated and '
                             'deleted watchers, NEW only in inserted and updated ones), without subqueries; '
                             'names are resolved with search_path = pg_catalog, so qualify your own functions.';
        END;
    END;
