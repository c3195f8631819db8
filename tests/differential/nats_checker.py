"""The differential checker on the NATS path (README, "The NATS path"):
PostgreSQL -> durable watchers -> `ectowatch bridge` -> a JetStream stream ->
readers, under faults drawn from the seed.

The cases are checker.py's (generate.py, with every watcher made durable:
only durable watchers reach the bridge), and so are the oracle (oracle.py's
audit triggers) and the comparison (checker.Run.compare). What differs:
- per case, a bridge with its own slot, stream and prefix (stream limits
  drawn from the seed), started before the readers;
- the readers: the stream read by stream sequence with nats_wire.py
  (StreamReader: no ectowatch code), and `ectowatch listen --nats --consumer`
  (NatsCliReader);
- faults drawn from the seed, each fired while a workload step runs:
  SIGKILL of the bridge (started again), SIGKILL of nats-server (started again
  on its store, after a pause), SIGKILL of the listening CLI (started again on
  its durable consumer), slow readers, and stream limits (max_msgs, max_age);
- extra checks: the stream holds each Nats-Msg-Id once, a stream reader's
  rows excused by a gap are no more than the messages it was told it missed,
  and neither the bridge nor the CLI stops by itself.

Usage (through `tests/differential/run --nats`, which also starts nats-server):
  nats_checker.py --seed N[,N...] [--minutes M | --seconds S | --cases C] [--case K] ...
Environment: NATS_URL, DIFF_NATS_DIR (the server's directory, scripts/lib/nats.sh),
DIFF_NATS_SABOTAGE=N (self-test: the stream reader loses every Nth row).
"""
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
import nats_readers  # noqa: E402
import nats_wire  # noqa: E402

NATS_URL = os.environ.get("NATS_URL", "")
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# Families of generate.py that do not reach the NATS path: forged NOTIFYs
# (notify delivery only) and the relay's first start (restarts relay workers).
ALWAYS_WITHOUT = ("forged", "first_start")
SABOTAGE = int(os.environ.get("DIFF_NATS_SABOTAGE", "0"))
# The same case with a stream that keeps everything: a row a gap excused is then a row that must arrive.
NO_LIMITS = bool(os.environ.get("DIFF_NATS_NO_LIMITS"))
checker.PRIORITY += ["stream_duplicate", "gap_count", "bridge_exit", "consumer_stalled"]


def plan(seed, number, workload):
    """The case's faults, from a random stream of their own (the case's
    schema, watchers and workload stay what generate.py makes of the seed).
    Step faults are keyed by the step object, so they follow it when
    shrinking removes other steps."""
    r = random.Random("%s:%s:nats" % (seed, number))
    p = {"limits": {}, "slow_cli": 0.0, "slow_stream": 0.0, "steps": {}}
    x = r.random()
    if x < 0.30:
        p["limits"]["max_msgs"] = r.choice([40, 150, 600])  # given to the bridge, which creates the stream
    elif x < 0.42:
        # The bridge refuses --max-age below its duplicate window (at least
        # 120 s: JetStream needs the window within max_age), so the checker
        # creates this stream itself, with a window as long as max_age, and
        # the bridge uses it as it is (README, "The stream").
        p["limits"]["max_age"] = r.choice([1, 3])
    if r.random() < 0.25:
        p["slow_cli"] = r.choice([0.001, 0.003])
    if r.random() < 0.2:
        p["slow_stream"] = r.choice([0.001, 0.003])
    for step in workload:
        if r.random() < 0.18:
            kind = r.choice(["bridge_kill", "bridge_kill", "nats_kill", "cli_kill"])
            p["steps"][id(step)] = {"kind": kind, "delay": r.uniform(0, 0.4), "down": r.uniform(0, 2.5)}
    if NO_LIMITS:
        p["limits"] = {}
    return p


def describe_plan(p, workload):
    parts = ["%s=%s" % kv for kv in sorted(p["limits"].items())]
    if p["slow_cli"]:
        parts.append("slow_cli=%gs/line" % p["slow_cli"])
    if p["slow_stream"]:
        parts.append("slow_stream=%gs/msg" % p["slow_stream"])
    for n, step in enumerate(workload):
        f = p["steps"].get(id(step))
        if f:
            parts.append("step %d: %s after %.2fs%s" % (n, f["kind"], f["delay"],
                                                          " (down %.1fs)" % f["down"] if f["kind"] == "nats_kill" else ""))
    return ", ".join(parts) or "none"


class SabotagedStreamReader(nats_readers.StreamReader):
    """Self-test (README): loses every Nth row it reads, without a word."""
    seen = 0

    def take(self, m):
        if b'"row"' in m["data"]:
            self.seen += 1
            if self.seen % SABOTAGE == 0:
                return
        super().take(m)


class SabotagedCliReader(nats_readers.NatsCliReader):
    """Self-test: forgets every Nth row line the CLI printed."""
    seen = 0

    def record(self, rec):
        if rec[1] == "row":
            self.seen += 1
            if self.seen % SABOTAGE == 0:
                return
        super().record(rec)


class NatsRun(checker.Run):
    def __init__(self, case, workload, verbose=False):
        super().__init__(case, workload, verbose)
        for w in case.watchers:
            w["delivery"] = "durable"  # the bridge publishes durable watchers only
        if not hasattr(case, "nats_plan"):
            case.nats_plan = plan(case.seed, case.number, case.workload)
        self.plan = case.nats_plan
        n = case.number
        self.stream, self.prefix, self.slot = "DC%d" % n, "dcn%d" % n, "dcnb%d" % n
        self.faults = []  # (time, kind) fired
        self.nats_restarts = 0
        self.bridge = None
        self.duplicate_window = 120  # seconds: the bridge's default, for the streams it creates

    def marker_deliveries(self):
        return ["durable"]

    def marker_seen(self, reader, first_id):
        label = self.markers["durable"]
        return any(rec[1] == "row" and rec[2] == label and int(rec[4].get("id", 0)) >= first_id
                   for rec in list(reader.records))

    def wait_markers(self, first_id, timeout, repeat):
        # Slow readers and restarts take longer than the PostgreSQL readers.
        late = super().wait_markers(first_id, max(timeout, 120), repeat)
        if first_id > 1 and not late:
            self.wait_bridge_settled(40)
            self.wait_consumers_idle(75)
        return late

    def wait_bridge_settled(self, timeout):
        """The final marker is in, but after a nats-server restart the bridge
        publishes again what JetStream did not acknowledge once its ack
        timeout (5 s) passes: those rows land after the marker (docs/protocol.md,
        "Order"). Settled when a --stats line printed after now says nothing
        is in flight, and the stream reader found nothing new after it."""
        if not self.bridge:
            return
        start = time.time()
        settled_at = None
        while time.time() - start < timeout and settled_at is None:
            time.sleep(0.5)
            stats = self.bridge.stats_since(start)
            if stats and stats.get("in_flight") == 0:
                settled_at = time.time()
        if settled_at is None:
            self.notes.append("the bridge still had messages in flight %.0f s after the final marker" % timeout)
            return
        while time.time() - settled_at < 10 and self.readers[0].caught_up_at <= settled_at:
            time.sleep(0.1)

    def wait_consumers_idle(self, timeout):
        """The final marker arrived, but a durable consumer may still owe
        messages: those a killed CLI had been sent and had not acknowledged
        come again only after JetStream's ack wait (30 s), after newer ones.
        Everything has arrived when the CLI's consumers have nothing pending
        and nothing unacknowledged."""
        start = time.time()
        busy = None
        while time.time() - start < timeout:
            busy = nats_wire.consumers_busy(NATS_URL, self.stream)
            if busy == {}:
                break
            time.sleep(0.5)
        waited = time.time() - start
        if busy:
            self.fail("consumer_stalled", "nats-cli", "-", "%.0f s after the final marker its consumers still owe "
                      "messages (pending, unacknowledged): %s" % (waited, busy))
        if waited > 1:
            self.notes.append("waited %.1f s for the CLI's consumers to be acknowledged" % waited)
            self.stats["redelivery_waits"] += 1
        time.sleep(0.5)  # what the CLI printed before its acks reaches the reader
        if self.plan["limits"] and any(k == "cli_kill" for _, k in self.faults):
            # What a killed CLI had been sent and the stream's limits removed
            # before it came again: the server counts it acknowledged, and the
            # restarted CLI, which looks for it once a second (NatsSource's
            # owed messages), resyncs.
            time.sleep(2)

    def start_readers(self):
        b = self.ctx.build
        env = checker.readers.env_without_asan_noise()
        nats_wire.delete_stream(NATS_URL, self.stream)  # a previous run of this case (shrinking)
        args = ["--slot", self.slot, "--nats", NATS_URL, "--stream", self.stream, "--prefix", self.prefix,
                "--stats", "--stats-interval", "1"]
        self.duplicate_window = 120
        if "max_age" in self.plan["limits"]:
            self.duplicate_window = self.plan["limits"]["max_age"]
            nats_wire.create_stream(NATS_URL, self.stream, [self.prefix + ".>"], self.duplicate_window,
                                    self.duplicate_window)
        if "max_msgs" in self.plan["limits"]:
            args += ["--max-msgs", str(self.plan["limits"]["max_msgs"])]
        log = os.path.join(self.ctx.nats_logs, "bridge.case%d.log" % self.case.number)
        self.bridge = nats_readers.Bridge(os.path.join(b, "ectowatch"), args, env, log)
        self.slots = [self.slot]
        if not nats_wire.wait_stream(NATS_URL, self.stream, 30):
            self.fail("bridge_exit", "bridge", "-", "the stream was not created in 30 s; the bridge's log: %s"
                      % self.bridge.log_tail())
        labels = sorted(set(self.labels_by_delivery()["durable"]))
        stream_reader = SabotagedStreamReader if SABOTAGE else nats_readers.StreamReader
        cli_reader = SabotagedCliReader if SABOTAGE else nats_readers.NatsCliReader
        self.readers = [stream_reader(NATS_URL, self.stream, self.prefix, slow=self.plan["slow_stream"]),
                        cli_reader(os.path.join(b, "ectowatch"), NATS_URL, self.stream, self.prefix,
                                   "dcc%d" % self.case.number, labels, env, slow=self.plan["slow_cli"])]
        for r in self.readers:
            r.labels = set(labels)

    # --- faults -----------------------------------------------------------------------
    def fire(self, f):
        time.sleep(f["delay"])
        kind = f["kind"]
        self.faults.append((time.time(), kind))
        if kind == "bridge_kill":
            self.bridge.kill9()
        elif kind == "cli_kill":
            self.readers[1].kill9()
        elif kind == "nats_kill":
            self.nats_restarts += 1
            script = ('source scripts/lib/nats.sh; NATS_DIR="$DIFF_NATS_DIR"; kill_nats; sleep %.2f; '
                      'start_nats_single' % f["down"])
            with open(os.path.join(self.ctx.nats_logs, "nats_restart.log"), "a") as log:
                code = subprocess.run(["bash", "-c", script], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log).returncode
            if code != 0:
                self.notes.append("nats-server restart failed (%d)" % code)

    def run_step(self, step, n):
        f = self.plan["steps"].get(id(step))
        t = None
        if f:
            t = threading.Thread(target=self.fire, args=(f,))
            t.start()
        super().run_step(step, n)
        if t:
            t.join()

    def repeats_allowed(self, r):
        # At-least-once: a consumer killed, or a server restarted, before its
        # acks were stored gets those messages again (README, "Scaling out").
        return r.name == "nats-cli" and any(k in ("cli_kill", "nats_kill") for _, k in self.faults)

    def order_checked(self, r):
        # docs/protocol.md, "Order": after a NATS restart the bridge publishes
        # again what was not acknowledged, and a row can land after rows
        # committed after it. And a CLI killed before it acknowledged what it
        # had been sent gets that again after the ack wait (30 s), after
        # newer messages (README, "The NATS path": found by this checker).
        cli_killed = any(k == "cli_kill" for _, k in self.faults)
        return self.nats_restarts == 0 and not (r.name == "nats-cli" and cli_killed)

    # --- the comparison -----------------------------------------------------------------
    def compare(self):
        code = self.bridge.stop() if self.bridge else 0
        for exit_code, line in self.bridge.exits if self.bridge else []:
            self.notes.append("the bridge exited %s by itself, started again: %s" % (exit_code, line))
            self.stats["bridge_exits"] += 1
        if code not in (0,):
            self.fail("bridge_exit", "bridge", "-", "the bridge exited %s (SIGTERM at the end must give 0); its "
                      "log: %s" % (code, self.bridge.log_tail()))
        for r in self.readers:
            if isinstance(r, nats_readers.NatsCliReader):
                # What the CLI says on stderr about a server going away is the
                # resync's business (its reconnects), as for the PostgreSQL readers.
                r.records = [rec if rec[1] != "error" or not self.benign(rec[2]) else (rec[0], "note", rec[2])
                             for rec in r.records]
        super().compare()
        s = self.readers[0]
        # Exactly once into the stream within its duplicate window (README,
        # "Guarantees"); a copy stored later than that is allowed, and counted.
        within = [d for d in s.duplicates if d[3] <= self.duplicate_window]
        self.stats["stream_duplicates_beyond_window"] += len(s.duplicates) - len(within)
        self.stats["stream_copies_after_restart"] += s.restored
        if self.nats_restarts and self.plan["limits"]:
            # JetStream rebuilds its duplicate window, after a restart, from
            # the messages the stream still holds: one its limits had removed
            # is stored again when the bridge publishes it again (its ack was
            # lost with the server). Documented (README, "Guarantees"); counted.
            removed = [d for d in within if d[1] < s.first_seq]
            self.stats["stream_copies_after_restart"] += len(removed)
            within = [d for d in within if d[1] >= s.first_seq]
        if within:
            self.fail("stream_duplicate", s.name, "-", "%d messages stored twice within the %d s duplicate window "
                      "(Nats-Msg-Id, first and second stream sequence, seconds apart): %s" % (
                          len(within), self.duplicate_window, within[:3]))
        excused = self.stats["excused_resync_" + s.name]
        # A ~dropped marker is one sequence for as many rows as its count: the
        # rows the bridge published as such may be excused by a gap beyond it.
        dropped = self.bridge.dropped_rows() if self.bridge else 0
        if excused > s.gap + dropped:
            self.fail("gap_count", s.name, "-", "%d missing rows excused by gaps, but only %d stream sequences were "
                      "missed (and %d rows published as ~dropped)" % (excused, s.gap, dropped))
        self.stats["stream_messages"] += s.read
        self.stats["stream_gap"] += s.gap
        self.stats["faults"] += len(self.faults)
        self.stats["fault_slow_cli"] += 1 if self.plan["slow_cli"] else 0
        self.stats["fault_slow_stream"] += 1 if self.plan["slow_stream"] else 0
        for _, k in self.faults:
            self.stats["fault_" + k] += 1
        for k, v in self.plan["limits"].items():
            self.stats["limit_" + k] += 1

    def benign(self, text):
        t = text.lower()
        return bool(self.faults or self.restarted) and any(
            p in t for p in ("disconnect", "reconnect", "connect to", "connection", "io error", "timeout",
                           "no responders", "no server"))

    def cleanup(self):
        super().cleanup()
        nats_wire.delete_stream(NATS_URL, self.stream)
        if self.verbose:
            self.notes.insert(0, "faults: %s; stream: %d messages read, %d missed (told)" % (
                describe_plan(self.plan, self.workload), self.readers[0].read, self.readers[0].gap))

    @staticmethod
    def summary(totals):
        return "NATS: %d stream messages read, %d missed and told (gaps), faults fired: %s; cases with limits: %s; " \
               "duplicates flagged: %s, stream copies beyond the duplicate window: %d, of removed or lost messages after a " \
               "nats-server restart: %d; bridge exits by itself (restarted): %d" % (
                   totals["stream_messages"], totals["stream_gap"],
                   {k[6:]: v for k, v in sorted(totals.items()) if k.startswith("fault_")},
                   {k[6:]: v for k, v in sorted(totals.items()) if k.startswith("limit_")},
                   {k[11:]: v for k, v in sorted(totals.items()) if k.startswith("duplicates_")},
                   totals["stream_duplicates_beyond_window"], totals["stream_copies_after_restart"],
                   totals["bridge_exits"])


def report(case, failures, steps, tries, run):
    return "%s\n-- NATS faults: %s\n-- bridge log (last lines): %s" % (
        checker_report(case, failures, steps, tries, run), describe_plan(case.nats_plan, steps),
        run.bridge.log_tail(8) if run.bridge else [])


checker_report, checker.report = checker.report, report


def main():
    checker.Ctx.replay = "tests/differential/run --nats"
    # The bridges' logs: a directory per run (DIFF_NATS_LOGS keeps them after it).
    logs = os.environ.get("DIFF_NATS_LOGS") or os.environ.get("DIFF_NATS_DIR", "/tmp")
    checker.Ctx.nats_logs = os.path.join(logs, "logs-%s-%d" % (time.strftime("%Y%m%d-%H%M%S"), os.getpid()))
    os.makedirs(checker.Ctx.nats_logs, exist_ok=True)
    checker.main(run_class=NatsRun, name="differential (NATS)", always_without=ALWAYS_WITHOUT)


if __name__ == "__main__":
    main()
