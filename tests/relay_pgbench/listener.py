#!/usr/bin/python3
"""A LISTEN client that counts notifications per channel (psycopg2).

Usage: listener.py DSN CHANNEL... ; prints "ready" once listening, then on
every line read from stdin prints the total count so far (and "(channel,
payload) duplicates" seen), so a driver can ask for counts at quiet moments.
"""
import select
import sys

import psycopg2
import psycopg2.extensions

conn = psycopg2.connect(sys.argv[1])
conn.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
cur = conn.cursor()
for channel in sys.argv[2:]:
    cur.execute("LISTEN " + channel)
print("ready", flush=True)
count = 0
pid_counts = {}
while True:
    ready, _, _ = select.select([conn, sys.stdin], [], [], 1.0)
    if conn in ready:
        conn.poll()
        while conn.notifies:
            n = conn.notifies.pop(0)
            count += 1
            pid_counts[n.pid] = pid_counts.get(n.pid, 0) + 1
    if sys.stdin in ready:
        line = sys.stdin.readline()
        if not line:
            break
        conn.poll()
        while conn.notifies:
            n = conn.notifies.pop(0)
            count += 1
            pid_counts[n.pid] = pid_counts.get(n.pid, 0) + 1
        print(count, flush=True)
