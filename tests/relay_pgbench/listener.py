#!/usr/bin/python3
"""A single-threaded psycopg2 LISTEN client for run.py: counts notifications.

Usage: listener.py DSN CHANNEL... ; prints "ready" once listening, then on
every line read from stdin prints the total count so far, so the driver can
ask for counts at quiet moments.
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
while True:
    ready, _, _ = select.select([conn, sys.stdin], [], [], 1.0)
    if conn in ready:
        conn.poll()
        while conn.notifies:
            n = conn.notifies.pop(0)
            count += 1
    if sys.stdin in ready:
        line = sys.stdin.readline()
        if not line:
            break
        conn.poll()
        while conn.notifies:
            n = conn.notifies.pop(0)
            count += 1
        print(count, flush=True)
