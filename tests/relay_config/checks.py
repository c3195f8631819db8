#!/usr/bin/python3
"""The relay's configuration and first start (issue 14, cases 6 and 7).

Run by tests/relay_config_test.sh against its own cluster (max_worker_processes
= 4: room for two relay workers). Usage: checks.py PHASE, PHASE one of
  first_start  a listed database is served only once its worker has its slot:
               until then relay watchers are refused and ectowatch.relay = on
               sends NOTIFY directly, so no committed row is lost; a dropped
               slot that was relied on means a resync
  unserved     a database without a worker slot, or that does not exist, is
               reported with its reason, and relay watchers are refused there
  created_after_listing
               a database listed before it existed: once created, a relay
               watch there wakes the launcher instead of failing on the stale
               reason until the launcher's backoff passes
  no_plugin    the server does not allow the output plugin: the relay cannot
               create its slot, which is reported, and relay watchers are refused
Every wait is bounded; no timing is asserted.
"""
import select
import sys
import time

import psycopg2
import psycopg2.extensions

failures = []


def check(ok, what):
    print(("ok " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def connect(database):
    conn = psycopg2.connect(dbname=database)
    conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    return conn


def run(conn, statement, args=None):
    with conn.cursor() as cur:
        cur.execute(statement, args)
        return cur.fetchall() if cur.description else None


def value(conn, statement, args=None):
    rows = run(conn, statement, args)
    return rows[0][0] if rows else None


def error_of(conn, statement):
    """The error a statement raises (message, SQLSTATE, hint), or None."""
    try:
        run(conn, statement)
        return None
    except psycopg2.Error as error:
        return (error.diag.message_primary or "", error.pgcode, error.diag.message_hint or "")


def eventually(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def set_relay_databases(admin, databases):
    run(admin, "ALTER SYSTEM SET ectowatch.relay_databases = %s", (databases,))
    run(admin, "SELECT pg_reload_conf()")


def create_database(admin, name):
    run(admin, f"DROP DATABASE IF EXISTS {name}")
    run(admin, f"CREATE DATABASE {name}")
    conn = connect(name)
    run(conn, "SET client_min_messages = warning; CREATE EXTENSION ectowatch")
    run(conn, "CREATE TABLE items (id int PRIMARY KEY)")
    run(conn, "CREATE TABLE notes (id int PRIMARY KEY)")
    return conn


class Listener:
    def __init__(self, database, channels):
        self.conn = connect(database)
        for channel in channels:
            run(self.conn, "LISTEN " + channel)
        self.received = []

    def poll(self):
        select.select([self.conn], [], [], 0.1)
        self.conn.poll()
        while self.conn.notifies:
            n = self.conn.notifies.pop(0)
            self.received.append((n.channel, n.payload))
        return self.received

    def ids(self, channel):
        import json
        return sorted(row["id"] for c, p in self.poll() if c == channel for row in json.loads(p)["rows"])


def admin_connection():
    admin = connect("postgres")
    run(admin, "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS ectowatch")
    return admin


def status(admin, database):
    """(state, reason, pid) of a listed database; before 0.5.0 there is no state."""
    try:
        rows = run(admin, "SELECT state, reason, pid FROM ectowatch_relay_status WHERE database = %s", (database,))
    except psycopg2.errors.UndefinedColumn:
        rows = run(admin, "SELECT CASE WHEN pid IS NOT NULL THEN 'running' END, last_error, pid "
                          "FROM ectowatch_relay_status WHERE database = %s", (database,))
    return rows[0] if rows else None


def first_start():
    admin = admin_connection()
    writer = create_database(admin, "relay_first")
    run(writer, "SELECT ectowatch_watch('notes', 'inserted')")  # delivery 'notify'
    listener = Listener("relay_first", ["items_inserted", "notes_inserted", "ectowatch_resync"])
    # A transaction with an xid holds up the slot's initial snapshot: the worker
    # starts but cannot finish creating its slot while it is open.
    blocker = psycopg2.connect(dbname="postgres")
    run(blocker, "SELECT txid_current()")
    run(admin, "ALTER SYSTEM SET ectowatch.relay = on")
    set_relay_databases(admin, "relay_first")
    check(eventually(lambda: value(writer, "SHOW ectowatch.relay_databases") == "relay_first"
                     and value(writer, "SHOW ectowatch.relay") == "on"), "the setting reached the writer")
    check(eventually(lambda: (status(admin, "relay_first") or (None, None, None))[2] is not None),
          "the worker of relay_first started")
    check(status(admin, "relay_first")[0] == "starting", "while its slot is being created the database is 'starting'")
    error = error_of(writer, "SELECT ectowatch_watch('items', 'inserted', delivery => 'relay')")
    check(error is not None and "has not created its replication slot yet" in error[0]
          and error[1] == "55000" and error[2] != "",
          f"a relay watcher is refused before the slot exists, with reason, SQLSTATE and hint: {error}")
    # ectowatch.relay = on: these rows must go out directly, not into a WAL
    # that no slot will read.
    run(writer, "INSERT INTO notes VALUES (1), (2)")
    check(eventually(lambda: listener.ids("notes_inserted") == [1, 2], 30),
          f"with ectowatch.relay = on, rows committed before the slot existed arrive: {listener.ids('notes_inserted')}")
    blocker.rollback()
    blocker.close()
    check(eventually(lambda: (status(admin, "relay_first") or ("",))[0] == "running"),
          "the worker has its slot: 'running'")
    label = value(writer, "SELECT ectowatch_watch('items', 'inserted', delivery => 'relay')")
    check(label == "items_inserted", "then a relay watcher is accepted")
    run(writer, "INSERT INTO items VALUES (1)")
    run(writer, "INSERT INTO notes VALUES (3)")
    check(eventually(lambda: listener.ids("items_inserted") == [1] and listener.ids("notes_inserted") == [1, 2, 3], 30),
          "and its rows are relayed")
    check(all('"lsn"' in p for c, p in listener.poll() if c == "items_inserted"), "relayed rows carry their lsn")

    # The README's sequence on a fresh database: reload, then watch at once.
    other = create_database(admin, "relay_second")
    listener2 = Listener("relay_second", ["items_inserted"])
    set_relay_databases(admin, "relay_first, relay_second")
    check(eventually(lambda: value(other, "SHOW ectowatch.relay_databases") == "relay_first, relay_second"),
          "the new list reached the writer")
    label = value(other, "SELECT ectowatch_watch('items', 'inserted', delivery => 'relay')")
    run(other, "INSERT INTO items VALUES (1)")
    check(eventually(lambda: listener2.ids("items_inserted") == [1], 30),
          "reload then watch: the first row committed is relayed")
    set_relay_databases(admin, "relay_first")

    # The slot of relay_first is dropped while the worker is down, and rows
    # are written meanwhile: they cannot be relayed, so clients get a resync.
    before = len([1 for c, p in listener.poll() if c == "ectowatch_resync"])
    pid = status(admin, "relay_first")[2]
    run(admin, "SELECT pg_terminate_backend(%s)", (pid,))
    dropped = eventually(lambda: error_of(admin, "SELECT pg_drop_replication_slot(slot_name) FROM "
                                                 "ectowatch_relay_status WHERE database = 'relay_first'") is None, 30)
    check(dropped, "the relay slot of relay_first was dropped while its worker was down")
    run(writer, "INSERT INTO items VALUES (2)")
    check(eventually(lambda: len([1 for c, p in listener.poll() if c == "ectowatch_resync"]) > before, 60),
          "a slot that was relied on and dropped: every client gets a resync")
    run(writer, "INSERT INTO items VALUES (3)")
    check(eventually(lambda: 3 in listener.ids("items_inserted"), 30), "the new slot relays what follows")
    run(admin, "ALTER SYSTEM RESET ectowatch.relay")
    run(admin, "SELECT pg_reload_conf()")


def unserved():
    admin = admin_connection()
    served = connect("relay_first")
    lacking = create_database(admin, "relay_lacking")
    set_relay_databases(admin, "relay_first, relay_missing")
    check(eventually(lambda: (status(admin, "relay_missing") or ("",))[0] == "not served"),
          f"a database that does not exist is 'not served': {status(admin, 'relay_missing')}")
    reason = status(admin, "relay_missing")[1] or ""
    check('database "relay_missing" does not exist' in reason, f"with its reason: {reason}")
    # max_worker_processes = 4: the logical replication launcher, the relay
    # launcher and two relay workers.
    set_relay_databases(admin, "relay_first, relay_second, relay_lacking")
    check(eventually(lambda: (status(admin, "relay_lacking") or ("",))[0] == "not served"),
          f"a database without a worker slot is 'not served': {status(admin, 'relay_lacking')}")
    reason = status(admin, "relay_lacking")[1] or ""
    check("no free background worker slot (max_worker_processes = 4)" in reason, f"with its reason: {reason}")
    check(eventually(lambda: value(lacking, "SHOW ectowatch.relay_databases").endswith("relay_lacking")),
          "the list reached the writer")
    error = error_of(lacking, "SELECT ectowatch_watch('items', 'inserted', delivery => 'relay')")
    check(error is not None and "no free background worker slot" in error[0] and error[1] == "55000",
          f"a relay watcher is refused where no worker runs: {error}")
    check(status(admin, "relay_first")[0] == "running", "the database with a worker is still served")
    check(value(served, "SELECT ectowatch_relay_unavailable()") is None, "and relay watchers are accepted there")
    error = error_of(admin, "ALTER SYSTEM SET ectowatch.relay_databases = '" +
                     ",".join(f"d{i}" for i in range(20)) + "'")
    check(error is not None and "at most 16" in (error[0] + str(error)), f"a list of 20 databases is refused: {error}")
    set_relay_databases(admin, "relay_first")


def created_after_listing():
    """A database listed before it exists: the launcher's attempts fail and
    back off (1 s, 2 s, 4 s, 8 s ...). Once it is created, a relay watch there
    wakes the launcher and waits for the worker instead of failing on the
    stale reason "database does not exist" until the backoff passes."""
    admin = admin_connection()
    run(admin, "DROP DATABASE IF EXISTS relay_late")
    set_relay_databases(admin, "relay_first, relay_late")
    attempts = set()

    def failed_again():
        attempts.add(value(admin, "SELECT last_error_at FROM ectowatch_relay_status WHERE database = 'relay_late'"))
        attempts.discard(None)
        return len(attempts) >= 4

    check(eventually(failed_again), "the launcher tried relay_late (not created yet) 4 times: its backoff is 8 s now")
    late = create_database(admin, "relay_late")
    check(eventually(lambda: value(late, "SHOW ectowatch.relay_databases").endswith("relay_late")),
          "the list reached the new database")
    error = error_of(late, "SELECT ectowatch_watch('items', 'inserted', delivery => 'relay')")
    check(error is None, f"a relay watch there starts the worker, not a stale reason: {error}")
    check((status(admin, "relay_late") or ("",))[0] == "running", f"relay_late is served: {status(admin, 'relay_late')}")
    late.close()
    set_relay_databases(admin, "relay_first")
    check(eventually(lambda: status(admin, "relay_late") is None), "relay_late is no longer listed")
    # A de-listed database keeps its relay slot (a later listing resumes
    # from it): drop it once its worker has stopped, then the database.
    slot = "SELECT slot_name FROM pg_replication_slots s JOIN pg_database d ON d.oid = s.datoid WHERE d.datname = 'relay_late'"
    check(eventually(lambda: value(admin, slot + " AND s.active") is None), "its worker stopped")
    run(admin, f"SELECT pg_drop_replication_slot(({slot}))")
    run(admin, "DROP DATABASE relay_late WITH (FORCE)")


def no_plugin():
    admin = admin_connection()
    writer = create_database(admin, "relay_noplugin")
    set_relay_databases(admin, "relay_noplugin")
    check(eventually(lambda: (status(admin, "relay_noplugin") or ("",))[0] == "not served"),
          f"the worker cannot create its slot: 'not served': {status(admin, 'relay_noplugin')}")
    reason = status(admin, "relay_noplugin")[1] or ""
    check(reason.startswith("cannot create its replication slot"), f"with its reason: {reason}")
    check(eventually(lambda: value(writer, "SHOW ectowatch.relay_databases") == "relay_noplugin"),
          "the list reached the writer")
    error = error_of(writer, "SELECT ectowatch_watch('items', 'inserted', delivery => 'relay')")
    check(error is not None and "cannot create its replication slot" in error[0] and error[1] == "55000",
          f"a relay watcher is refused: {error}")
    set_relay_databases(admin, "relay_first")


{"first_start": first_start, "unserved": unserved, "no_plugin": no_plugin,
 "created_after_listing": created_after_listing}[sys.argv[1]]()
if failures:
    print(f"FAIL: {len(failures)} relay configuration check(s) failed")
sys.exit(1 if failures else 0)
