"""Canary secrets: shared by test_canary.py and test_sql_canary.py.

A canary is a distinctive random token put where a secret would be (a password, a header, a
query string, an environment variable, a server's error text).  A program runs under the
preload at the most verbose log level (XRAY_AUTO_LOG_LEVEL=debug) with its stderr captured,
and sends its datagrams to a `Sink`, a UDP socket of the test script standing in for the
daemon, which keeps every datagram as raw bytes (nothing parsed or re-encoded in between).
`check_absent` then searches every datagram and every log line of ours for each canary in
every form a secret could be re-encoded into: as given, lower and upper case, JSON-escaped,
URL-encoded, base64 (at each of the three alignments, so that a secret inside a longer
encoded string, e.g. `Basic base64(user:SECRET)`, is found too) and hex; and for the random
part alone and its halves, which catches a secret cut short or stripped of its prefix.

    import canary as C
    sink = C.Sink()
    r = C.run(session, sink, ["curl", "-s", url], {"XRAY_AUTO_SEGMENT": "call"}, "what")
    C.check_absent(r, [SECRET], "what")      # datagrams and log lines
    r.docs, r.records                        # parsed documents, flattened subsegments

Log lines of ours are the lines of stderr that carry the library's prefix
`libxray-auto[<pid>]: <level>: `; the program's own stderr (curl -v printing its request
headers) is not ours to judge.  Every run must have produced at least the debug `ready` line,
which shows that the log channel is in fact being searched (`check_logged`).
"""

import atexit
import base64
import binascii
import json
import os
import re
import select
import socket
import subprocess
import time
import urllib.parse

import harness as H
from harness import check

LOG_LEVEL = "debug"  # the most verbose XRAY_AUTO_LOG_LEVEL (src/config.c)
LOG_LINE = re.compile(rb"libxray-auto\[\d+\]: [a-z]+: [^\n]*")


def token(kind):
    """A canary: 'CANARY<kind>-' + 24 random hex digits.  Only [A-Za-z0-9-]: it survives URL
    userinfo, query strings, headers, SQL literals and environment values unquoted."""
    return "CANARY%s-%s" % (kind, os.urandom(12).hex())


def _b64_cores(data):
    """The base64 text of `data` that does not depend on what surrounds it, for each of the
    three alignments `data` can have inside a longer encoded string (standard and URL-safe
    alphabets)."""
    out = set()
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + data).rstrip(b"=")
        # first quantum mixes in the k prefix bytes, the last one the bytes after
        core = enc[4:-4] if k else enc[:-4]
        if len(core) >= 12:
            out.add(core)
            out.add(core.replace(b"+", b"-").replace(b"/", b"_"))
    return out


def forms(secret):
    """Byte strings whose presence anywhere means `secret` leaked."""
    s = secret if isinstance(secret, str) else secret.decode()
    out = set()
    for v in (s, s.lower(), s.upper()):
        b = v.encode()
        out.add(b)
        out.add(json.dumps(v)[1:-1].encode())
        out.add(urllib.parse.quote(v, safe="").encode())
        out.add(urllib.parse.quote_plus(v).encode())
        out.add(binascii.hexlify(b))
        out |= _b64_cores(b)
    m = re.match(r"^CANARY[A-Z0-9]*-([0-9a-f]{16,})$", s)
    if m:  # the random part alone, and each half: a secret cut short or stripped of its kind
        h = m.group(1)
        for part in (h, h[:len(h) // 2], h[len(h) // 2:]):
            out.add(part.encode())
            out.add(part.upper().encode())
    return {f for f in out if f}


class Sink:
    """A UDP socket standing in for the X-Ray daemon: keeps every datagram as bytes."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        atexit.register(self.sock.close)

    def drain(self, quiet=0.3):
        """Every datagram until none arrived for `quiet` seconds."""
        out = []
        while True:
            ready, _, _ = select.select([self.sock], [], [], quiet)
            if not ready:
                return out
            out.append(self.sock.recv(1 << 17))

    def wait(self, n, timeout=5.0, quiet=0.3):
        """At least n datagrams (or until `timeout`), then any that follow within `quiet`."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                out.append(self.sock.recv(1 << 17))
        return out + self.drain(quiet)


class Run:
    """One observed run: what, returncode, stdout, stderr (bytes), datagrams (bytes),
    docs, records (flattened, in start order), logs (our log lines, bytes)."""

    def __init__(self, what):
        self.what = what
        self.returncode = None
        self.stdout = self.stderr = b""
        self.datagrams, self.docs, self.records, self.logs = [], [], [], []

    def text(self):
        return {"exit": self.returncode, "stdout": self.stdout.decode("utf-8", "replace")[-1500:],
                "stderr": self.stderr.decode("utf-8", "replace")[-1500:]}


def parse(r, datagrams, stderr):
    """Fills r from raw datagrams and stderr bytes; a datagram that is not the daemon header
    plus one JSON document is a failed check."""
    r.datagrams = list(datagrams)
    r.stderr = stderr
    r.logs = LOG_LINE.findall(stderr)
    r.docs = []
    for i, d in enumerate(r.datagrams):
        try:
            header, body = d.decode("utf-8").split("\n", 1)
            ok = json.loads(header) == {"format": "json", "version": 1}
            doc = json.loads(body)
        except (UnicodeDecodeError, ValueError) as e:
            check(False, "%s: datagram #%d is not header + JSON document: %s" % (r.what, i, e),
                  repr(d[:2000]))
            continue
        check(ok, "%s: datagram #%d header %r" % (r.what, i, header), header)
        r.docs.append(doc)
    r.records = sorted(H.flatten(r.docs), key=lambda x: x["sub"].get("start_time") or 0)
    return r


def preload_env(session, sink, env_extra=None, scrub=()):
    """The session's base environment with the preload, the sink as daemon, every trace
    sampled and the most verbose log level; variables starting with a `scrub` prefix are
    removed first; env_extra is applied last (None removes a variable)."""
    env = session.base_env()
    for k in list(env):
        if scrub and k.startswith(tuple(scrub)):
            del env[k]
    env["LD_PRELOAD"] = session.lib
    env["AWS_XRAY_DAEMON_ADDRESS"] = sink.address
    env["XRAY_AUTO_SAMPLING"] = "all"
    env["XRAY_AUTO_LOG_LEVEL"] = LOG_LEVEL
    for k, v in (env_extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run(session, sink, cmd, env_extra, what, scrub=(), timeout=60, expect=None, cwd=None,
        stdin=None):
    """Runs cmd under the preload (preload_env) and returns a parsed Run.  expect: how many
    datagrams to wait for after the exit (they are sent before it; None: just drain)."""
    sink.drain(0)
    env = preload_env(session, sink, env_extra, scrub)
    r = Run(what)
    try:
        p = subprocess.run(cmd, input=stdin, stdin=None if stdin is not None else
                           subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, cwd=cwd or session.tmp, timeout=timeout)
        r.returncode, r.stdout, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        check(False, "%s: timed out" % what, cmd)
        r.stdout, err = e.stdout or b"", e.stderr or b""
    grams = sink.wait(expect, timeout=3.0) if expect else sink.drain()
    return parse(r, grams, err)


def check_logged(r):
    """The run logged at debug level (the `ready` line): the log channel is really searched."""
    return check(any(b": debug: ready:" in line for line in r.logs),
                 "%s: no debug `ready` log line on stderr (is XRAY_AUTO_LOG_LEVEL=%s honoured, "
                 "stderr captured?)" % (r.what, LOG_LEVEL), r.text())


def find(secret, blobs):
    """Indexes of the blobs (bytes) holding any form of secret, and the forms found."""
    fs = forms(secret)
    hits, found = [], set()
    for i, b in enumerate(blobs):
        got = [f for f in fs if f in b]
        if got:
            hits.append(i)
            found.update(got)
    return hits, sorted(found)


def check_absent(r, secrets, what=None, logs=True):
    """No form of any secret in any datagram, nor in any log line of ours."""
    what = what or r.what
    ok = True
    for s in secrets:
        hits, found = find(s, r.datagrams)
        ok &= check(not hits, "%s: secret %r appears in datagram(s) %s as %s"
                    % (what, s, hits, found),
                    [r.datagrams[i].decode("utf-8", "replace") for i in hits[:3]])
        if logs:
            hits, found = find(s, r.logs)
            ok &= check(not hits, "%s: secret %r appears in log line(s) as %s" % (what, s, found),
                        [r.logs[i].decode("utf-8", "replace") for i in hits[:5]])
    return ok


def check_present(r, secret, what=None):
    """The opposite, for the runs that show the search works (a secret that must be found)."""
    hits, _ = find(secret, r.datagrams)
    return check(bool(hits), "%s: %r expected in a datagram (else the search could not catch "
                 "a leak)" % (what or r.what, secret), r.docs)
