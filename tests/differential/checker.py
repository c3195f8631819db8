"""The differential checker (tests/differential/README.md): random cases from
a seed, run against a real server, each reader compared with what committed.

Usage (through tests/differential/run, which starts the cluster):
  checker.py --seed N[,N...] [--minutes M | --seconds S | --cases C] [--case K]
             [--without a,b] [--build DIR] [--no-shrink] [--verbose] [--portable]
"""
import argparse
import collections
import io
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal

import psycopg2
import psycopg2.extensions

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402
import oracle  # noqa: E402
import readers  # noqa: E402

DSN = ""  # libpq defaults: PGHOST, PGPORT, PGUSER, PGDATABASE from tests/differential/run
# After a restart the readers report their lost connections while they retry
# (the resync covers that); what stays a failure then is a message they could
# not read.
DECODE_ERRORS = ("malformed", "utf-8", "json", "protocol", "version", "label", "cannot read", "bad json", "message")
# What the C++ client (and the CLI) say about a forged message (client.cpp report_forged_locked).
FORGED_REPORT = re.compile(r'forged message on channel "([^"]+)"')
OPS = {"insert": "inserted", "update": "updated", "delete": "deleted"}
# Self-test (README, "A failure"): stamp each commit's end this many seconds
# late, as a checker thread descheduled after COMMIT returns does. A reader's
# resync must still excuse a transaction whose COMMIT was sent before it.
LATE_DONE = float(os.environ.get("DIFF_LATE_DONE", "0"))
# --portable (the PL/pgSQL edition, README "Managed PostgreSQL"): the families
# it cannot run, each with the reason the run prints.
NATIVE_ONLY = {
    "relay": "delivery => 'relay' is refused by the portable edition by design: it needs the native "
             "library's background worker",
    "relay_dbs": "several relay workers: native only",
    "first_start": "the relay's first start: native only",
    "soak": "the relay soak: native only (the generator makes it only with the relay)",
}
# A row beyond a message loses its extra columns, one whose key alone is
# beyond it is dropped and counted (README, "Limits"); the size here is the
# JSON of the columns, below the 7999-byte limit by the message's fixed part
# (the generated values are far below or far above it).
KEY_TOO_BIG = 7000


def connect(dsn=DSN, retries=100):
    for i in range(retries):
        try:
            c = psycopg2.connect(dsn, application_name="differential_checker")
            c.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            return c
        except psycopg2.OperationalError:
            if i == retries - 1:
                raise
            time.sleep(0.1)


def sql_text(stmt):
    if isinstance(stmt, tuple):
        _, table, names, rows = stmt
        return "COPY %s (%s) FROM STDIN  -- rows: %s" % (table, names, "; ".join("(%s)" % ", ".join(r) for r in rows))
    return stmt


class Case:
    def __init__(self, ctx, seed, number, without):
        self.ctx, self.seed, self.number = ctx, seed, number
        self.g, self.ddl, self.watchers, self.workload = generate.make_case(seed, number, without)
        self.schema = self.g.schema
        self.database = self.g.database
        # The portable edition's durable messages are read through pgoutput,
        # which does not convert them: the client refuses a non-UTF8
        # database (README, portable table). Its LATIN1 cases are notify only.
        self.no_durable = getattr(ctx, "portable", False) and self.g.latin1
        if self.no_durable:
            for w in self.watchers:
                if w["delivery"] == "durable":
                    w["delivery"] = "notify"

    def label(self, w):
        return w["label"] or w["default_label"]


class Run:
    """One execution of a case, possibly with a shortened workload (shrinking)."""

    def __init__(self, case, workload, verbose=False):
        self.case, self.workload, self.verbose = case, workload, verbose
        self.ctx = case.ctx
        self.s = case.schema
        self.tx = {}  # xid -> dict(done=time, prepared=bool)
        self.restarted = False
        self.forged = []  # a label per forged NOTIFY
        self.forged_relay = []  # ... sent while the label's watcher was active with delivery 'relay'
        self.notes = []
        self.failures = []
        self.refused = []
        self.lock = threading.Lock()
        self.stats = collections.Counter()

    # --- set-up ------------------------------------------------------------------
    def restart_relay_from_scratch(self):
        """Issue 14 case 7: the relay's first start for this case's database.
        Its worker stops (the database leaves ectowatch.relay_databases), its
        slot is dropped, and the database is listed again: the setup and the
        watchers that follow race the new worker creating its slot."""
        db = self.case.database
        c = connect("dbname=postgres")
        cur = c.cursor()
        listed = [d for d in generate.DATABASES.values()]
        cur.execute("ALTER SYSTEM SET ectowatch.relay_databases = %s", (", ".join(d for d in listed if d != db),))
        cur.execute("SELECT pg_reload_conf()")
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                cur.execute("SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots s "
                            "JOIN pg_database d ON d.oid = s.datoid WHERE d.datname = %s "
                            "AND slot_name LIKE 'ectowatch_relay_%%'", (db,))
                cur.execute("SELECT count(*) FROM pg_replication_slots s JOIN pg_database d ON d.oid = s.datoid "
                            "WHERE d.datname = %s AND slot_name LIKE 'ectowatch_relay_%%'", (db,))
                if cur.fetchone()[0] == 0:
                    break
            except psycopg2.Error:  # still held by the stopping worker
                pass
            time.sleep(0.1)
        cur.execute("ALTER SYSTEM SET ectowatch.relay_databases = %s", (", ".join(listed),))
        cur.execute("SELECT pg_reload_conf()")
        c.close()

    def setup(self):
        if self.case.g.first_start:
            self.restart_relay_from_scratch()
        c = connect()
        cur = c.cursor()
        cur.execute("SET client_min_messages = warning")
        cur.execute("DROP SCHEMA IF EXISTS %s CASCADE" % self.s)
        for stmt in self.case.ddl + oracle.audit_setup(self.s, self.case.g.tables):
            cur.execute(stmt)
        cur.execute("CREATE TABLE %s.dc_mark (id int PRIMARY KEY)" % self.s)
        n = self.case.number
        self.markers = {d: "dcm%d_%s" % (n, d[0]) for d in self.marker_deliveries()}
        for d, label in self.markers.items():
            # 'relay' is refused (55000) while the relay cannot run yet: on its
            # first start (first_start), until the worker holds its slot.
            deadline = time.time() + 60
            while True:
                try:
                    cur.execute("SELECT ectowatch_watch('%s.dc_mark', 'inserted', label => '%s', delivery => '%s')"
                                % (self.s, label, d))
                    break
                except psycopg2.Error as e:
                    if d != "relay" or time.time() > deadline:
                        raise
                    self.notes.append("marker refused, retried: %s" % str(e).strip().splitlines()[0])
                    time.sleep(0.2)
        self.active = {}
        for i, w in enumerate(self.case.watchers):
            # Racing watchers (issue 14 case 3) are watched by their race step.
            self.active[i] = False if w.get("race") else self.watch(cur, w)
        c.close()

    def marker_deliveries(self):
        """A marker label per delivery the readers use (README, "The readers")."""
        return ["notify"] + [d for d in ("durable", "relay") if d not in self.ctx.without and
                             not (d == "durable" and self.case.no_durable)]

    def watch(self, cur, w):
        try:
            cur.execute("BEGIN")
            cur.execute(oracle.watch_call(self.s, w))
            for stmt in oracle.audit_triggers(self.s, w):
                cur.execute(stmt)
            cur.execute("COMMIT")
            return True
        except psycopg2.Error as e:
            cur.execute("ROLLBACK")
            self.refused.append("%s: %s" % (oracle.watch_call(self.s, w), str(e).strip().splitlines()[0]))
            return False

    def unwatch(self, cur, w):
        try:
            cur.execute("BEGIN")
            cur.execute("SELECT ectowatch_unwatch('%s')" % self.case.label(w))
            for stmt in oracle.drop_audit_triggers(self.s, w):
                cur.execute(stmt)
            cur.execute("COMMIT")
            return False
        except psycopg2.Error as e:
            cur.execute("ROLLBACK")
            self.notes.append("unwatch failed: %s" % e)
            return True

    def labels_by_delivery(self):
        out = collections.defaultdict(list)
        for i, w in enumerate(self.case.watchers):
            if self.active[i] or w.get("race") or any(s.get("step") == "toggle" for s in self.workload):
                out["durable" if w["delivery"] == "durable" else "listen"].append(self.case.label(w))
        out["listen"] += [self.markers[d] for d in ("notify", "relay") if d in self.markers]
        if "durable" in self.markers:
            out["durable"].append(self.markers["durable"])
        return out

    def start_readers(self):
        b = self.ctx.build
        by = self.labels_by_delivery()
        # The CLI refuses labels without a watcher: give it the existing ones.
        existing = set(self.query("SELECT label FROM ectowatch_watchers"))
        listen = sorted(set(by["listen"]))
        self.readers = [readers.PsycopgReader(DSN, listen),
                        readers.CppReader(os.path.join(b, "differential_reader"), listen),
                        readers.CliReader(os.path.join(b, "ectowatch"), [l for l in listen if l in existing])]
        durable = sorted(set(by["durable"]))
        if "durable" in self.markers:
            n = self.case.number
            self.slots = ["dcs%d_a" % n, "dcs%d_b" % n]
            self.readers.append(readers.CppReader(os.path.join(b, "differential_reader"), durable, slot=self.slots[0]))
            self.readers.append(readers.CliReader(os.path.join(b, "ectowatch"), [l for l in durable if l in existing],
                                                  slot=self.slots[1]))
        else:
            self.slots = []
        for r in self.readers:
            r.labels = set(durable if r.durable else listen)
            if isinstance(r, readers.CliReader):
                # It listens only to the labels it was given (a raced label has
                # no watcher yet when it starts): compare those.
                r.labels = set(r.given) | (r.labels - {self.case.label(w) for w in self.case.watchers if w.get("race")})

    def query(self, sql):
        c = connect()
        cur = c.cursor()
        cur.execute(sql)
        rows = [r[0] if len(r) == 1 else r for r in cur.fetchall()]
        c.close()
        return rows

    def marker_seen(self, reader, first_id):
        """Whether the reader received, on each of its marker labels, a marker row >= first_id."""
        want = [self.markers["durable"]] if reader.durable else [self.markers[d] for d in ("notify", "relay")
                                                                if d in self.markers]
        seen = set()
        for rec in list(reader.records):
            if rec[1] == "row" and rec[2] in want and int(rec[4].get("id", 0)) >= first_id:
                seen.add(rec[2])
        return len(seen) == len(want)

    def mark(self, mark_id):
        c = connect()
        c.cursor().execute("INSERT INTO %s.dc_mark VALUES (%d) ON CONFLICT DO NOTHING" % (self.s, mark_id))
        c.close()

    def wait_markers(self, first_id, timeout, repeat):
        """Inserts markers until every reader saw one; returns the readers that did not."""
        deadline = time.time() + timeout
        mark_id = first_id
        self.mark(mark_id)
        ids = [mark_id]
        while time.time() < deadline:
            missing = [r for r in self.readers if not self.marker_seen(r, first_id)]
            if not missing:
                return []
            time.sleep(0.1)
            if repeat and time.time() > deadline - timeout + 0.5 * len(ids):
                mark_id += 1
                self.mark(mark_id)
                ids.append(mark_id)
        return [r for r in self.readers if not self.marker_seen(r, first_id)]

    # --- workload ------------------------------------------------------------------
    def run_tx(self, step, gid):
        try:
            c = connect()
        except psycopg2.Error as e:
            self.notes.append("connect failed: %s" % e)
            return
        cur = c.cursor()
        xid = None
        try:
            cur.execute("BEGIN")
            cur.execute("SELECT pg_current_xact_id()::text")
            xid = cur.fetchone()[0]
            for stmt in step["stmts"]:
                if isinstance(stmt, tuple):
                    _, table, names, rows = stmt
                    data = io.StringIO()
                    cur.copy_expert("COPY (%s) TO STDOUT" % " UNION ALL ".join(
                        "SELECT %s" % ", ".join(r) for r in rows), data)
                    data.seek(0)
                    cur.copy_expert("COPY %s (%s) FROM STDIN" % (table, names), data)
                else:
                    cur.execute(stmt)
            if step["end"] == "rollback":
                cur.execute("ROLLBACK")
            elif step["end"] == "prepare":
                cur.execute("PREPARE TRANSACTION '%s'" % gid)
                sent = time.time()
                cur.execute("COMMIT PREPARED '%s'" % gid)
                with self.lock:
                    self.tx[xid] = {"done": time.time(), "sent": sent, "prepared": True}
            else:
                sent = time.time()
                cur.execute("COMMIT")
                time.sleep(LATE_DONE)
                with self.lock:
                    self.tx[xid] = {"done": time.time(), "sent": sent, "prepared": False}
        except psycopg2.Error as e:
            if self.verbose:
                self.notes.append("tx error (rolled back): %s" % str(e).strip().splitlines()[0])
            try:
                cur.execute("ROLLBACK")
            except psycopg2.Error:
                pass
            if xid:  # the outcome may be unknown (a restart): the audit table knows
                with self.lock:
                    self.tx.setdefault(xid, {"done": time.time(), "sent": 0, "prepared": False})
        finally:
            try:
                c.close()
            except psycopg2.Error:
                pass

    def run_step(self, step, n):
        k = step["step"]
        if k == "tx":
            self.run_tx(step, "dc_%d_%d" % (self.case.number, n))
        elif k == "par":
            threads = [threading.Thread(target=self.run_step, args=(p, n * 10 + j)) for j, p in enumerate(step["parts"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        elif k == "toggle":
            w = self.case.watchers[step["index"]]
            c = connect()
            cur = c.cursor()
            cur.execute("SET lock_timeout = '10s'")
            i = step["index"]
            with self.lock:
                active = self.active[i]
            self.active[i] = self.unwatch(cur, w) if active else self.watch(cur, w)
            c.close()
        elif k == "race":
            self.run_race(step)
        elif k == "soak":
            threads = [threading.Thread(target=self.run_soak, args=(stmts, n * 10 + j))
                       for j, stmts in enumerate(step["sessions"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        elif k == "restart":
            self.restarted = True
            cmd = self.ctx.restart_cmd.replace("-m fast", "-m " + step["mode"])
            subprocess.run(cmd, shell=True, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)
        elif k == "forge":
            w = self.case.watchers[step["index"]]
            label = self.case.label(w)
            t = w["table"]
            key = w.get("key_columns") or t.pk or ["k0"]
            payload = json.dumps({"v": 1, "op": w["op"], "table": "%s.%s" % (self.s, t.name), "label": label,
                                  "key": key, "rows": [{k: "forged" for k in key}]}, separators=(",", ":"))
            try:
                c = psycopg2.connect(DSN + " user=dc_nobody")
                c.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
                c.cursor().execute("SELECT pg_notify(%s, %s)", (label, payload))
                c.close()
                self.forged.append(label)
                if w["delivery"] == "relay" and self.active[step["index"]]:
                    self.forged_relay.append(label)
            except psycopg2.Error as e:
                self.notes.append("forge refused: %s" % e)

    def run_race(self, step):
        """Issue 14 case 3: two sessions call ectowatch_watch for one label at
        the same moment (each holds its transaction open a little). Exactly one
        may win; the winner's audit trigger commits with it."""
        results = {}

        def contend(i):
            w = self.case.watchers[i]
            try:
                c = connect()
            except psycopg2.Error as e:
                results[i] = str(e)
                return
            cur = c.cursor()
            try:
                cur.execute("SET lock_timeout = '20s'")
                cur.execute("BEGIN")
                cur.execute(oracle.watch_call(self.s, w))
                for stmt in oracle.audit_triggers(self.s, w):
                    cur.execute(stmt)
                cur.execute("SELECT pg_sleep(0.3)")
                cur.execute("COMMIT")
                results[i] = None
            except psycopg2.Error as e:
                results[i] = "%s %s" % (e.pgcode, str(e).strip().splitlines()[0])
                try:
                    cur.execute("ROLLBACK")
                except psycopg2.Error:
                    pass
            finally:
                c.close()

        threads = [threading.Thread(target=contend, args=(i,)) for i in step["indexes"]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        won = [i for i in step["indexes"] if results.get(i) is None]
        for i in step["indexes"]:
            self.active[i] = i in won
            if results.get(i):
                self.refused.append("race: %s: %s" % (oracle.watch_call(self.s, self.case.watchers[i]), results[i]))
        if len(won) != 1 and not self.restarted:
            self.fail("race", "-", self.case.label(self.case.watchers[step["indexes"][0]]),
                      "%d of 2 racing ectowatch_watch calls for one label committed: %s" % (len(won), results))

    def run_soak(self, stmts, session):
        """Issue 14 case 8: one session commits many small transactions back
        to back on one connection. A row the table refuses (a foreign key
        whose parent row is gone) rolls back its transaction only."""
        try:
            c = connect()
        except psycopg2.Error as e:
            self.notes.append("soak connect failed: %s" % e)
            return
        cur = c.cursor()
        refused = 0
        try:
            for stmt in stmts:
                xid = None
                try:
                    cur.execute("BEGIN")
                    cur.execute("SELECT pg_current_xact_id()::text")
                    xid = cur.fetchone()[0]
                    cur.execute(stmt)
                    sent = time.time()
                    cur.execute("COMMIT")
                    with self.lock:
                        self.tx[xid] = {"done": time.time(), "sent": sent, "prepared": False}
                except psycopg2.Error:
                    refused += 1
                    if xid:  # the outcome may be unknown (a restart): the audit table knows
                        with self.lock:
                            self.tx.setdefault(xid, {"done": time.time(), "sent": 0, "prepared": False})
                    if c.closed:
                        c = connect()
                        cur = c.cursor()
                    else:
                        cur.execute("ROLLBACK")
        except psycopg2.Error as e:
            self.notes.append("soak session %d stopped: %s" % (session, str(e).strip().splitlines()[0]))
        finally:
            if refused:
                self.notes.append("soak session %d: %d transactions refused" % (session, refused))
            try:
                c.close()
            except psycopg2.Error:
                pass

    # --- the whole run -----------------------------------------------------------------
    def execute(self):
        # Every connection of the case (the checker's, the readers', the
        # forger's) goes to the case's database through libpq's PGDATABASE.
        saved_database = os.environ.get("PGDATABASE")
        os.environ["PGDATABASE"] = self.case.database
        try:
            return self.execute_in_database()
        finally:
            if saved_database is None:
                os.environ.pop("PGDATABASE", None)
            else:
                os.environ["PGDATABASE"] = saved_database

    def execute_in_database(self):
        try:
            self.setup()
            self.start_readers()
            late = self.wait_markers(1, 30, repeat=True)
            if late:
                self.fail("ready", "-", "-", "reader(s) %s never received a marker before the workload"
                          % ", ".join(r.name for r in late))
            for n, step in enumerate(self.workload):
                self.run_step(step, n)
            # Repeated: a notify reader reconnecting after a restart may miss
            # the first (at-most-once); one committed after its resync must come.
            late = self.wait_markers(1000000, 30, repeat=True)
            for r in late:
                self.fail("final_marker", r.name, "-", "no final marker row arrived (30 s, one inserted every 0.5 s)")
        finally:
            for r in getattr(self, "readers", []):
                r.stop()
        self.compare()
        if self.ctx.dump:
            os.makedirs(self.ctx.dump, exist_ok=True)
            for r in self.readers:
                with open(os.path.join(self.ctx.dump, "case%d.%s.jsonl" % (self.case.number, r.name)), "w") as f:
                    for rec in r.records:
                        f.write(json.dumps(rec, default=str) + "\n")
            for r in self.readers:
                if getattr(r, "sequences", None) is not None:
                    with open(os.path.join(self.ctx.dump, "case%d.%s.sequences.jsonl" % (self.case.number, r.name)),
                              "w") as f:
                        for rec in r.sequences:
                            f.write(json.dumps(rec) + "\n")
            with open(os.path.join(self.ctx.dump, "case%d.tx.json" % self.case.number), "w") as f:
                json.dump(self.tx, f, indent=0)
            with open(os.path.join(self.ctx.dump, "case%d.audit.jsonl" % self.case.number), "w") as f:
                for row in self.audit:
                    f.write(json.dumps(row) + "\n")
        self.cleanup()
        return self.failures

    def cleanup(self):
        try:
            c = connect()
            cur = c.cursor()
            cur.execute("SET client_min_messages = warning")
            for label in self.query("SELECT label FROM ectowatch_watchers WHERE table_name::text LIKE '%s.%%'" % self.s):
                cur.execute("SELECT ectowatch_unwatch(%s)", (label,))
            for slot in self.slots:
                cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                            (slot,))
            cur.execute("DROP SCHEMA IF EXISTS %s CASCADE" % self.s)
            for gid in self.query("SELECT gid FROM pg_prepared_xacts"):
                cur.execute("ROLLBACK PREPARED '%s'" % gid)
            c.close()
        except psycopg2.Error as e:
            self.notes.append("cleanup: %s" % e)

    def fail(self, kind, reader, label, detail):
        self.failures.append({"kind": kind, "reader": reader, "label": label, "detail": detail})

    # --- the comparison -----------------------------------------------------------------
    def compare(self):
        s = self.s
        audit = self.query("SELECT id, label, op, xid::text, vals::text FROM %s.dc_audit ORDER BY id" % s)
        self.audit = audit
        expected = collections.defaultdict(list)
        truncates = collections.Counter()
        truncates_prepared = collections.Counter()
        # notify: two TRUNCATEs of one table in one transaction send two
        # identical messages, which PostgreSQL collapses (README, "Limits"):
        # one per transaction arrives (seed 451302 case 11).
        truncate_xids = collections.defaultdict(set)
        for aid, label, op, xid, vals in audit:
            if op == "truncate":
                truncates[label] += 1
                if self.tx.get(xid, {}).get("prepared"):
                    truncates_prepared[label] += 1  # notify sends nothing for it (documented)
                else:
                    truncate_xids[label].add(xid)
                continue
            expected[label].append({"op": OPS[op], "vals": json.loads(vals), "xid": xid, "id": aid})
        # The catalog must agree with the model: what this case watches now.
        model = sorted((self.case.label(w), "%s.%s" % (s, w["table"].name), w["op"])
                       for i, w in enumerate(self.case.watchers) if self.active[i])
        catalog = sorted(tuple(r) for r in self.query(
            "SELECT label, table_name::text, op FROM ectowatch_watchers WHERE table_name::text LIKE '%s.%%' "
            "AND table_name::text <> '%s.dc_mark'" % (s, s)))
        if model != catalog:
            self.fail("catalog", "-", "-", "ectowatch_watchers %s, expected %s" % (catalog, model))
        # A raced label (issue 14 case 3) is the winner's.
        by_label = {}
        for i, w in enumerate(self.case.watchers):
            if self.case.label(w) not in by_label or self.active[i]:
                by_label[self.case.label(w)] = w
        for r in self.readers:
            resyncs = [rec[0] for rec in r.records if rec[1] == "resync" and rec[2] not in ("slot_created",)]
            # A lost connection is reported while the client retries: that is
            # the resync's business, not a failure. Anything else is.
            errors = [rec[2] for rec in r.records if rec[1] == "error" and not (
                self.restarted and not any(p in rec[2].lower() for p in DECODE_ERRORS))]
            # docs/guarantees.md: a forged message on a relay label is
            # reported (ForgedMessage), not delivered: expected, once per forge.
            reported = collections.Counter()
            for e in errors:
                m = FORGED_REPORT.search(e)
                if m and m.group(1) in self.forged_relay:
                    reported[m.group(1)] += 1
            errors = [e for e in errors if not (FORGED_REPORT.search(e) and
                                                FORGED_REPORT.search(e).group(1) in self.forged_relay)]
            if r.name in ("cpp", "cli") and not self.restarted:
                for label in sorted(set(self.forged_relay) & set(r.labels)):
                    if reported[label] < self.forged_relay.count(label):
                        self.fail("forged", r.name, label, "%d forged messages on this relay label, %d reported" % (
                            self.forged_relay.count(label), reported[label]))
            for e in sorted(set(errors))[:3]:
                self.fail("reader_error", r.name, "-", e)
            # NATS readers (nats_checker.py) read the stream: a server restart is not theirs to be told of.
            if self.restarted and not r.durable and not getattr(r, "nats", False) and not resyncs:
                self.fail("no_resync", r.name, "-", "the server restarted, this listener was not told (no resync)")
            for label in sorted(r.labels):
                w = by_label.get(label)
                if w is None:
                    continue  # a marker
                n_trunc = len(truncate_xids[label]) if w["delivery"] == "notify" else truncates[label]
                self.compare_label(r, label, w, expected[label], n_trunc, resyncs)

    def repeats_allowed(self, r):
        """Whether this reader may repeat rows it cannot tell by lsn (a hook of nats_checker.py)."""
        return False

    def order_checked(self, r):
        return True

    def check_order(self, r, label, matched):
        """Commit order between transactions that did not overlap, change
        order (audit id) within one transaction."""
        last = None
        for e in matched:
            if last is not None:
                a, b = self.tx.get(last["xid"]), self.tx.get(e["xid"])
                if last["xid"] == e["xid"]:
                    if e["id"] < last["id"]:
                        self.fail("order", r.name, label, "rows of one transaction out of change order: %s before %s"
                                  % (last["vals"], e["vals"]))
                        return
                elif a and b and b["done"] < a["sent"]:
                    self.fail("order", r.name, label, "a row of a later transaction (xid %s: %s) arrived before one "
                              "of an earlier one (xid %s: %s)" % (last["xid"], last["vals"], e["xid"], e["vals"]))
                    return
            last = e

    def canon(self, typ, v, from_audit):
        if v is None:
            return None
        if typ in ("json", "jsonb"):
            if from_audit:
                v = readers.parse_json(v)
            return json.dumps(v, sort_keys=True, default=str)
        if typ == "float8":
            try:
                f = float(v)
                return "nan" if f != f else repr(f)
            except (TypeError, ValueError):
                return str(v)
        if typ == "bool" and not from_audit:
            return "true" if v else "false"
        if isinstance(v, Decimal):
            return str(v)
        return str(v)

    def compare_label(self, r, label, w, exp, n_truncates, resyncs):
        t = w["table"]
        keys = w.get("key_columns") or t.pk
        extras = [c for c in (w.get("extra_columns") or []) if c not in keys]
        types = {c.name: c.typ for c in t.cols}
        delivery = w["delivery"]

        def fp_audit(e):
            return (e["op"], tuple(self.canon(types[k], e["vals"][k], True) for k in keys),
                    tuple(self.canon(types[k], e["vals"][k], True) for k in extras))

        # Equal rows are assigned in commit order (the order they must arrive
        # in), not in audit order, which concurrent sessions interleave.
        # Notify sends nothing for a PREPAREd transaction: its rows go last,
        # so equal rows of other transactions are not taken for them.
        exp = sorted(exp, key=lambda e: (delivery == "notify" and self.tx.get(e["xid"], {}).get("prepared", False),
                                         self.tx.get(e["xid"], {}).get("done", float("inf")), e["id"]))
        remaining = collections.defaultdict(list)  # fp -> expected entries
        by_key = collections.defaultdict(list)
        for e in exp:
            fp = fp_audit(e)
            remaining[fp].append(e)
        got = [rec for rec in r.records if rec[1] == "row" and rec[2] == label]
        dropped = sum(rec[3] for rec in r.records if rec[1] == "dropped" and rec[2] == label)
        # A relayed truncated message sent again after a crash restart has the
        # lsn of its first copy (psycopg2 records it; seed 14 case 41).
        truncs = [rec for rec in r.records if rec[1] == "truncated" and rec[2] == label]
        got_trunc = (sum(1 for rec in truncs if len(rec) < 4 or rec[3] is None) +
                     len({rec[3] for rec in truncs if len(rec) > 3 and rec[3] is not None}))
        extra = []
        key_only = []
        seen_lsn = set()
        matched = []  # expected entries, in the order this reader received them
        matched_how = []  # (entry, fingerprint, "exact" or "key" for a truncated row)
        dups = 0
        forged_got = 0
        # A message repeated whole with the same lsn (relay after a crash,
        # durable) is a duplicate as docs/protocol.md defines it: set aside
        # before matching, so it never takes the place of an equal row of
        # another transaction. A message's rows are consecutive records.
        # A repeat can follow its first copy directly (nothing else arrived
        # on the label meanwhile, seeds 12/97 and 13/43): the copies are told
        # apart by arrival time. psycopg2 stamps every row of a notification
        # with one time; the process readers stamp each line, and print a
        # message's rows back to back, while a repeat comes after a restart.
        messages, seen_messages, unique_got = [], set(), []
        for rec in got:
            last = messages[-1][-1] if messages else None
            same = (last is not None and rec[6] is not None and last[6] == rec[6] and
                    (rec[0] == last[0] if r.name == "psycopg2" else rec[0] - last[0] < 0.5))
            if same:
                messages[-1].append(rec)
            else:
                messages.append([rec])
        for m in messages:
            ident = (m[0][6], tuple((x[3], json.dumps(x[4], sort_keys=True, default=str), x[5]) for x in m))
            if m[0][6] is not None and ident in seen_messages:
                dups += len(m)
                continue
            seen_messages.add(ident)
            unique_got.extend(m)
        forged_keys = keys or ["k0"]  # as the forge step builds its row
        for rec in unique_got:
            _, _, _, op, row, truncated, lsn = rec[:7]
            if label in self.forged and isinstance(row, dict) and row and set(row) == set(forged_keys) and all(
                    v == "forged" for v in row.values()):
                forged_got += 1  # the checker's own forge step: never matched to a committed row
                continue
            try:
                kv = tuple(self.canon(types[k], row[k], False) for k in keys)
            except KeyError:
                extra.append((rec, "row without its key columns"))
                continue
            if not all(c in row for c in extras):
                if truncated:
                    key_only.append((op, kv, rec))
                else:
                    extra.append((rec, "extra columns missing in a message not marked truncated"))
                continue
            fp = (op, kv, tuple(self.canon(types[c], row[c], False) for c in extras))
            if remaining.get(fp):
                matched.append(remaining[fp].pop(0))
                matched_how.append((matched[-1], fp, "exact"))
                seen_lsn.add((fp, lsn))
            elif (fp, lsn) in seen_lsn and lsn is not None:
                dups += 1  # redelivered: same message (lsn), explained
            else:
                extra.append((rec, "not committed (or more often than committed)"))
        # A truncated row repeated with its message (same lsn) is a duplicate,
        # as a complete one is above. Repeats of one message arriving back to
        # back are grouped as one message with the lsn, so they reach here
        # (seed 12 case 97: a relayed message with a truncated row, sent
        # again after a crash restart). The CLI prints no lsn: after a
        # restart, a truncated row whose key committed may be a repeat.
        seen_key_lsn = set()
        cli_repeats = (self.restarted and ((r.durable and r.name == "cli-durable") or
                                           (delivery == "relay" and r.name == "cli"))) or self.repeats_allowed(r)
        for op, kv, rec in key_only:
            lsn = rec[6]
            cand = [fp for fp, es in remaining.items() if es and fp[0] == op and fp[1] == kv]
            cand.sort(key=lambda fp: exp.index(remaining[fp][0]))  # the earliest: rows arrive in commit order
            if cand:
                matched.append(remaining[cand[0]].pop(0))
                matched_how.append((matched[-1], cand[0], "key"))
                seen_key_lsn.add((op, kv, lsn))
            elif lsn is not None and (op, kv, lsn) in seen_key_lsn:
                dups += 1
            elif cli_repeats and any(fp_audit(e)[:2] == (op, kv) for e in exp):
                dups += 1
            else:
                extra.append((rec, "truncated row matching no committed row"))
        portable_notify = getattr(self.ctx, "portable", False) and delivery == "notify"

        def too_big(e, columns=()):
            """Whether the row's key (with these columns) is beyond a message."""
            row = {k: e["vals"][k] for k in list(keys) + list(columns)}
            return len(json.dumps(row, ensure_ascii=False, default=str).encode()) > KEY_TOO_BIG

        missing = [(fp, e) for fp, es in remaining.items() for e in es]
        missing.sort(key=lambda m: int(m[1]["xid"]))
        unexplained = []
        explained = collections.Counter()
        budget = {"dropped": dropped}

        def excuse(e, fp):
            """Why entry e may be missing from this reader, or None (the
            label's dropped count aside: spent last, below)."""
            tx = self.tx.get(e["xid"], {"done": time.time(), "prepared": False})
            if delivery == "notify" and tx["prepared"]:
                return "prepared"  # documented: PREPARE sends nothing for notify
            # A resync excuses what may have been sent before the reader
            # listened again: a transaction whose COMMIT was sent before the
            # resync was printed. Not its "done": the relay (or NOTIFY) can
            # deliver it before COMMIT returns to the checker, and a reader
            # may LISTEN in between (seed 78438 case 4, DIFF_LATE_DONE).
            if not r.durable and any((tx.get("sent") or tx["done"]) <= t_resync for t_resync in resyncs):
                return "resync"
            if delivery == "notify" and sum(1 for x in exp if x["xid"] == e["xid"] and fp_audit(x) == fp) > 1:
                return "collapsed"  # documented: identical notifications of one transaction collapse
            # The portable edition sends a message per statement, or per row
            # from row triggers (README, portable table): two rows of one
            # transaction too big for a message, with equal keys, are sent as
            # byte-identical key-only messages, which collapse, whatever
            # their extra columns held (seed 16 case 56).
            if portable_notify and too_big(e, extras) and sum(
                    1 for x in exp if x["xid"] == e["xid"] and too_big(x, extras) and fp_audit(x)[:2] == fp[:2]) > 1:
                return "collapsed_truncated"
            return None

        for fp, e in missing:
            why = excuse(e, fp)
            if why is None:
                # Equal rows (or equal keys of truncated rows) are ambiguous:
                # the received one may stand for an entry that is excused.
                # The latest such receipt: the missing entry is likely the later one.
                for i in reversed(range(len(matched_how))):
                    x, xfp, how = matched_how[i]
                    same = xfp == fp if how == "exact" else xfp[:2] == fp[:2]
                    if same and x is not e and excuse(x, fp):
                        why = excuse(x, fp)
                        matched_how[i] = (e, xfp, how)
                        matched[matched.index(x)] = e
                        break
            # Last: the label's dropped count is spent only on rows nothing
            # else explains, not even a swap with an equal row received
            # (seed 652979 case 1: spent first, in xid order, it went to
            # collapsed rows; seed 78438 case 4: spent before the swap, it
            # went to a row received after a resync whose equal row of an
            # earlier transaction was lost before it, and a dropped row was
            # left unexplained).
            if why is None and budget["dropped"] > 0:
                budget["dropped"] -= 1
                why = "dropped"
            # The portable edition counts dropped rows per statement (README,
            # portable table): two statements of one transaction dropping a
            # row each send two byte-identical notifications ("rows":[],
            # "dropped":1; one per row for row triggers), and PostgreSQL
            # delivers one, so the count received is lower than what was
            # dropped. A row too big for a message, on a notify label that
            # received a dropped count, in a transaction with another such
            # row, is explained so.
            if (why is None and portable_notify and dropped > 0 and too_big(e) and
                    sum(1 for x in exp if x["xid"] == e["xid"] and too_big(x)) > 1):
                why = "dropped_collapsed"
            if why:
                explained[why] += 1
            else:
                unexplained.append((fp, e))
        # The CLI prints no lsn: after a restart its repeats (durable, and
        # relay after a crash) cannot be told by lsn (seed 2 case 17).
        if (self.restarted and ((r.durable and r.name == "cli-durable") or (delivery == "relay" and r.name == "cli"))
                or self.repeats_allowed(r)):
            n = len(extra)
            extra = [x for x in extra if "not committed" not in x[1] or
                     not any(x[0][3] == fp[0] for fp in remaining)]
            dups += n - len(extra)
        if unexplained:
            self.fail("missing", r.name, label,
                      "%d of %d committed rows never arrived (unexplained; explained: %s), e.g. %s" % (
                          len(unexplained), len(exp), dict(explained), [u[0] for u in unexplained[:3]]))
        # docs/guarantees.md: on a notify label a forged message cannot be told
        # apart (delivered, up to once per forge); on a relay label the C++
        # client and the CLI report it and deliver nothing. A raw LISTEN
        # client (psycopg2) cannot tell either.
        forged_ok = self.forged.count(label) - (0 if r.name == "psycopg2" else self.forged_relay.count(label))
        if forged_got > forged_ok:
            self.fail("forged", r.name, label, "%d forged rows delivered, at most %d expected (%d forged on an "
                      "active relay watcher)" % (forged_got, forged_ok, self.forged_relay.count(label)))
        if extra:
            self.fail("extra", r.name, label,
                      "%d rows received that did not commit so, e.g. %s" % (
                          len(extra), [(x[0][3], x[0][4], x[1]) for x in extra[:3]]))
        # Truncated rows matched by key alone are ambiguous: order is checked
        # on the rows matched with all their columns.
        # Equal rows of different transactions are ambiguous too: only rows
        # whose values occur once among the committed ones are ordered.
        fp_count = collections.Counter(fp_audit(e) for e in exp)
        if self.order_checked(r):
            self.check_order(r, label, [e for e, fp, how in matched_how if how == "exact" and fp_count[fp] == 1])
        self.stats["duplicates_" + r.name] += dups
        self.stats["excused_resync_" + r.name] += explained["resync"]
        self.stats["expected"] += len(exp) if r.name in ("psycopg2", "nats-stream") or (
            r.durable and r.name == "cpp-durable") else 0
        self.stats["received_" + r.name] += len(got)
        self.stats["matched"] += len(matched)
        if got_trunc < n_truncates and not resyncs:
            self.fail("missing_truncate", r.name, label, "%d TRUNCATE committed, %d received" % (n_truncates, got_trunc))
        # The C++ reader and the CLI print no lsn for a truncated message: on
        # a relay label after a restart, more may be repeats.
        trunc_repeats = (self.restarted and delivery == "relay" and r.name in ("cpp", "cli")) or self.repeats_allowed(r)
        if got_trunc > n_truncates and not r.durable and not trunc_repeats:
            self.fail("extra_truncate", r.name, label, "%d TRUNCATE committed, %d received" % (n_truncates, got_trunc))


# --- reproduction and shrinking ------------------------------------------------------------
def describe_workload(steps, case):
    lines = []
    for n, st in enumerate(steps):
        k = st["step"]
        if k == "tx":
            body = "; ".join(sql_text(s) for s in st["stmts"])
            end = {"commit": "COMMIT", "rollback": "ROLLBACK",
                   "prepare": "PREPARE TRANSACTION 'g'; COMMIT PREPARED 'g'"}[st["end"]]
            lines.append("BEGIN; %s; %s;" % (body, end))
        elif k == "par":
            lines.append("-- concurrently:")
            lines += ["--   " + l for l in describe_workload(st["parts"], case)]
        elif k == "toggle":
            w = case.watchers[st["index"]]
            lines.append("-- unwatch %s, or watch it again if unwatched: %s" % (case.label(w), oracle.watch_call(case.schema, w)))
        elif k == "restart":
            lines.append("-- server restart (pg_ctl restart -m %s)" % st["mode"])
        elif k == "forge":
            lines.append("-- as a role without privileges: NOTIFY %s, '<a made-up v1 message>'" % case.label(case.watchers[st["index"]]))
        elif k == "race":
            lines.append("-- concurrently, each in a transaction held 0.3 s: " + "; ".join(
                oracle.watch_call(case.schema, case.watchers[i]) for i in st["indexes"]))
        elif k == "soak":
            lines.append("-- concurrently, one transaction per row: %s" % "; ".join(
                "session %d: %d INSERTs like %s" % (j, len(stmts), stmts[0]) for j, stmts in enumerate(st["sessions"])))
    return lines


PRIORITY = ["missing", "extra", "order", "missing_truncate", "extra_truncate", "reader_error", "no_resync",
            "final_marker", "catalog", "race", "forged", "ready"]


def signature(failures):
    return {(f["kind"], f["reader"]) for f in failures}


def primary(failures):
    """The failure class the shrinker keeps: the most serious one."""
    kind = min((f["kind"] for f in failures), key=PRIORITY.index)
    return {(f["kind"], f["reader"]) for f in failures if f["kind"] == kind}


def shrink(case, failures, budget_seconds):
    """Delta debugging over the workload's steps: the shortest list that still
    fails the same way (same kind, same reader)."""
    want = primary(failures)
    steps = list(case.workload)
    deadline = time.time() + budget_seconds
    n = 2
    tries = 0
    while len(steps) >= 1 and time.time() < deadline:
        chunk = max(1, len(steps) // n)
        reduced = False
        for i in range(0, len(steps), chunk):
            if time.time() >= deadline:
                break
            trial = steps[:i] + steps[i + chunk:]
            if not trial:
                continue
            tries += 1
            f = case.ctx.run_class(case, trial).execute()
            if signature(f) & want:
                steps = trial
                n = max(n - 1, 2)
                reduced = True
                break
        if not reduced:
            if chunk == 1:
                break
            n = min(len(steps), n * 2)
    return steps, tries


def report(case, failures, steps, shrunk_tries, run):
    out = []
    # --portable implies its native-only exclusions: the replay line says --portable.
    shown_without = case.ctx.without - (set(NATIVE_ONLY) if getattr(case.ctx, "portable", False) else set())
    out.append("=" * 78)
    out.append("FAILURE seed %s case %d: reproduce with %s --seed %s --case %d%s" % (
        case.seed, case.number, getattr(case.ctx, "replay", "tests/differential/run"), case.seed, case.number,
        (" --without " + ",".join(sorted(shown_without))) if shown_without else ""))
    for f in failures:
        out.append("  [%s] reader %s label %s: %s" % (f["kind"], f["reader"], f["label"], f["detail"]))
    out.append("-- database %s%s" % (case.database, " (the relay's first start)" if case.g.first_start else ""))
    out.append("-- schema")
    out += ["%s;" % d for d in case.ddl]
    out.append("-- watchers")
    out += ["%s;" % oracle.watch_call(case.schema, w) for w in case.watchers]
    for r in run.refused:
        out.append("--   refused: %s" % r)
    out.append("-- workload (%d of %d steps after %d shrinking runs that kept: %s)" % (
        len(steps), len(case.workload), shrunk_tries, ", ".join("%s/%s" % k for k in sorted(primary(failures)))))
    out += describe_workload(steps, case)
    return "\n".join(out)


class Ctx:
    pass


def main(run_class=None, name="differential", always_without=()):
    """run_class: Run or a subclass (nats_checker.py); always_without: families
    that class never generates."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", required=True)
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--cases", type=int)
    ap.add_argument("--case", type=int)
    ap.add_argument("--without", default="")
    ap.add_argument("--build", default="build")
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--shrink-seconds", type=float, default=90)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--dump", help="write every reader's records and the transactions here")
    ap.add_argument("--portable", action="store_true",
                    help="the server runs the portable edition (tests/differential/run --portable)")
    a = ap.parse_args()
    ctx = Ctx()
    ctx.portable = a.portable
    if a.portable:
        ctx.replay = "tests/differential/run --portable"
        for x, why in sorted(NATIVE_ONLY.items()):
            print("excluded: %s (%s; %s)" % (x, generate.FEATURES[x], why))
        always_without = set(always_without) | set(NATIVE_ONLY)
        print("portable: the LATIN1 cases (latin1) watch with delivery notify where they would use durable: "
              "durable through pgoutput needs a UTF8 database")
    ctx.build = a.build
    ctx.dump = a.dump
    ctx.run_class = run_class or Run
    ctx.without = set(x for x in a.without.split(",") if x) | set(always_without)
    for x in ctx.without:
        if x not in generate.FEATURES:
            sys.exit("unknown feature %r; known: %s" % (x, ", ".join(generate.FEATURES)))
    ctx.restart_cmd = os.environ.get("DIFF_RESTART", "")
    if not ctx.restart_cmd:
        ctx.without.add("restart")
    seeds = [int(s) for s in a.seed.split(",")]
    budget = a.seconds or (a.minutes * 60 if a.minutes else None)
    for x in sorted(ctx.without - (set(NATIVE_ONLY) if a.portable else set())):
        print("excluded: %s (%s)" % (x, generate.FEATURES[x]))
    c = connect()
    c.cursor().execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dc_nobody') THEN "
                       "CREATE ROLE dc_nobody LOGIN; END IF; END $$")
    c.close()
    total_cases = 0
    total_failures = 0
    classes = collections.Counter()
    totals = collections.Counter()
    start = time.time()
    per_seed = (budget / len(seeds)) if budget else None
    for seed in seeds:
        seed_start = time.time()
        number = a.case if a.case is not None else 0
        n_cases = 0
        print("seed %d: started" % seed, flush=True)
        while True:
            if a.case is not None and n_cases == 1:
                break
            if a.cases is not None and n_cases >= a.cases:
                break
            if per_seed is not None and time.time() - seed_start >= per_seed:
                break
            if per_seed is None and a.cases is None and a.case is None and n_cases >= 1:
                break
            case = Case(ctx, seed, number, ctx.without)
            run = ctx.run_class(case, case.workload, a.verbose)
            t0 = time.time()
            failures = run.execute()
            n_cases += 1
            total_cases += 1
            totals.update(run.stats)
            if a.verbose:
                print("  case %d: %.1fs, %d failures, rows committed %d, per reader %s, notes %s" % (
                    number, time.time() - t0, len(failures), run.stats["expected"],
                    {k[9:]: v for k, v in sorted(run.stats.items()) if k.startswith("received_")}, run.notes[:3]),
                    flush=True)
            if failures:
                total_failures += 1
                for f in failures:
                    classes[(f["kind"], f["reader"])] += 1
                steps, tries = case.workload, 0
                if not a.no_shrink:
                    steps, tries = shrink(case, failures, a.shrink_seconds)
                print(report(case, failures, steps, tries, run), flush=True)
            number += 1
        print("seed %d: %d cases in %.1f s" % (seed, n_cases, time.time() - seed_start), flush=True)
    if a.portable:
        name += " (portable edition)"
    print(name + ": seeds %s, %d cases, %.1f minutes, %d committed rows compared (%d matched across readers), "
          "%d failing cases%s" % (
        ",".join(map(str, seeds)), total_cases, (time.time() - start) / 60, totals["expected"], totals["matched"],
        total_failures,
        (": " + ", ".join("%s/%s x%d" % (k[0], k[1], v) for k, v in sorted(classes.items()))) if classes else ""))
    if hasattr(ctx.run_class, "summary"):
        print(ctx.run_class.summary(totals))
    sys.exit(1 if total_failures else 0)


if __name__ == "__main__":
    main()
