"""Random cases of the differential checker: schema, watchers, workload.

Everything here is a pure function of (seed, case number, excluded features):
a case is plain SQL text (DDL, ectowatch_watch calls, transactions), so a
failure prints as a script anyone can replay with psql.
"""
import random

# Feature families the generator can switch off (--without a,b). The reason
# is printed with every run, so a green run says what it did not test.
FEATURES = {
    "bignum": "JSON numbers beyond a double ({\"n\":1e400}): issue 14 case 1",
    "near_collision_labels": "labels like xa / xa_tr on one table: issue 14 case 2",
    "relay": "delivery => 'relay': issue 14 cases 6-8",
    "forged": "NOTIFY <label> with a made-up v1 message from an unprivileged role: issue 14 case 9",
    "durable": "delivery => 'durable' and the slot readers",
    "huge": "values beyond a message (truncated / dropped)",
    "restart": "server restarts during the workload",
    "concurrency": "concurrent sessions",
    "prepare": "PREPARE TRANSACTION / COMMIT PREPARED",
    "merge": "MERGE",
    "copy": "COPY FROM STDIN",
    "truncate": "TRUNCATE",
    "cascade": "foreign keys with ON DELETE CASCADE",
    "partition": "hash-partitioned tables",
    "nopk": "tables without a primary key (key_columns)",
    "json": "json / jsonb columns",
    "arrays": "array columns",
    "enum_domain": "enum and domain columns",
    "toggle": "unwatch / watch again while writing",
    "condition": "watcher conditions",
    "control_chars": "control characters in text",
    "nonascii": "non-ASCII text",
    # Issue 14 cases 3-8, drawn from a random stream of their own (Gen.r2), so
    # the cases of every seed above stay exactly what they were.
    "race": "two sessions racing ectowatch_watch for one label on two tables: issue 14 case 3",
    "latin1": "the case runs in a LATIN1 database (relayed too): issue 14 case 5",
    "relay_dbs": "the case runs in another relayed database (several relay workers): issue 14 case 6",
    "first_start": "the relay's first start: the case's database is added to ectowatch.relay_databases just "
                   "before its watchers and writes, with no relay slot yet: issue 14 case 7",
    "soak": "a relay soak: 2-3 sessions commit a few hundred small transactions back to back: issue 14 case 8",
}

# The databases `run` creates, all in ectowatch.relay_databases.
DATABASES = {"default": "dcheck", "latin1": "dcheck_latin1", "relay_dbs": "dcheck_2", "first_start": "dcheck_fresh"}


def lit_text(s):
    """A SQL string literal for any text without NUL."""
    if all(32 <= ord(c) < 127 or ord(c) > 159 for c in s) and "\\" not in s:
        return "'" + s.replace("'", "''") + "'"
    out = []
    for c in s:
        o = ord(c)
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("''")
        elif o < 32 or 127 <= o <= 159:
            out.append("\\x%02x" % o if o < 256 else c)
        else:
            out.append(c)
    return "E'" + "".join(out) + "'"


class HugeText:
    def __init__(self, char, count):
        self.char, self.count = char, count


class Col:
    def __init__(self, name, typ, kind):
        self.name, self.typ, self.kind = name, typ, kind  # kind: how values compare


class Table:
    def __init__(self, name):
        self.name = name
        self.cols = []
        self.pk = []  # column names; [] = no primary key
        self.partitioned = False
        self.parent = None  # (table, column) for ON DELETE CASCADE
        self.keyseq = 0
        self.keys_issued = []

    def col(self, name):
        return next(c for c in self.cols if c.name == name)


class Gen:
    def __init__(self, seed, case, without):
        self.r = random.Random("%s:%s" % (seed, case))
        self.case = case
        self.without = set(without)
        self.schema = "dc%d" % case
        # The families of issue 14 cases 3-8 draw from here, never from self.r.
        self.r2 = random.Random("%s:%s:families" % (seed, case))
        self.database = DATABASES["default"]
        self.latin1 = False
        self.first_start = False
        relay = "relay" not in self.without
        x = self.r2.random()
        if x < 0.12 and relay and "first_start" not in self.without:
            self.database, self.first_start = DATABASES["first_start"], True
        elif x < 0.30 and "latin1" not in self.without:
            self.database, self.latin1 = DATABASES["latin1"], True
        elif x < 0.45 and relay and "relay_dbs" not in self.without:
            self.database = DATABASES["relay_dbs"]

    def on(self, feature, p=1.0):
        return feature not in self.without and self.r.random() < p

    # --- values --------------------------------------------------------------
    def text_value(self, huge_ok):
        r = self.r
        choices = ["plain", "empty", "quote", "space"]
        if self.on("nonascii"):
            choices += ["nonascii", "nonascii"]
        if self.on("control_chars"):
            choices += ["control"]
        if huge_ok and self.on("huge", 0.5):
            choices += ["huge"]
        k = r.choice(choices)
        if k == "plain":
            return "v%d" % r.randrange(1000)
        if k == "empty":
            return ""
        if k == "quote":
            return "it's \"q\" \\ back"
        if k == "space":
            return " lead and trail "
        if k == "nonascii":
            if self.latin1:  # only what LATIN1 can hold
                return r.choice(["café", "¿qué? ñ", "£5 ±2 µ", "Ünïcödé ß", "\u00a0nbsp", "Ø þ ð æ"])
            return r.choice(["café", "日本語", "🙂 emoji", "Ünïcödé ß", "\u00a0nbsp", "ĳ\u200bzero-width"])
        if k == "control":
            return r.choice(["tab\there", "line\nbreak", "bell\x07", "esc\x1b[0m", "cr\r\n", "del\x7f", "\x01\x02\x1f"])
        return HugeText(r.choice(["x", "é", "ñ" if self.latin1 else "日"]), r.choice([3000, 8200, 20000]))

    def value(self, col, huge_ok=True):
        """A SQL literal (cast) or NULL for one column."""
        r = self.r
        if r.random() < 0.12:
            return "NULL::%s" % self.qtype(col.typ)
        t = col.typ
        if t in ("int2", "int4", "int8", "posint"):
            ext = {"int2": [32767, -32768], "int4": [2147483647, -2147483648],
                   "int8": [9223372036854775807, -9223372036854775808], "posint": [0, 2147483647]}[t]
            v = r.choice(ext + [0, 1, -1, r.randrange(-1000, 1000)])
            if t == "posint":
                v = abs(v) if v != -2147483648 else 5
            return "'%d'::%s" % (v, self.qtype(t))
        if t == "numeric":
            v = r.choice(["0", "-0.000001", "1e100", "NaN", "123456789012345678901234567890.123456789",
                          "-99999999999999999999", str(r.randrange(10**6))])
            if self.on("huge", 0.1):
                return "repeat('9', 5000)::numeric"
            return "'%s'::numeric" % v
        if t == "float8":
            return "'%s'::float8" % r.choice(["0.1", "NaN", "Infinity", "-Infinity", "1e308", "-0", "5e-324", "3.14159"])
        if t == "bool":
            return r.choice(["true", "false"])
        if t in ("text", "dtext"):
            v = self.text_value(huge_ok)
            if isinstance(v, HugeText):
                return "repeat('%s', %d)::%s" % (v.char, v.count, self.qtype(t))
            return "%s::%s" % (lit_text(v), self.qtype(t))
        if t in ("json", "jsonb"):
            opts = ['{"a":1}', '[1,"x",null,true]', '"str"', '{"nested":{"k":[1,2,{"z":"é"}]}}', "12.5",
                    '{"big":12345678901234567890}', '{"neg":-9223372036854775808}', "{}"]
            if self.on("bignum"):
                opts += ['{"n":1e400}', '{"n":-1e400}', '[1e999, 2]', '{"n":123456789012345678901234567890123}']
            v = r.choice(opts)
            if huge_ok and self.on("huge", 0.15):
                return "('{\"blob\":\"' || repeat('y', 9000) || '\"}')::%s" % t
            return "%s::%s" % (lit_text(v), t)
        if t == "int4[]":
            return "'%s'::int4[]" % r.choice(["{}", "{1,2,3}", "{NULL,-1}", "{2147483647}"])
        if t == "text[]":
            return "%s::text[]" % lit_text(r.choice(['{}', '{"a b",c}', '{NULL,"q\\"uote"}',
                                                     '{é,ñü}' if self.latin1 else '{é,日本}']))
        if t == "mood":
            return "'%s'::%s" % (r.choice(["sad", "ok", "happy", "ünï"]), self.qtype(t))
        if t == "uuid":
            return "'%08x-0000-4000-8000-%012x'::uuid" % (r.randrange(2**32), r.randrange(2**48))
        raise ValueError(t)

    def qtype(self, t):
        if t == "mood":
            return "%s.mood" % self.schema
        return "%s.%s" % (self.schema, t) if t in ("posint", "dtext", "mood") else t

    def key_value(self, table, col):
        """A literal for a key column, new (mostly unique) or issued before."""
        table.keyseq += 1
        n = table.keyseq
        t = col.typ
        if t in ("int4", "int8", "posint", "int2"):
            if n == 3 and t in ("int4", "int8"):
                v = 2147483647 if t == "int4" else 9223372036854775807
            elif n == 5 and t in ("int4", "int8"):
                v = -2147483648 if t == "int4" else -9223372036854775808
            else:
                v = n * 7
            return "'%d'::%s" % (v, self.qtype(t))
        if t in ("text", "dtext"):
            s = self.r.choice(["k%d", "ké%d", "k'%d", "K %d", "ñ%d" if self.latin1 else "日%d"]) % n
            if self.on("control_chars", 0.2):
                s += "\t\n"
            return "%s::%s" % (lit_text(s), self.qtype(t))
        if t == "numeric":
            return "'%d.%d'::numeric" % (n, self.r.randrange(100))
        if t == "uuid":
            return "'%08x-0000-4000-8000-%012x'::uuid" % (n, self.r.randrange(2**48))
        raise ValueError(t)

    # --- schema ----------------------------------------------------------------
    def schema_case(self):
        r = self.r
        s = self.schema
        ddl = ["CREATE SCHEMA %s" % s]
        if self.on("enum_domain"):
            ddl.append("CREATE TYPE %s.mood AS ENUM ('sad', 'ok', 'happy', 'ünï')" % s)
            ddl.append("CREATE DOMAIN %s.posint AS int4 CHECK (VALUE >= 0)" % s)
            ddl.append("CREATE DOMAIN %s.dtext AS text" % s)
        value_types = ["int4", "int8", "text", "numeric", "float8", "bool", "uuid", "text"]
        if self.on("json"):
            value_types += ["json", "jsonb", "jsonb"]
        if self.on("arrays"):
            value_types += ["int4[]", "text[]"]
        if self.on("enum_domain"):
            value_types += ["mood", "posint", "dtext"]
        key_types = ["int4", "int8", "text", "uuid", "numeric"]
        if self.on("enum_domain"):
            key_types += ["dtext"]
        tables = []
        for i in range(r.randint(1, 3)):
            t = Table("t%d" % i)
            nkeys = 2 if r.random() < 0.3 else 1
            for k in range(nkeys):
                t.cols.append(Col("k%d" % k, r.choice(key_types), "key"))
            for v in range(r.randint(1, 4)):
                t.cols.append(Col("c%d" % v, r.choice(value_types), "val"))
            t.pk = [c.name for c in t.cols if c.kind == "key"]
            if self.on("nopk", 0.2):
                t.pk = []
                t.cols.append(Col("big", "text", "val"))
            elif self.on("partition", 0.25):
                t.partitioned = True
            if i > 0 and self.on("cascade", 0.4) and len(tables[0].pk) >= 1 and not t.partitioned:
                p = tables[0]
                pcol = p.col(p.pk[0])
                t.cols.append(Col("ref", pcol.typ, "val"))
                t.parent = (p, pcol.name, len(p.pk) == 1)
            tables.append(t)
        for t in tables:
            cols = ", ".join('%s %s' % (c.name, self.qtype(c.typ)) for c in t.cols)
            pk = ", PRIMARY KEY (%s)" % ", ".join(t.pk) if t.pk else ""
            fk = ""
            if t.parent and t.parent[2]:
                fk = ", FOREIGN KEY (ref) REFERENCES %s.%s (%s) ON DELETE CASCADE ON UPDATE CASCADE" % (
                    s, t.parent[0].name, t.parent[1])
            part = " PARTITION BY HASH (%s)" % t.pk[0] if t.partitioned else ""
            ddl.append("CREATE TABLE %s.%s (%s%s%s)%s" % (s, t.name, cols, pk, fk, part))
            if t.partitioned:
                for m in range(2):
                    ddl.append("CREATE TABLE %s.%s_p%d PARTITION OF %s.%s FOR VALUES WITH (MODULUS 2, REMAINDER %d)"
                               % (s, t.name, m, s, t.name, m))
        self.tables = tables
        return ddl

    # --- watchers ------------------------------------------------------------------
    def watchers_case(self):
        r = self.r
        ws = []
        used = set()
        deliveries = ["notify", "notify"]
        if self.on("durable"):
            deliveries.append("durable")
        if self.on("relay"):
            deliveries.append("relay")
        n = r.randint(1, 5)
        for i in range(n):
            t = r.choice(self.tables)
            op = r.choice(["inserted", "updated", "deleted"])
            label = r.choice(["w%d_%d" % (self.case, i), "W%dx%d" % (self.case, i), "lbl_%d_%d_%s" % (self.case, i, op)])
            w = {"table": t, "op": op, "label": label, "delivery": r.choice(deliveries)}
            vals = [c.name for c in t.cols if c.kind == "val"]
            if op == "updated" and r.random() < 0.35:
                w["trigger_columns"] = r.sample(vals, r.randint(1, len(vals)))
            if r.random() < 0.6:
                w["extra_columns"] = r.sample([c.name for c in t.cols], r.randint(1, len(t.cols)))
            if not t.pk:
                w["key_columns"] = ["big"] if r.random() < 0.5 else [vals[0]]
            elif r.random() < 0.1:
                w["key_columns"] = [vals[0]]
            if self.on("condition", 0.3):
                c = r.choice(t.cols)
                ref = "OLD" if op == "deleted" else "NEW"
                conds = ["%s.%s IS NOT NULL" % (ref, c.name), "%s.%s IS NULL" % (ref, c.name)]
                if c.typ in ("int4", "int8", "int2", "posint"):
                    conds.append("%s.%s %% 2 = 0" % (ref, c.name))
                if op == "updated":
                    conds.append("OLD.%s IS DISTINCT FROM NEW.%s" % (c.name, c.name))
                w["condition"] = r.choice(conds)
            if label not in used:
                used.add(label)
                ws.append(w)
        if self.on("near_collision_labels", 0.5):
            t = r.choice(self.tables)
            base = "x%d" % self.case
            ops = r.sample(["inserted", "updated", "deleted"], 2)
            d = r.choice(deliveries)
            ws.append({"table": t, "op": ops[0], "label": base, "delivery": d})
            ws.append({"table": t, "op": ops[1], "label": base + "_tr", "delivery": d})
        if r.random() < 0.15:  # the default label
            t = r.choice(self.tables)
            op = r.choice(["inserted", "updated", "deleted"])
            label = "%s_%s" % (t.name, op)
            if label not in used:
                ws.append({"table": t, "op": op, "label": None, "default_label": label, "delivery": "notify"})
        self.watchers = ws
        return ws

    # --- workload --------------------------------------------------------------------
    def full_row(self, t, huge_ok=True):
        vals = []
        for c in t.cols:
            if c.kind == "key":
                v = self.key_value(t, c)
            elif c.name == "ref" and t.parent:
                p = t.parent[0]
                v = self.r.choice(p.keys_issued)[0] if p.keys_issued and self.r.random() < 0.8 else "NULL::%s" % self.qtype(p.col(t.parent[1]).typ)
            else:
                v = self.value(c, huge_ok)
            vals.append(v)
        if t.pk:
            t.keys_issued.append([vals[i] for i, c in enumerate(t.cols) if c.kind == "key"])
        return vals

    def q(self, t):
        return "%s.%s" % (self.schema, t.name)

    def some_rows(self, t, n):
        """A predicate choosing up to n existing rows, valid for every table kind."""
        order = ", ".join(c.name for c in t.cols if c.kind == "key")
        keys = "(%s)" % order
        return "%s IN (SELECT %s FROM %s ORDER BY %s LIMIT %d)" % (keys, order, self.q(t), order, n)

    def statement(self, t):
        r = self.r
        kinds = ["insert", "insert", "insert_multi", "bulk_insert", "update", "update", "bulk_update",
                 "delete", "bulk_delete", "update_key"]
        if t.pk:
            kinds += ["upsert"]
            if self.on("merge"):
                kinds += ["merge"]
        if self.on("copy"):
            kinds += ["copy"]
        if self.on("truncate", 0.3):
            kinds += ["truncate"]
        k = r.choice(kinds)
        names = ", ".join(c.name for c in t.cols)
        vals_cols = [c for c in t.cols if c.kind == "val" and c.name != "ref"]
        if k == "insert":
            return "INSERT INTO %s (%s) VALUES (%s)" % (self.q(t), names, ", ".join(self.full_row(t)))
        if k == "insert_multi":
            rows = ["(%s)" % ", ".join(self.full_row(t)) for _ in range(r.randint(2, 6))]
            return "INSERT INTO %s (%s) VALUES %s" % (self.q(t), names, ", ".join(rows))
        if k == "bulk_insert":
            n = r.choice([10, 50, 300, 1500])
            base = 100000 + r.randrange(10**6) * 10
            exprs = []
            for c in t.cols:
                if c.kind == "key":
                    e = {"int4": "(%d + g)" % base, "int8": "(%d + g)::int8" % base, "posint": "(%d + g)" % base,
                         "text": "'b%d_' || g" % base, "dtext": "('b%d_' || g)::%s.dtext" % (base, self.schema),
                         "numeric": "(%d + g)::numeric" % base,
                         "uuid": "md5('%d' || g)::uuid" % base}[c.typ]
                elif c.name == "ref":
                    e = "NULL"
                else:
                    e = self.value(c, huge_ok=False)
                exprs.append(e)
            return "INSERT INTO %s (%s) SELECT %s FROM generate_series(1, %d) g" % (self.q(t), names, ", ".join(exprs), n)
        if k in ("update", "bulk_update"):
            c = r.choice(vals_cols)
            where = self.some_rows(t, r.randint(1, 4)) if k == "update" else "true"
            if k == "bulk_update" and r.random() < 0.5:
                where = "md5(%s::text) < '8'" % t.cols[0].name
            return "UPDATE %s SET %s = %s WHERE %s" % (self.q(t), c.name, self.value(c), where)
        if k == "update_key":
            c = t.cols[0]
            return "UPDATE %s SET %s = %s WHERE %s" % (self.q(t), c.name, self.key_value(t, c), self.some_rows(t, 1))
        if k == "delete":
            return "DELETE FROM %s WHERE %s" % (self.q(t), self.some_rows(t, r.randint(1, 3)))
        if k == "bulk_delete":
            return "DELETE FROM %s WHERE md5(%s::text) < '%s'" % (self.q(t), t.cols[0].name, r.choice("48c"))
        if k == "upsert":
            c = r.choice(vals_cols)
            row = self.full_row(t)
            if t.keys_issued and r.random() < 0.6:  # an existing key
                old = r.choice(t.keys_issued)
                j = 0
                for i, col in enumerate(t.cols):
                    if col.kind == "key":
                        row[i] = old[j]
                        j += 1
            return "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s = EXCLUDED.%s" % (
                self.q(t), names, ", ".join(row), ", ".join(t.pk), c.name, c.name)
        if k == "merge":
            c = r.choice(vals_cols)
            keys = [col for col in t.cols if col.kind == "key"]
            srcs = []
            for _ in range(r.randint(1, 4)):
                if t.keys_issued and r.random() < 0.6:
                    kv = r.choice(t.keys_issued)
                else:
                    kv = [self.key_value(t, col) for col in keys]
                    t.keys_issued.append(kv)
                srcs.append("(%s, %s)" % (", ".join(kv), self.value(c)))
            kn = ", ".join("k%d" % i for i in range(len(keys)))
            on = " AND ".join("t.%s = s.k%d" % (col.name, i) for i, col in enumerate(keys))
            ins_cols = ", ".join([col.name for col in keys] + [c.name])
            ins_vals = ", ".join(["s.k%d" % i for i in range(len(keys))] + ["s.v"])
            # DISTINCT ON: MERGE refuses to touch one row twice.
            return ("MERGE INTO %s t USING (SELECT DISTINCT ON (%s) * FROM (VALUES %s) AS s0(%s, v)) s ON %s "
                    "WHEN MATCHED AND s.v IS NULL THEN DELETE WHEN MATCHED THEN UPDATE SET %s = s.v "
                    "WHEN NOT MATCHED THEN INSERT (%s) VALUES (%s)") % (
                        self.q(t), kn, ", ".join(srcs), kn, on, c.name, ins_cols, ins_vals)
        if k == "copy":
            rows = [self.full_row(t) for _ in range(r.randint(1, 20))]
            return ("COPY", self.q(t), names, rows)
        if k == "truncate":
            return "TRUNCATE %s CASCADE" % self.q(t)
        raise ValueError(k)

    def transaction(self, session):
        r = self.r
        t = r.choice(self.tables)
        stmts = []
        for _ in range(r.randint(1, 4)):
            if r.random() < 0.15:
                stmts.append("SAVEPOINT s")
                stmts.append(self.statement(r.choice(self.tables)))
                stmts.append("ROLLBACK TO SAVEPOINT s" if r.random() < 0.7 else "RELEASE SAVEPOINT s")
            else:
                stmts.append(self.statement(t if r.random() < 0.7 else r.choice(self.tables)))
        end = "commit"
        x = r.random()
        if x < 0.08:
            end = "rollback"
        elif x < 0.16 and self.on("prepare"):
            end = "prepare"
        return {"step": "tx", "session": session, "stmts": stmts, "end": end}

    def workload_case(self):
        r = self.r
        steps = []
        # Fill each table first, so updates and deletes find rows.
        for t in self.tables:
            steps.append({"step": "tx", "session": 0, "stmts": [self.statement_fill(t)], "end": "commit"})
        n = r.randint(4, 14)
        restarted = False
        for i in range(n):
            x = r.random()
            if x < 0.15 and self.on("concurrency"):
                par = [self.transaction(s) for s in range(1, r.randint(3, 4))]
                if self.on("toggle", 0.3) and self.watchers:
                    par.append({"step": "toggle", "index": r.randrange(len(self.watchers))})
                steps.append({"step": "par", "parts": par})
            elif x < 0.22 and self.on("toggle") and self.watchers:
                steps.append({"step": "toggle", "index": r.randrange(len(self.watchers))})
            elif x < 0.27 and self.on("restart") and not restarted:
                restarted = True
                steps.append({"step": "restart", "mode": r.choice(["fast", "immediate"])})
            elif x < 0.30 and self.on("forged") and self.watchers:
                w = r.choice(self.watchers)
                steps.append({"step": "forge", "index": self.watchers.index(w)})
            else:
                steps.append(self.transaction(0))
        return steps

    def statement_fill(self, t):
        names = ", ".join(c.name for c in t.cols)
        rows = ["(%s)" % ", ".join(self.full_row(t)) for _ in range(self.r.randint(3, 12))]
        return "INSERT INTO %s (%s) VALUES %s" % (self.q(t), names, ", ".join(rows))


    # --- issue 14 cases 3 and 8 (after the rest, from self.r2) ------------------------
    def families_case(self, watchers, steps):
        """Appends the racing watchers and inserts the race and soak steps.
        Appended and inserted, so the indexes of toggle and forge steps and
        everything drawn from self.r stay as they were."""
        r2 = self.r2
        if "race" not in self.without and r2.random() < 0.3:
            label = "race%d" % self.case
            delivery = r2.choice(["notify", "durable", "relay"])
            if delivery != "notify" and delivery in self.without:
                delivery = "notify"
            if len(self.tables) > 1:
                a, b = r2.sample(self.tables, 2)
                ops = [r2.choice(["inserted", "updated", "deleted"])] * 2
            else:
                a = b = self.tables[0]
                ops = r2.sample(["inserted", "updated", "deleted"], 2)
            first = len(watchers)
            for t, op in ((a, ops[0]), (b, ops[1])):
                w = {"table": t, "op": op, "label": label, "delivery": delivery, "race": True}
                if not t.pk:  # a table without a primary key is watched with key_columns
                    w["key_columns"] = ["big"]
                watchers.append(w)
            steps.insert(r2.randint(len(self.tables), len(steps)), {"step": "race", "indexes": [first, first + 1]})
        if "soak" not in self.without and "relay" not in self.without and r2.random() < 0.2:
            saved, self.r = self.r, r2  # rows drawn from r2 too
            try:
                t = r2.choice(self.tables)
                names = ", ".join(c.name for c in t.cols)
                sessions = []
                for _ in range(r2.randint(2, 3)):
                    rows = []
                    for _ in range(r2.randint(100, 250)):
                        vals = self.full_row(t, huge_ok=False)
                        # No parent row: a key issued earlier may be gone by then.
                        vals = ["NULL::%s" % self.qtype(c.typ) if c.name == "ref" else v for c, v in zip(t.cols, vals)]
                        rows.append("INSERT INTO %s (%s) VALUES (%s)" % (self.q(t), names, ", ".join(vals)))
                    sessions.append(rows)
            finally:
                self.r = saved
            steps.insert(r2.randint(len(self.tables), len(steps)), {"step": "soak", "sessions": sessions})


def make_case(seed, case, without):
    g = Gen(seed, case, without)
    ddl = g.schema_case()
    watchers = g.watchers_case()
    workload = g.workload_case()
    g.families_case(watchers, workload)
    return g, ddl, watchers, workload
