"""A bare NATS client on the wire protocol (python3's standard library only),
for the NATS differential checker: no ectowatch code and no NATS library, so
what it reads back from the stream is an independent view of what the bridge
stored.

It speaks the text protocol (INFO, CONNECT with headers, PING/PONG, SUB, PUB,
MSG, HMSG) and JetStream's JSON API as request/reply: $JS.API.STREAM.INFO,
$JS.API.STREAM.MSG.GET (one stored message by stream sequence, with its
subject and headers) and $JS.API.STREAM.DELETE.
"""
import base64
import datetime
import json
import os
import socket
import time


class NatsError(Exception):
    pass


class Connection:
    def __init__(self, url, timeout=5.0):
        hostport = url.split("://", 1)[-1].split(",")[0]
        host, port = hostport.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.inbox = "_INBOX.dc%s" % os.urandom(6).hex()
        self.next_id = 0
        line = self._line()
        if not line.startswith(b"INFO "):
            raise NatsError("expected INFO, got %r" % line[:80])
        self.info = json.loads(line[5:])
        self._send(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true,'
                   b'"protocol":1,"name":"differential_nats_wire"}\r\nPING\r\n')
        self.replies = {}
        while True:
            kind = self._read_op()
            if kind == "PONG":
                break
        self._send(("SUB %s.* 1\r\n" % self.inbox).encode())

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise NatsError("connection closed by the server")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read_op(self):
        """Reads one protocol operation; stores replies to our inbox."""
        line = self._line()
        op = line.split(b" ", 1)[0].upper()
        if op == b"PING":
            self._send(b"PONG\r\n")
            return "PING"
        if op == b"PONG":
            return "PONG"
        if op in (b"+OK", b"INFO"):
            return op.decode()
        if op == b"-ERR":
            raise NatsError("server error: %s" % line.decode(errors="replace"))
        parts = line.decode().split(" ")
        if op == b"MSG":  # MSG subject sid [reply] size
            subject, size = parts[1], int(parts[-1])
            self.replies[subject] = (b"", self._exact(size))
            return "MSG"
        if op == b"HMSG":  # HMSG subject sid [reply] hdr_size total_size
            subject, hsize, total = parts[1], int(parts[-2]), int(parts[-1])
            data = self._exact(total)
            self.replies[subject] = (data[:hsize], data[hsize:])
            return "HMSG"
        raise NatsError("unexpected protocol line %r" % line[:80])

    def requests(self, items):
        """Sends [(subject, json object)] at once and returns their replies in
        order: each a dict (the API's JSON), or {"no_responders": True}."""
        subjects = []
        out = []
        for subject, body in items:
            self.next_id += 1
            reply = "%s.%d" % (self.inbox, self.next_id)
            payload = json.dumps(body).encode() if body is not None else b""
            out.append(b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), reply.encode(), len(payload), payload))
            subjects.append(reply)
        self._send(b"".join(out))
        results = []
        for reply in subjects:
            while reply not in self.replies:
                self._read_op()
            headers, data = self.replies.pop(reply)
            if headers.startswith(b"NATS/1.0 503"):
                results.append({"no_responders": True})
            else:
                results.append(json.loads(data) if data else {})
        return results

    def request(self, subject, body=None):
        return self.requests([(subject, body)])[0]


def parse_headers(raw):
    """NATS/1.0 header block -> dict (the last value of each name)."""
    out = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def stream_info(conn, stream):
    r = conn.request("$JS.API.STREAM.INFO." + stream)
    if "error" in r or r.get("no_responders"):
        return None
    return r


def get_messages(conn, stream, seqs):
    """The stored messages at these sequences: a list of dicts (seq, subject,
    headers, data bytes, time), or None where no message is stored."""
    replies = conn.requests([("$JS.API.STREAM.MSG.GET." + stream, {"seq": s}) for s in seqs])
    out = []
    for s, r in zip(seqs, replies):
        m = r.get("message")
        if not m:
            if r.get("no_responders") or r.get("error", {}).get("err_code") not in (10037,):
                raise NatsError("MSG.GET %d: %s" % (s, r))
            out.append(None)  # no message found: removed (limits) or never stored
            continue
        out.append({"seq": m["seq"], "subject": m["subject"],
                    "headers": parse_headers(base64.b64decode(m["hdrs"])) if m.get("hdrs") else {},
                    "data": base64.b64decode(m.get("data") or ""), "time": m.get("time")})
    return out


def create_stream(url, stream, subjects, max_age_seconds, duplicate_window_seconds):
    """A file stream with these limits (what `nats stream add` would make)."""
    c = Connection(url)
    r = c.request("$JS.API.STREAM.CREATE." + stream, {
        "name": stream, "subjects": subjects, "storage": "file", "retention": "limits", "num_replicas": 1,
        "max_age": int(max_age_seconds * 1e9), "duplicate_window": int(duplicate_window_seconds * 1e9)})
    c.close()
    if "error" in r:
        raise NatsError("cannot create stream %s: %s" % (stream, r["error"]))
    return r


def stored_time(text):
    """A JetStream timestamp (RFC 3339, nanoseconds) as seconds since the epoch."""

    base, _, frac = text.rstrip("Z").partition(".")
    t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def consumers_busy(url, stream):
    """The stream's consumers with messages left to deliver or unacknowledged:
    {name: (num_pending, num_ack_pending)}, or None if the server did not answer."""
    try:
        c = Connection(url)
        names = c.request("$JS.API.CONSUMER.NAMES." + stream).get("consumers") or []
        infos = c.requests([("$JS.API.CONSUMER.INFO.%s.%s" % (stream, n), None) for n in names]) if names else []
        c.close()
    except (OSError, NatsError):
        return None
    return {n: (i.get("num_pending", 0), i.get("num_ack_pending", 0)) for n, i in zip(names, infos)
            if i.get("num_pending", 0) or i.get("num_ack_pending", 0)}


def delete_stream(url, stream):
    for _ in range(50):
        try:
            c = Connection(url)
            r = c.request("$JS.API.STREAM.DELETE." + stream)
            c.close()
            return r
        except (OSError, NatsError):
            time.sleep(0.2)
    return None


def wait_stream(url, stream, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = Connection(url)
            info = stream_info(c, stream)
            c.close()
            if info:
                return info
        except (OSError, NatsError):
            pass
        time.sleep(0.1)
    return None
