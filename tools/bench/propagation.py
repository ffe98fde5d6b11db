#!/usr/bin/env python3
"""SET/GET propagation between two im-servers sharing state (bounded: --samples x --timeout).

  tools/bench/propagation.py --tcp-a 127.0.0.1:P --udp-a 127.0.0.1:P --udp-b 127.0.0.1:P
                             [--samples 200] [--timeout 3] [--poll-ms 2] [--json]

Registers two unprotected users over A's TCP port (REG, one line per connection), makes
alice bob's buddy (ADD bob alice), then per sample sends `SET alice ONLINE <new port>` to
A's UDP port and polls `GET bob` on B's UDP port every --poll-ms until alice's line shows
that port (or --timeout passes: counted as a timeout), with B's address cookie on every GET.
Prints p50/p99/max delay in ms.
"""
import argparse
import json
import os
import socket
import sys
import time


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


def tcp_line(target, line, timeout=5.0):
    with socket.create_connection(target, timeout=timeout) as c:
        c.sendall((line + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = c.recv(512)
            if not chunk:
                break
            data += chunk
    return data.decode().strip()


def port_of(reply, user):
    for line in reply.splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] == user and f[2] == "ONLINE":
            return int(f[4])
    return None


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    return sorted_ms[min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100.0))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp-a", required=True, type=addr)
    ap.add_argument("--udp-a", required=True, type=addr)
    ap.add_argument("--udp-b", required=True, type=addr)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=3.0)
    ap.add_argument("--poll-ms", type=float, default=2.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    tag = "pr%x%x" % (os.getpid(), int(time.time()) & 0xFFFFFF)
    alice, bob = tag + "a", tag + "b"
    for line in ("REG " + alice, "REG " + bob, "ADD %s %s" % (bob, alice)):
        r = tcp_line(a.tcp_a, line)
        if not r.startswith("200"):
            sys.exit("propagation: %r answered %r" % (line, r))

    setter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    getter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A cookie from B, as the project's client gets one: without it B's answers to this
    # address are rate-limited (docs/PROTOCOL.md, "Nothing reflects") and most polls are dropped.
    getter.settimeout(2.0)
    getter.sendto(b"COOKIE", a.udp_b)
    words = getter.recv(512).decode().split()
    if len(words) != 2 or words[0] != "COOKIE":
        sys.exit("propagation: COOKIE answered %r" % words)
    get = ("GET %s c=%s" % (bob, words[1])).encode()
    delays, timeouts = [], 0
    for i in range(a.samples):
        port = 10000 + (i % 50000)
        setter.sendto(("SET %s ONLINE %d" % (alice, port)).encode(), a.udp_a)
        t0 = time.monotonic()
        seen = None
        while time.monotonic() - t0 < a.timeout:
            getter.sendto(get, a.udp_b)
            deadline = time.monotonic() + a.poll_ms / 1000.0
            # Read every reply that arrives within this poll period (late ones included).
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                getter.settimeout(left)
                try:
                    reply = getter.recv(2048).decode(errors="replace")
                except socket.timeout:
                    break
                if port_of(reply, alice) == port:
                    seen = time.monotonic()
                    break
            if seen is not None:
                break
            rest = deadline - time.monotonic()
            if rest > 0:
                time.sleep(rest)
        if seen is None:
            timeouts += 1
        else:
            delays.append((seen - t0) * 1000.0)
        time.sleep(0.005)  # let stray replies of this sample drain before the next SET
        getter.setblocking(False)
        try:
            while getter.recv(2048):
                pass
        except BlockingIOError:
            pass
        getter.setblocking(True)

    d = sorted(delays)
    res = {"samples": a.samples, "seen": len(d), "timeouts": timeouts,
           "p50_ms": round(pct(d, 50), 2), "p99_ms": round(pct(d, 99), 2),
           "max_ms": round(d[-1], 2) if d else 0.0}
    if timeouts:  # a sample never seen counts as the timeout for the percentiles
        d2 = sorted(d + [a.timeout * 1000.0] * timeouts)
        res["p99_ms"] = round(pct(d2, 99), 2)
        res["max_ms"] = round(d2[-1], 2)
    print(json.dumps(res) if a.json else
          "samples %(samples)d seen %(seen)d timeouts %(timeouts)d p50 %(p50_ms)s ms p99 %(p99_ms)s ms max %(max_ms)s ms" % res)


if __name__ == "__main__":
    main()
