--@if native
-- Native (extension/condition_check.cpp).
CREATE FUNCTION @extschema@.ectowatch_check_condition(condition text) RETURNS void
    LANGUAGE c STABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'ectowatch_check_condition';
--@else
-- The portable edition cannot call the parser as the native edition does. It
-- makes sure the condition cannot end the WHEN (...) it is written into:
-- every quote, quoted identifier, dollar quote and comment closed, every
-- parenthesis closed after it opens, no `;` outside them. CREATE TRIGGER then
-- parses it as one expression, and refuses anything else
-- (fragments/condition_rejected.sql).
CREATE FUNCTION @extschema@.ectowatch_check_condition(condition text) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n int := length(condition);
    i int := 1;
    c text;
    depth int := 0;
    nested int;
    backslashes boolean;
    tag text;
    found int;
    problem text;
BEGIN
    IF condition IS NULL OR btrim(condition, E' \t\n\r\f') = '' THEN
        problem := 'it is empty';
    END IF;
    WHILE problem IS NULL AND i <= n LOOP
        c := substr(condition, i, 1);
        IF c = '''' THEN
            -- E'...' (and any string while standard_conforming_strings is off) takes backslash escapes.
            backslashes := current_setting('standard_conforming_strings') = 'off'
                           OR (i > 1 AND lower(substr(condition, i - 1, 1)) = 'e'
                               AND (i = 2 OR substr(condition, i - 2, 1) !~ '[A-Za-z0-9_$]'));
            -- (chr(92), E'\\' strings below: a backslash whatever standard_conforming_strings is)
            i := i + 1;
            LOOP
                IF i > n THEN
                    problem := 'a string is not closed';
                    EXIT;
                END IF;
                c := substr(condition, i, 1);
                IF backslashes AND c = chr(92) THEN
                    i := i + 2;
                ELSIF c = '''' AND substr(condition, i + 1, 1) = '''' THEN
                    i := i + 2;
                ELSIF c = '''' THEN
                    i := i + 1;
                    EXIT;
                ELSE
                    i := i + 1;
                END IF;
            END LOOP;
        ELSIF c = '"' THEN
            found := strpos(substr(condition, i + 1), '"');
            IF found = 0 THEN
                problem := 'a quoted name is not closed';
            END IF;
            i := i + found + 1;
        ELSIF c = '$' AND (i = 1 OR substr(condition, i - 1, 1) !~ '[A-Za-z0-9_$]')
              AND substr(condition, i) ~ E'^\\$([A-Za-z_][A-Za-z0-9_]*)?\\$' THEN
            tag := substring(substr(condition, i) FROM E'^(\\$(?:[A-Za-z_][A-Za-z0-9_]*)?\\$)');
            found := strpos(substr(condition, i + length(tag)), tag);
            IF found = 0 THEN
                problem := 'a dollar quote is not closed';
            END IF;
            i := i + length(tag) + found - 1 + length(tag);
        ELSIF c = '-' AND substr(condition, i + 1, 1) = '-' THEN
            -- to the end of the line, which the server's lexer ends at \n or \r
            WHILE i <= n AND substr(condition, i, 1) NOT IN (E'\n', E'\r') LOOP
                i := i + 1;
            END LOOP;
        ELSIF c = '/' AND substr(condition, i + 1, 1) = '*' THEN
            nested := 1;
            i := i + 2;
            WHILE nested > 0 LOOP
                IF i > n THEN
                    problem := 'a comment is not closed';
                    EXIT;
                ELSIF substr(condition, i, 2) = '/*' THEN
                    nested := nested + 1;
                    i := i + 2;
                ELSIF substr(condition, i, 2) = '*/' THEN
                    nested := nested - 1;
                    i := i + 2;
                ELSE
                    i := i + 1;
                END IF;
            END LOOP;
        ELSIF c = '(' THEN
            depth := depth + 1;
            i := i + 1;
        ELSIF c = ')' THEN
            depth := depth - 1;
            IF depth < 0 THEN
                problem := 'it closes a parenthesis it did not open';
            END IF;
            i := i + 1;
        ELSIF c = ';' THEN
            problem := 'it contains ";"';
        ELSE
            i := i + 1;
        END IF;
    END LOOP;
    IF problem IS NULL AND depth > 0 THEN
        problem := 'a parenthesis is not closed';
    END IF;
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'ectowatch_watch: condition is not one SQL expression: %', problem
            USING ERRCODE = 'syntax_error',
                  HINT = 'The condition is a boolean expression over OLD and NEW, as in CREATE TRIGGER ... WHEN (...).';
    END IF;
END;
$$;
--@end
COMMENT ON FUNCTION @extschema@.ectowatch_check_condition(text) IS
    'Raises an error unless the text is exactly one SQL expression (used by ectowatch_watch)';
