"""The oracle: PostgreSQL's own record of what committed, per label.

For every watcher the checker creates, in the same transaction as
ectowatch_watch, a plain PL/pgSQL AFTER trigger with the documented semantics
of that watcher (op, condition, trigger_columns as IS DISTINCT FROM, TRUNCATE
for `deleted`), writing the row's columns as text into dc_audit. No
ectowatch code writes it, and it commits or rolls back with the change.
"""


def audit_setup(schema, tables):
    s = schema
    sql = ["CREATE TABLE %s.dc_audit (id bigserial PRIMARY KEY, label text, op text, xid xid8 DEFAULT pg_current_xact_id(), "
           "vals jsonb)" % s]
    for t in tables:
        for ref in ("NEW", "OLD"):
            obj = ", ".join("'%s', %s.%s::text" % (c.name, ref, c.name) for c in t.cols)
            sql.append(
                "CREATE FUNCTION %s.dc_aud_%s_%s() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
                "INSERT INTO %s.dc_audit (label, op, vals) VALUES (TG_ARGV[0], lower(TG_OP), jsonb_build_object(%s)); "
                "RETURN NULL; END $f$" % (s, t.name, ref.lower(), s, obj))
    sql.append("CREATE FUNCTION %s.dc_aud_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN "
               "INSERT INTO %s.dc_audit (label, op, vals) VALUES (TG_ARGV[0], 'truncate', NULL); RETURN NULL; END $f$"
               % (s, s))
    return sql


def audit_triggers(schema, w):
    """CREATE TRIGGER statements recording what watcher w promises to send."""
    t = w["table"]
    label = w["label"] or w["default_label"]
    event = {"inserted": "INSERT", "updated": "UPDATE", "deleted": "DELETE"}[w["op"]]
    ref = "old" if w["op"] == "deleted" else "new"
    parts = []
    if w.get("trigger_columns"):
        parts.append("(" + " OR ".join("OLD.%s IS DISTINCT FROM NEW.%s" % (c, c) for c in w["trigger_columns"]) + ")")
    if w.get("condition"):
        parts.append("(" + w["condition"] + ")")
    when = " WHEN (%s)" % " AND ".join(parts) if parts else ""
    out = ['CREATE TRIGGER "dc_%s" AFTER %s ON %s.%s FOR EACH ROW%s EXECUTE FUNCTION %s.dc_aud_%s_%s(%s)' % (
        label, event, schema, t.name, when, schema, t.name, ref, "'" + label + "'")]
    if w["op"] == "deleted":
        out.append('CREATE TRIGGER "dct_%s" AFTER TRUNCATE ON %s.%s FOR EACH STATEMENT EXECUTE FUNCTION '
                   "%s.dc_aud_truncate('%s')" % (label, schema, t.name, schema, label))
    return out


def drop_audit_triggers(schema, w):
    label = w["label"] or w["default_label"]
    out = ['DROP TRIGGER IF EXISTS "dc_%s" ON %s.%s' % (label, schema, w["table"].name)]
    if w["op"] == "deleted":
        out.append('DROP TRIGGER IF EXISTS "dct_%s" ON %s.%s' % (label, schema, w["table"].name))
    return out


def watch_call(schema, w):
    args = ["'%s.%s'" % (schema, w["table"].name), "'%s'" % w["op"]]
    if w["label"]:
        args.append("label => '%s'" % w["label"])
    for k in ("trigger_columns", "extra_columns", "key_columns"):
        if w.get(k):
            args.append("%s => ARRAY[%s]" % (k, ", ".join("'%s'" % c for c in w[k])))
    if w.get("condition"):
        args.append("condition => '%s'" % w["condition"].replace("'", "''"))
    if w["delivery"] != "notify":
        args.append("delivery => '%s'" % w["delivery"])
    return "SELECT ectowatch_watch(%s)" % ", ".join(args)
