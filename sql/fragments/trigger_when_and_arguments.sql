    -- The WHEN clause: evaluated by PostgreSQL before the trigger function runs.
    IF trigger_columns IS NOT NULL THEN
        when_parts := when_parts || (SELECT '(' || string_agg(format('OLD.%1$I IS DISTINCT FROM NEW.%1$I', c), ' OR ') || ')'
                                       FROM unnest(trigger_columns) c);
    END IF;
    IF condition IS NOT NULL THEN
        PERFORM @extschema@.ectowatch_check_condition(condition);
        when_parts := when_parts || ('(' || condition || E'\n)');
    END IF;
    IF cardinality(when_parts) > 0 THEN
        when_clause := 'WHEN (' || array_to_string(when_parts, ' AND ') || ')';
    END IF;

--@if < 0.2.0
    -- Trigger arguments, layout 1 (extension/watcher_plan.cpp).
    SELECT string_agg(quote_literal(a), ', ' ORDER BY o) INTO trigger_args
      FROM unnest(ARRAY['1', label, cardinality(keys)::text] || keys || coalesce(extras, '{}'))
           WITH ORDINALITY AS x(a, o);
--@else
--@if < 0.5.0
    -- Trigger arguments, layout 2 (extension/watcher_plan.cpp).
    SELECT string_agg(quote_literal(a), ', ' ORDER BY o) INTO trigger_args
      FROM unnest(ARRAY['2', label, delivery, cardinality(keys)::text] || keys || coalesce(extras, '{}'))
           WITH ORDINALITY AS x(a, o);
--@else
    -- Trigger arguments, layout 3 (extension/watcher_plan.cpp): two of them,
    -- '3' followed by the array literal of the delivery, N, the N key columns
    -- and the extra columns, then the label. PostgreSQL copies every argument
    -- of every trigger of a table at the start of each statement on it (1,400
    -- CPU instructions per single-row INSERT for a table watched for inserts,
    -- updates and deletes, in layout 2's one argument per value), so the
    -- values go in one.
    trigger_args := quote_literal('3' || (ARRAY[delivery, cardinality(keys)::text] || keys || coalesce(extras, '{}'))::text)
                    || ', ' || quote_literal(label);
--@end
--@end
