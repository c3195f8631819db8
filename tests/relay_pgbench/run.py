#!/usr/bin/python3
"""Relayed notifications reach every connected listener (issue 14, case 8).

A bounded loop of pgbench TPC-B runs on tables with relayed watchers. Two
psycopg2 listeners (threads), $CLISTEN_COUNT plain libpq listeners ($CLISTEN,
listen.c) and $PYPROC_COUNT single-threaded psycopg2 processes (listener.py)
stay connected through all runs; after each run, once the relay worker has
caught up, each listener must have received exactly as many notifications as
the worker says it sent (ectowatch_relay_status). When one did not, the
payloads it missed are printed (they carry the relay's "lsn").

Usage: run.py DSN RUNS SECONDS CLIENTS   (the database must be pgbench-initialised,
with the watchers of setup.sql and the database in ectowatch.relay_databases)
"""
import subprocess
import sys
import threading
import time

import psycopg2
import psycopg2.extensions

dsn, runs, seconds, clients = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
CHANNELS = ["pgbench_accounts_updated", "pgbench_tellers_updated", "pgbench_branches_updated",
            "pgbench_history_inserted"]


class Listener(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.conn = psycopg2.connect(dsn)
        self.conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        with self.conn.cursor() as cur:
            for channel in CHANNELS:
                cur.execute("LISTEN " + channel)
        self.lock = threading.Lock()
        self.count = 0
        self.payloads = []

    def run(self):
        import select
        while True:
            select.select([self.conn], [], [], 0.5)
            self.conn.poll()
            with self.lock:
                while self.conn.notifies:
                    n = self.conn.notifies.pop(0)
                    self.count += 1
                    self.payloads.append((n.channel, n.payload))

    def take(self):
        with self.lock:
            count, payloads = self.count, self.payloads
            self.count, self.payloads = 0, []
            return count, payloads


class CListener:
    """A third listener in plain libpq (path in $CLISTEN), to tell a client's loss from the server's."""

    def __init__(self, path):
        import os
        self.proc = subprocess.Popen([path, dsn] + CHANNELS, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.base = 0

    @property
    def count(self):
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline()) - self.base

    def take(self):
        count = self.count
        self.base += count
        return count, []


def sent(cur):
    cur.execute("SELECT notifications_sent, bytes_behind FROM ectowatch_relay_status "
                "WHERE database = current_database()")
    return cur.fetchone()


def quiet(cur, listeners):
    """Waits (bounded) until the worker has relayed everything and the counts stop moving."""
    last = None
    for _ in range(600):
        cur.execute("SELECT pg_current_wal_lsn()")
        now = sent(cur) + tuple(l.count for l in listeners)
        if now == last and now[1] is not None and now[1] < 100000:
            return now[0]
        last = now
        time.sleep(0.5)
    raise SystemExit("FAIL: the relay worker did not catch up")


admin = psycopg2.connect(dsn)
admin.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
cur = admin.cursor()
import os
# Two psycopg2 listeners, and as many plain libpq ones (listen.c) as
# $CLISTEN_COUNT says, to tell a client library's loss from the server's.
listeners = [Listener(), Listener()]
for listener in listeners:
    listener.start()
for _ in range(int(os.environ.get("CLISTEN_COUNT", "1")) if os.environ.get("CLISTEN") else 0):
    listeners.append(CListener(os.environ["CLISTEN"]))
for _ in range(int(os.environ.get("PYPROC_COUNT", "0"))):
    listeners.append(CListener(os.path.join(os.path.dirname(os.path.abspath(__file__)), "listener.py")))
before = quiet(cur, listeners)
for listener in listeners:
    listener.take()
failures = 0
for run in range(1, runs + 1):
    subprocess.run(["pgbench", "-n", "-c", str(clients), "-j", "1", "-T", str(seconds), dsn],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = quiet(cur, listeners)
    counts = [listener.take() for listener in listeners]
    expected = after - before
    line = (f"run {run}: worker sent {expected}, psycopg2 listeners got {counts[0][0]} and {counts[1][0]}" +
            "".join(f", other listener got {c}" for c, _ in counts[2:]))
    if any(c != expected for c, _ in counts):
        failures += 1
        from collections import Counter
        full = max(counts[:2], key=lambda c: c[0])[1]
        for c, payloads in counts[:2]:
            missing = Counter(full) - Counter(payloads)
            if missing:
                index = {p: i for i, p in enumerate(full)}
                line += "; missing: " + ", ".join(f"#{index[p]} {p[0]} {p[1][-40:]}" for p in list(missing)[:8])
    print(("FAIL " if any(c != expected for c, _ in counts) else "ok ") + line, flush=True)
    before = after
print(f"{runs - failures} of {runs} runs without a missing notification")
sys.exit(1 if failures else 0)
