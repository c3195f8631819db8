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
    -- Trigger arguments, layout 1 (extension/watcher_plan.hpp).
    SELECT string_agg(quote_literal(a), ', ' ORDER BY o) INTO trigger_args
      FROM unnest(ARRAY['1', label, cardinality(keys)::text] || keys || coalesce(extras, '{}'))
--@else
    -- Trigger arguments, layout 2 (extension/watcher_plan.hpp).
    SELECT string_agg(quote_literal(a), ', ' ORDER BY o) INTO trigger_args
      FROM unnest(ARRAY['2', label, delivery, cardinality(keys)::text] || keys || coalesce(extras, '{}'))
--@end
           WITH ORDINALITY AS x(a, o);
