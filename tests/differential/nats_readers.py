"""The readers of the NATS differential checker (README, "The NATS path"), in
the record shape of readers.py:

- StreamReader reads every message of the bridge's stream by stream sequence
  with nats_wire.py (no ectowatch code, no NATS library): subject, headers,
  payload. A sequence it can no longer read (removed by the stream's limits)
  is a gap it is told of: a ("resync", "aged_out") record, and its count.
- NatsCliReader is `ectowatch listen --nats --consumer NAME`: at-least-once,
  killed with SIGKILL and started again on the same durable consumer.

And Bridge, the `ectowatch bridge` process the faults kill and start again.
"""
import hashlib
import json
import os
import signal
import subprocess
import threading
import time
from decimal import Decimal

import nats_wire
from readers import parse_json

SUBJECT_PLAIN = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def key_token(value):
    """docs/protocol.md, "Key tokens", written again from the text: the token
    of a string or integer key value (None for other JSON values: not checked)."""
    if value is None:
        return "~~"
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        if value != value.to_integral_value() or "." in str(value) or "E" in str(value).upper():
            return None
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    raw = text.encode("utf-8")
    if not raw:
        return "~"
    token = "".join(chr(b) if b in SUBJECT_PLAIN else "~%02X" % b for b in raw)
    if len(token) > 256:
        return "~h" + hashlib.sha256(raw).hexdigest()
    return token


class StreamReader:
    name = "nats-stream"
    durable = False  # a gap it was told of excuses the rows before it
    nats = True

    def __init__(self, url, stream, prefix, slow=0.0):
        self.url, self.stream, self.prefix, self.slow = url, stream, prefix, slow
        self.records = []
        self.ids = {}  # Nats-Msg-Id -> (stream sequence, stored time) of its first copy
        self.duplicates = []  # (id, first seq, seq, seconds between the two stored times)
        self.first_seq = 1  # the stream's first sequence when last looked at
        self.sequences = []  # (seq, Nats-Msg-Id, subject) of each message read
        self.lost_tail = []  # (first, last) sequences read, then lost by a server restart
        self.restored = 0  # copies stored again of messages read in a lost tail
        self.seq_ids = {}  # stream sequence -> Nats-Msg-Id of the message read there
        self.gap = 0  # messages removed before this reader read them
        self.read = 0
        self.next_seq = 1
        self.stop_flag = False
        self.caught_up_at = 0.0  # when it last found nothing new
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def error(self, text):
        self.records.append((time.time(), "error", "nats-stream: " + text))

    def told_gap(self, n, why):
        self.gap += n
        self.records.append((time.time(), "resync", "aged_out"))
        self.records.append((time.time(), "note", "%d messages %s" % (n, why)))

    def check_tail(self, conn, first, last):
        """After a reconnect: a nats-server SIGKILL can lose the stream's
        tail, which this reader may have read, and the sequences then go to
        what is stored next (the bridge publishes again what was not
        acknowledged). Where the messages read no longer match, read again; a
        copy of a message read in the lost tail is not a duplicate
        (`restored`)."""
        read_through = self.next_seq - 1
        seq = min(read_through, last)
        while seq >= max(first, read_through - 4096, 1) and seq in self.seq_ids:
            m = nats_wire.get_messages(conn, self.stream, [seq])[0]
            if m is not None and m["headers"].get("Nats-Msg-Id", "") == self.seq_ids[seq]:
                break
            seq -= 1
        lost_from = max(seq + 1, 1)
        if lost_from <= read_through:
            self.records.append((time.time(), "note", "nats-stream: sequences %d-%d read before a server restart "
                                 "were lost by it (the stream's last is %d): reading them again"
                                 % (lost_from, read_through, last)))
            self.lost_tail.append((lost_from, read_through))
            self.next_seq = lost_from

    def loop(self):
        conn = None
        reconnected = False
        while not self.stop_flag:
            try:
                if conn is None:
                    conn = nats_wire.Connection(self.url)
                info = nats_wire.stream_info(conn, self.stream)
                if info is None:
                    time.sleep(0.1)
                    continue
                state = info["state"]
                first, last = state["first_seq"], state["last_seq"]
                self.first_seq = first
                if reconnected:
                    reconnected = False
                    self.check_tail(conn, first, last)
                if self.next_seq < first:
                    self.told_gap(first - self.next_seq, "removed by the stream's limits before read "
                                  "(sequences %d-%d)" % (self.next_seq, first - 1))
                    self.next_seq = first
                if self.next_seq > last:
                    self.caught_up_at = time.time()
                    time.sleep(0.05)
                    continue
                seqs = list(range(self.next_seq, min(last, self.next_seq + 63) + 1))
                for seq, m in zip(seqs, nats_wire.get_messages(conn, self.stream, seqs)):
                    if m is None:
                        self.told_gap(1, "at sequence %d not found" % seq)
                    else:
                        self.take(m)
                        if self.slow:
                            time.sleep(self.slow)
                    self.next_seq = seq + 1
            except (OSError, nats_wire.NatsError, ValueError, KeyError):
                # The server restarting: read on from the same sequence.
                if conn:
                    conn.close()
                conn = None
                reconnected = True
                time.sleep(0.2)
        if conn:
            conn.close()

    def take(self, m):
        now = time.time()
        self.read += 1
        h = m["headers"]
        mid = h.get("Nats-Msg-Id", "")
        self.seq_ids[m["seq"]] = mid
        if not mid:
            self.error("message %d (%s) without Nats-Msg-Id" % (m["seq"], m["subject"]))
        stored = nats_wire.stored_time(m["time"]) if m.get("time") else 0.0
        if mid in self.ids:
            first_seq, first_stored = self.ids[mid]
            if any(lo <= first_seq <= hi for lo, hi in self.lost_tail):
                self.restored += 1  # the server lost the first copy: this one is the stream's
                self.ids[mid] = (m["seq"], stored)
                return
            # Judged by the checker against the stream's duplicate window; the
            # copy is not a row of its own.
            self.duplicates.append((mid, first_seq, m["seq"], round(stored - first_stored, 3)))
            return
        if mid:
            self.ids[mid] = (m["seq"], stored)
        self.sequences.append((m["seq"], mid, m["subject"]))  # for --dump
        try:
            p = parse_json(m["data"].decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            self.error("message %d: payload is not JSON: %s" % (m["seq"], e))
            return
        label = p.get("label")
        tokens = m["subject"].split(".")
        ptokens = self.prefix.split(".")
        if tokens[:len(ptokens)] != ptokens or len(tokens) <= len(ptokens) + 1 or tokens[len(ptokens)] != label:
            self.error("message %d: subject %r is not %s.<label %s>.<...>" % (m["seq"], m["subject"], self.prefix,
                                                                           label))
            return
        rest = tokens[len(ptokens) + 1:]
        if h.get("Ectowatch-Label") != label:
            self.error("message %d: Ectowatch-Label %r, payload label %r" % (m["seq"], h.get("Ectowatch-Label"),
                                                                            label))
        if "event" in p:
            e = p["event"]
            if rest != ["~" + e]:
                self.error("message %d: %s event on subject %r" % (m["seq"], e, m["subject"]))
            if e == "truncated":
                self.records.append((now, "truncated", label))
            elif e == "dropped":
                self.records.append((now, "dropped", label, int(p["count"])))
            elif e == "resync":
                self.records.append((now, "resync", p.get("reason", "resync")))
            else:
                self.error("message %d: unknown event %r" % (m["seq"], e))
            return
        row = p.get("row")
        if not isinstance(row, dict) or p.get("op") not in ("inserted", "updated", "deleted"):
            self.error("message %d: not a row message: %r" % (m["seq"], m["data"][:200]))
            return
        if h.get("Ectowatch-Op") != p["op"] or h.get("Ectowatch-Lsn") != p.get("lsn"):
            self.error("message %d: headers %s do not match the payload's op %s and lsn %s" % (
                m["seq"], h, p["op"], p.get("lsn")))
        # The subject's key tokens are the first N columns of the row (docs/protocol.md).
        values = list(row.values())[:len(rest)]
        for token, value in zip(rest, values):
            want = key_token(value)
            if want is not None and want != token:
                self.error("message %d: subject token %r, but the row's key %r escapes to %r" % (
                    m["seq"], token, value, want))
        # No lsn: the stream must hold each row once, so a copy is never set
        # aside as a redelivery (Nats-Msg-Id duplicates are counted above).
        self.records.append((now, "row", label, p["op"], row, bool(p.get("truncated")), None))

    def stop(self):
        self.stop_flag = True
        self.thread.join(10)


class NatsCliReader:
    """`ectowatch listen --nats URL --stream S --prefix P --consumer C LABEL...`."""
    name = "nats-cli"
    durable = False
    nats = True

    def __init__(self, binary, url, stream, prefix, consumer, labels, env, slow=0.0):
        self.argv = [binary, "listen", "--nats", url, "--stream", stream, "--prefix", prefix,
                     "--consumer", consumer] + labels
        self.env, self.slow = env, slow
        self.records = []
        self.kills = 0
        self.procs = []
        self.threads = []
        self.start()

    def start(self):
        proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                                text=True, encoding="utf-8", errors="surrogateescape")
        self.procs.append(proc)
        for target in (self.read_out, self.read_err):
            t = threading.Thread(target=target, args=(proc,), daemon=True)
            t.start()
            self.threads.append(t)

    def kill9(self):
        """SIGKILL, then the same consumer again."""
        p = self.procs[-1]
        p.kill()
        p.wait()
        self.kills += 1
        self.start()

    def read_err(self, proc):
        for line in proc.stderr:
            self.records.append((time.time(), "error", "nats-cli stderr: " + line.rstrip()[:300]))

    def read_out(self, proc):
        for line in proc.stdout:
            now = time.time()
            if not line.endswith("\n"):
                if proc.poll() is not None and proc.returncode == -signal.SIGKILL:
                    continue  # the line our SIGKILL cut short
            try:
                o = parse_json(line)
            except Exception as e:
                self.records.append((now, "error", "nats-cli printed bad JSON %r: %s" % (line[:200], e)))
                continue
            if self.slow:
                time.sleep(self.slow)  # a slow consumer: the pipe fills, the CLI's writes block
            if "event" in o:
                e = o["event"]
                if e == "resync":
                    self.records.append((now, "resync", "resync"))
                elif e == "dropped":
                    self.records.append((now, "dropped", o["label"], int(o["count"])))
                elif e == "truncated":
                    self.records.append((now, "truncated", o["label"]))
                continue
            self.record((now, "row", o["label"], o["op"], o["row"], bool(o.get("truncated")), None))

    def record(self, rec):
        self.records.append(rec)

    def stop(self):
        p = self.procs[-1]
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for t in self.threads:
            t.join(5)

    def exited_by_itself(self):
        p = self.procs[-1]
        return p.poll() is not None and p.returncode not in (-signal.SIGKILL,)


class Bridge:
    """`ectowatch bridge`, supervised: started again a second after it exits
    by itself (as systemd's Restart= would: it exits 1 when it cannot reach
    PostgreSQL at start, or when NATS closed the connection for good), each
    exit recorded in `exits`."""

    def __init__(self, binary, args, env, log_path):
        self.argv = [binary, "bridge"] + args
        self.env, self.log_path = env, log_path
        self.kills = 0
        self.exits = []  # (exit code, the last line of its log)
        self.lock = threading.Lock()
        self.stopping = False
        self.proc = None
        self.start()
        self.supervisor = threading.Thread(target=self.supervise, daemon=True)
        self.supervisor.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.log.write("--- %s: %s\n" % (time.strftime("%H:%M:%S"), " ".join(self.argv)))
        self.log.flush()
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=self.log, env=self.env)

    def supervise(self):
        while not self.stopping:
            time.sleep(0.2)
            with self.lock:
                if self.stopping or self.proc.poll() is None:
                    continue
                exited = self.proc
                self.log.close()
                tail = self.log_tail(1)
                self.exits.append((exited.returncode, tail[0] if tail else ""))
            time.sleep(1)
            with self.lock:
                # Unless a fault's kill9 started one meanwhile: never two
                # bridges (the second would hold the slot, orphaned).
                if not self.stopping and self.proc is exited:
                    self.start()

    def kill9(self):
        with self.lock:
            self.proc.kill()
            self.proc.wait()
            if not self.log.closed:
                self.log.close()
            self.kills += 1
            self.start()

    def stop(self):
        with self.lock:
            self.stopping = True
        self.supervisor.join(5)
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        self.log.close()
        return code

    def stats_since(self, t):
        """Its last --stats line printed after time t (a dict), or None."""
        try:
            if os.path.getmtime(self.log_path) < t:
                return None
        except OSError:
            return None
        for line in reversed(self.log_tail(50)):
            if line.startswith("{") and '"in_flight"' in line:
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None

    def dropped_rows(self):
        """The rows its runs published as ~dropped markers (--stats), in all."""
        total, run = 0, 0
        for line in self.log_tail(10 ** 9):
            if line.startswith("--- "):
                total, run = total + run, 0
            elif line.startswith("{") and '"dropped_rows"' in line:
                try:
                    run = max(run, int(json.loads(line)["dropped_rows"]))
                except (ValueError, KeyError):
                    pass
        return total + run

    def log_tail(self, n=15):
        try:
            with open(self.log_path) as f:
                return f.read().splitlines()[-n:]
        except OSError:
            return []
