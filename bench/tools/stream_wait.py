#!/usr/bin/env python3
"""Section 6 of bench/run: waits until a JetStream stream holds COUNT messages.

Usage: stream_wait.py MONITOR_PORT STREAM COUNT PID
Polls nats-server's monitoring endpoint (/jsz) every 50 ms, sampling the
resident memory of PID (the bridge) each time, and prints one line when the
stream is full: "<epoch ms> <largest RSS kB> <RSS kB halfway>".

One process for the whole wait: a shell loop that starts curl and python3 per
poll costs the 2-core machine CPU (python3's start alone took 0.7 s of CPU at
load 8) that the bare publisher's run does not pay, and polled only every
2-3 s there.
"""
import json
import sys
import time
import urllib.request


def messages(url, stream):
    with urllib.request.urlopen(url) as answer:
        for account in json.load(answer).get("account_details", []):
            for detail in account.get("stream_detail", []):
                if detail["name"] == stream:
                    return detail["state"]["messages"]
    return 0


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    port, stream, count, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    url = f"http://127.0.0.1:{port}/jsz?streams=true"
    samples = []
    while messages(url, stream) < count:
        samples.append(rss_kb(pid))
        time.sleep(0.05)
    done_ms = int(time.time() * 1000)
    samples.append(rss_kb(pid))
    print(done_ms, max(samples), samples[len(samples) // 2])


main()
