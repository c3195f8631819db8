"""The readers the checker compares: a psycopg2 LISTEN client, the C++ client
(tests/differential/reader.cpp), the CLI (`ectowatch listen`), and durable slot
consumers (the C++ client with Durable, `ectowatch listen --slot`).

Each reader keeps a list of records (receive time, kind, fields) in one shape:
  ("row", label, op, row_dict, truncated, lsn_or_None)
  ("dropped", label, count) ("truncated", label) ("resync", reason)
  ("error", text)
"""
import json
import os
import select
import subprocess
import threading
import time
from decimal import Decimal

import psycopg2
import psycopg2.extensions


def parse_json(text):
    # Decimal for every number: exact, also beyond a double (1e400).
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


class PsycopgReader:
    """LISTEN with psycopg2; reconnects by itself and records a resync."""
    name = "psycopg2"
    durable = False

    def __init__(self, dsn, labels):
        self.dsn, self.labels = dsn, labels
        self.records = []
        self.payloads = []  # (label, payload) in order, for collapse explanations
        self.stop_flag = False
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def connect(self):
        conn = psycopg2.connect(self.dsn, application_name="differential_psycopg2")
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
        cur = conn.cursor()
        for label in self.labels:
            cur.execute('LISTEN "%s"' % label)
        return conn

    def loop(self):
        conn = None
        first = True
        while not self.stop_flag:
            try:
                if conn is None:
                    conn = self.connect()
                    if not first:
                        self.records.append((time.time(), "resync", "reconnected"))
                    first = False
                    self.ready.set()
                if select.select([conn], [], [], 0.2)[0]:
                    conn.poll()
                    while conn.notifies:
                        n = conn.notifies.pop(0)
                        self.take(n.channel, n.payload)
            except psycopg2.Error:
                try:
                    conn and conn.close()
                except Exception:
                    pass
                conn = None
                time.sleep(0.2)
        if conn:
            conn.close()

    def take(self, channel, payload):
        now = time.time()
        self.payloads.append((channel, payload))
        try:
            m = parse_json(payload)
            if m.get("v") != 1 or m.get("label") != channel:
                raise ValueError("not a v1 message of this channel")
        except Exception as e:
            self.records.append((now, "error", "psycopg2 cannot read %r: %s" % (payload[:200], e)))
            return
        if m["op"] == "truncated":
            self.records.append((now, "truncated", channel, m.get("lsn")))  # relayed: repeats share it
        for row in m.get("rows", []):
            self.records.append((now, "row", channel, m["op"], row, bool(m.get("truncated")), m.get("lsn")))
        if m.get("dropped"):
            self.records.append((now, "dropped", channel, int(m["dropped"])))

    def stop(self):
        self.stop_flag = True
        self.thread.join(5)


class ProcessReader:
    """A child process printing JSON lines: the C++ reader or the CLI."""

    def __init__(self, name, argv, durable, env=None):
        self.name, self.durable = name, durable
        self.records = []
        self.stderr_lines = []
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                                     encoding="utf-8", errors="surrogateescape")
        self.threads = [threading.Thread(target=self.read_out, daemon=True),
                        threading.Thread(target=self.read_err, daemon=True)]
        for t in self.threads:
            t.start()

    def read_err(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
            self.records.append((time.time(), "error", "%s stderr: %s" % (self.name, line.rstrip()[:300])))

    def read_out(self):
        for line in self.proc.stdout:
            now = time.time()
            try:
                o = parse_json(line)
            except Exception as e:
                self.records.append((now, "error", "%s printed bad JSON %r: %s" % (self.name, line[:200], e)))
                continue
            self.take(now, o)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for t in self.threads:
            t.join(5)


class CppReader(ProcessReader):
    def __init__(self, binary, labels, slot=None):
        argv = [binary] + (["--slot", slot] if slot else []) + labels
        super().__init__("cpp-durable" if slot else "cpp", argv, bool(slot))

    sabotage = int(os.environ.get("DIFF_SABOTAGE", "0"))  # self-test: lose every Nth row
    seen = 0

    def take(self, now, o):
        r = o.get("r")
        if r == "row" and self.sabotage:
            self.seen += 1
            if self.seen % self.sabotage == 0:
                return
        if r == "row":
            self.records.append((now, "row", o["label"], o["op"], o["row"], o["truncated"], int(o["lsn"]) or None))
        elif r == "dropped":
            self.records.append((now, "dropped", o["label"], int(o["count"])))
        elif r == "truncated":
            self.records.append((now, "truncated", o["label"]))
        elif r == "resync":
            if o["reason"] in ("truncated", "dropped"):
                return  # per label, already seen as its event
            self.records.append((now, "resync", o["reason"]))
        elif r in ("error", "fatal"):
            self.records.append((now, "error", "cpp: " + o["what"]))


class CliReader(ProcessReader):
    def __init__(self, binary, labels, slot=None):
        argv = [binary, "listen"] + (["--slot", slot] if slot else []) + labels
        super().__init__("cli-durable" if slot else "cli", argv, bool(slot))
        self.given = set(labels)  # only labels that had a watcher when it started

    def take(self, now, o):
        if "event" in o:
            e = o["event"]
            if e == "resync":
                self.records.append((now, "resync", "resync"))
            elif e == "dropped":
                self.records.append((now, "dropped", o["label"], int(o["count"])))
            elif e == "truncated":
                self.records.append((now, "truncated", o["label"]))
            return
        self.records.append((now, "row", o["label"], o["op"], o["row"], bool(o.get("truncated")), None))


def wait_ready(readers, timeout):
    deadline = time.time() + timeout
    for r in readers:
        if isinstance(r, PsycopgReader):
            r.ready.wait(max(0.0, deadline - time.time()))


def env_without_asan_noise():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    return env
