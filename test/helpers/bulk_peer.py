#!/usr/bin/env python3
"""A one-connection bulk transfer for the integration tests (run inside network namespaces).

  server --listen HOST --port PORT --bytes N
      Prints "listening" once bound, accepts one connection, sends N bytes, closes, exits.

  client --connect HOST --port PORT [--rcvbuf BYTES] [--pause S] [--slow-bytes N] [--slow-delay S]
      Connects (with SO_RCVBUF set first when asked: a small receive window), waits
      PAUSE seconds before reading, then reads to EOF, sleeping SLOW-DELAY seconds
      after each read until SLOW-BYTES were read: a receiver that stops and then
      lags makes the sender meet a zero window. Prints the number of bytes read.
"""

import argparse
import socket
import sys
import time


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def serve(args):
    listener = socket.socket(family_of(args.listen))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.listen, args.port))
    listener.listen(1)
    print("listening", flush=True)
    conn, _ = listener.accept()
    chunk = b"x" * 65536
    left = args.bytes
    while left > 0:
        n = conn.send(chunk[: min(left, len(chunk))])
        left -= n
    conn.close()
    listener.close()


def fetch(args):
    sock = socket.socket(family_of(args.connect))
    if args.rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    sock.settimeout(30)
    sock.connect((args.connect, args.port))
    time.sleep(args.pause)
    total = 0
    while True:
        data = sock.recv(65536 if total >= args.slow_bytes else 1024)
        if not data:
            break
        total += len(data)
        if total < args.slow_bytes:
            time.sleep(args.slow_delay)
    sock.close()
    print(total, flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--bytes", type=int, required=True)
    c = sub.add_parser("client")
    c.add_argument("--connect", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--rcvbuf", type=int, default=0)
    c.add_argument("--pause", type=float, default=0)
    c.add_argument("--slow-bytes", type=int, default=0)
    c.add_argument("--slow-delay", type=float, default=0)
    args = parser.parse_args()
    serve(args) if args.mode == "server" else fetch(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
