#!/usr/bin/env python3
"""16 MiB of TLS through a real im-lb, end to end.

im-lb splices bytes: TLS runs between the client and the backend, and the balancer must
pass every record through intact, with its own bounded buffers, in both directions at
once. The backend here is a TLS echo server (Python's ssl module, a stand-in for a
backend that takes more than one line per connection) that also answers the balancer's
TLS health probe (PING -> 200) as im-server does. The client sends 16 MiB of random
bytes while it reads the echo, and compares SHA-256 of both. Bounded: every socket has
a timeout and the whole test gives up after 60 s.
"""
import hashlib
import os
import re
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

TOTAL = 16 * 1024 * 1024
CHUNK = 64 * 1024


def fail(message):
    print("FAIL: " + message, file=sys.stderr)
    sys.exit(1)


def echo(conn, server_ctx):
    try:
        conn.settimeout(30)
        tls = server_ctx.wrap_socket(conn, server_side=True)
        first = tls.recv(CHUNK)
        if first == b"PING\n":  # the balancer's health probe, answered as im-server does
            tls.sendall(b"200 PONG\n")
        else:
            while first:
                tls.sendall(first)
                first = tls.recv(CHUNK)
        tls.close()
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main():
    lb_bin, ca_tool = os.environ["IM_LB"], os.environ["IM_TLS_CA"]
    deadline = time.monotonic() + 60
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([ca_tool, d], check=True, capture_output=True, timeout=30)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        backend_port = listener.getsockname()[1]
        stop = threading.Event()

        def accept_loop():
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except socket.timeout:
                    continue
                except OSError:
                    return
                threading.Thread(target=echo, args=(conn, server_ctx), daemon=True).start()

        threading.Thread(target=accept_loop, daemon=True).start()
        log_path = os.path.join(d, "lb.log")
        with open(log_path, "wb") as log:
            lb = subprocess.Popen([lb_bin, "--listen", "127.0.0.1:0", "--backend", "127.0.0.1:%d" % backend_port,
                                   "--check-tls", "--check-ca", os.path.join(d, "ca.pem"), "--idle-timeout", "20"],
                                  stderr=log, stdout=log)
        try:
            lb_port = None
            while lb_port is None and time.monotonic() < deadline and lb.poll() is None:
                m = re.search(rb"running on port (\d+)", open(log_path, "rb").read())
                if m:
                    lb_port = int(m.group(1))
                else:
                    time.sleep(0.05)
            if lb_port is None:
                fail("im-lb did not start: " + open(log_path, errors="replace").read())

            client_ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
            raw = socket.create_connection(("127.0.0.1", lb_port), timeout=30)
            tls = client_ctx.wrap_socket(raw, server_hostname="127.0.0.1")
            payload = os.urandom(TOTAL)
            sent_hash = hashlib.sha256(payload).hexdigest()
            received = hashlib.sha256()
            # Read while writing, from one thread on a non-blocking socket: the balancer's
            # buffers are bounded, so a client that only wrote would stall once the echo
            # filled them (as it should); and an SSL object must not be read and written
            # from two threads at once (that broke this test now and then).
            tls.setblocking(False)
            sel = selectors.DefaultSelector()
            sel.register(tls, selectors.EVENT_READ | selectors.EVENT_WRITE)
            view = memoryview(payload)
            sent = got = 0
            while got < TOTAL:
                if time.monotonic() > deadline:
                    fail("timed out: sent %d, echoed %d of %d bytes" % (sent, got, TOTAL))
                sel.select(timeout=1)
                try:
                    while got < TOTAL:
                        data = tls.recv(CHUNK)
                        if not data:
                            fail("echo ended at %d of %d bytes; im-lb said:\n%s" %
                                 (got, TOTAL, open(log_path, errors="replace").read()[-2000:]))
                        received.update(data)
                        got += len(data)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                if sent < TOTAL:
                    try:
                        sent += tls.send(view[sent:sent + CHUNK])
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                    if sent == TOTAL:
                        sel.modify(tls, selectors.EVENT_READ)
            sel.close()
            tls.setblocking(True)
            if received.hexdigest() != sent_hash:
                fail("the 16 MiB came back altered")
            tls.close()
            print("ok: 16 MiB through im-lb over TLS, intact (sha256 %s...)" % sent_hash[:16])
        finally:
            stop.set()
            lb.terminate()
            try:
                lb.wait(10)
            except subprocess.TimeoutExpired:
                lb.kill()
            listener.close()


if __name__ == "__main__":
    main()
