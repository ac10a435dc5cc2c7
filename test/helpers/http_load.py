#!/usr/bin/env python3
"""Short HTTP/1.0 requests against one server, for the integration tests.

  http_load.py HOST PORT COUNT CONCURRENCY

Each connection sends one GET, reads the whole reply and closes; the server
(python3 -m http.server) closes first, so its sockets end in TIME_WAIT.
Prints {"ok": n, "failed": n, "errors": [...]} and exits 0 when all succeeded.
"""

import json
import socket
import sys
import threading


def main():
    host, port, count, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "errors": []}

    def worker():
        while True:
            with lock:
                if state["next"] >= count:
                    return
                state["next"] += 1
            try:
                with socket.create_connection((host, port), timeout=10) as s:
                    s.sendall(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
                    reply = b""
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        reply += chunk
                if not reply.startswith(b"HTTP/1.0 200"):
                    raise OSError("bad reply: %r" % reply[:40])
                with lock:
                    state["ok"] += 1
            except OSError as e:
                with lock:
                    state["errors"].append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"ok": state["ok"], "failed": len(state["errors"]), "errors": state["errors"][:5]}))
    sys.exit(0 if state["ok"] == count else 1)


main()
