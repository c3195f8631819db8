#!/usr/bin/python3
"""A listener that reads the queue while the relay worker is committing (issue 14, case 8).

The relay worker's NOTIFY transaction queues its notifications (PreCommit_Notify)
before it marks itself committed in the clog. A listener that reads the queue in
between must wait for that transaction, never take it for aborted. This test
holds the worker exactly there with a gdb breakpoint on the clog commit
(TransactionIdCommitTree / TransactionIdAsyncCommitTree), lets a later
transaction complete, and makes a listener read the queue then:

  1. L1 LISTENs, then sits idle in a transaction block, where PostgreSQL keeps
     a notify interrupt pending instead of reading the queue;
  2. round 1: an UPDATE is relayed and committed (L1's interrupt stays pending);
  3. gdb stops the worker at the clog commit of round 2's NOTIFY transaction;
  4. another session completes a transaction with a later xid;
  5. L1 commits and so reads the queue: round 1, and round 2 still uncommitted;
  6. the worker goes on; L1 must in the end have both rounds, like L2.

Before the fix L1 never got round 2: the worker holds a logical slot, so its
xid was missing from L1's snapshot, and the clog said "not committed" =
aborted. Usage: check.py DSN GDB_DIR (GDB_DIR: a scratch directory)
"""
import os
import subprocess
import sys
import time

import psycopg2
import psycopg2.extensions

dsn, scratch = sys.argv[1], sys.argv[2]
hit, go, attached = (os.path.join(scratch, name) for name in ("hit", "go", "attached"))


def connect(autocommit=True):
    conn = psycopg2.connect(dsn)
    if autocommit:
        conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
    return conn


def drain(conn):
    conn.poll()
    payloads = [n.payload for n in conn.notifies]
    del conn.notifies[:]
    return payloads


def wait_for(predicate, what, seconds=30):
    deadline = time.time() + seconds
    while not predicate():
        if time.time() > deadline:
            raise SystemExit(f"FAIL: timed out waiting for {what}")
        time.sleep(0.05)


admin = connect()
cur = admin.cursor()
def worker_pid():
    cur.execute("SELECT pid FROM ectowatch_relay_status WHERE database = current_database() AND state = 'running'")
    row = cur.fetchone()
    return row[0] if row else None
wait_for(worker_pid, "the relay worker")
pid = worker_pid()

l1 = connect(autocommit=False)
l1.cursor().execute("LISTEN t_updated")
l1.commit()
l2 = connect()
l2.cursor().execute("LISTEN t_updated")
l1.cursor().execute("SELECT 1")  # 1. idle in transaction from here on

got2 = []
cur.execute("UPDATE t SET v = v + 1 WHERE id = 1")  # 2. round 1
wait_for(lambda: got2.extend(drain(l2)) or len(got2) == 1, "round 1 at the idle listener")

gdb = subprocess.Popen(
    ["gdb", "-p", str(pid), "-batch", "-ex", "break TransactionIdCommitTree", "-ex",
     "break TransactionIdAsyncCommitTree", "-ex", f"shell touch {attached}", "-ex", "continue", "-ex",
     f"shell touch {hit}", "-ex", f"shell while [ ! -f {go} ]; do sleep 0.05; done", "-ex", "detach"],
    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
try:
    wait_for(lambda: os.path.exists(attached) or gdb.poll() is not None, "gdb to attach")
    if not os.path.exists(attached):
        raise SystemExit("FAIL: gdb could not attach to the relay worker (it needs ptrace: run as root, "
                         "or with kernel.yama.ptrace_scope = 0):\n" + gdb.stdout.read())
    cur.execute("UPDATE t SET v = v + 1 WHERE id = 2")  # 3. round 2
    wait_for(lambda: os.path.exists(hit), "the worker to reach its clog commit")
    cur.execute("SELECT txid_current()")  # 4. a later xid completes
    l1.commit()  # 5. L1 reads the queue
    time.sleep(1)
    during = drain(l1)
finally:
    open(go, "w").close()
    try:
        gdb.wait(timeout=30)
    except subprocess.TimeoutExpired:
        gdb.kill()
if len(during) != 1:
    raise SystemExit(f"FAIL: the scenario did not happen: L1 read {len(during)} notifications while the "
                     "worker was held (expected round 1 only)")
# 6. the worker commits round 2 and signals both listeners.
got1 = list(during)
wait_for(lambda: got2.extend(drain(l2)) or len(got2) == 2, "round 2 at the idle listener")
l1.cursor().execute("SELECT 1")
l1.commit()
deadline = time.time() + 5
while len(got1) < 2 and time.time() < deadline:
    got1.extend(drain(l1))
    time.sleep(0.05)
if got1 != got2:
    print("FAIL: the listener that read the queue while the relay worker was committing missed its "
          "transaction\n  it got:   " + "\n            ".join(got1) + "\n  expected: " + "\n            ".join(got2))
    sys.exit(1)
print("ok a listener reading the queue during the relay worker's commit got all of its notifications")
