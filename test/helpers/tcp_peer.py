#!/usr/bin/env python3
"""A small TCP peer for the integration tests (run inside network namespaces).

Modes (every output line on stdout is one JSON object):

  server --listen HOST:PORT [--listen [HOST6]:PORT ...] [--idle-timeout S] [--max-lifetime S]
      Prints {"event":"listening","addrs":[{"host":..,"port":..},..]} once every
      socket is bound (PORT 0 picks a free port). For each accepted connection
      prints {"event":"accept","local","lport","remote","rport","cookie"} at once,
      echoes what it reads until EOF, closes, then prints
      {"event":"closed", ...same fields..., "bytes":n, "error":null|str}.
      Exits 0 on SIGTERM/SIGINT, or after --max-lifetime seconds.

  client --connect HOST:PORT [--count N] [--concurrency C] [--size BYTES]
         [--marker STR] [--delay-close S] [--rst] [--timeout S] [--bind HOST]
      Opens N connections (at most C at a time), sends SIZE bytes (MARKER repeated),
      reads the whole echo back, waits DELAY-CLOSE seconds, then closes (FIN after
      reading the server's EOF, or RST with --rst). Prints one
      {"event":"connection",...} line per connection and a final
      {"event":"summary","attempted","ok","failed","bytesSent","bytesReceived","errors"}.
      Exits 0 when every connection succeeded, 1 otherwise.

  set-offloads --iface IF
      Turns TSO, GSO and GRO off on IF with the legacy SIOCETHTOOL ioctls (for
      machines without the ethtool program) and prints
      {"event":"offloads","iface":..,"tso":0|1,"gso":0|1,"gro":0|1} as read back.

The SO_COOKIE of a socket is getsockopt(SOL_SOCKET, 57, 8) unpacked as a native
unsigned 64-bit integer, printed as 16 upper-case hex digits.
"""

import argparse
import errno
import json
import selectors
import signal
import socket
import struct
import sys
import threading
import time

SO_COOKIE = 57
_print_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj, separators=(",", ":"))
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def cookie_of(sock):
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8)
        return "%016X" % struct.unpack("Q", raw)[0]
    except OSError:
        return None


def strip_v4mapped(ip):
    return ip[7:] if ip.startswith("::ffff:") and "." in ip else ip


def endpoint_fields(sock):
    local = sock.getsockname()
    remote = sock.getpeername()
    return {
        "local": strip_v4mapped(local[0]),
        "lport": local[1],
        "remote": strip_v4mapped(remote[0]),
        "rport": remote[1],
    }


def parse_hostport(text):
    """'1.2.3.4:80', '[fd00::1]:80' or 'fd00::1:80' (last colon is the port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if not rest.startswith(":"):
            raise argparse.ArgumentTypeError("expected [HOST]:PORT, got %r" % text)
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    try:
        port_n = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError("bad port in %r" % text)
    if not 0 <= port_n <= 65535:
        raise argparse.ArgumentTypeError("bad port in %r" % text)
    return host, port_n


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


# ---------------------------------------------------------------- server


def serve_connection(conn, idle_timeout, stopping, close_after=0):
    fields = {"event": "accept"}
    try:
        fields.update(endpoint_fields(conn))
    except OSError as e:  # the peer may already be gone
        fields.update({"local": None, "lport": None, "remote": None, "rport": None})
        fields["error"] = str(e)
    fields["cookie"] = cookie_of(conn)
    emit(fields)
    total = 0
    error = None
    conn.settimeout(idle_timeout)
    try:
        while not stopping.is_set():
            data = conn.recv(65536)
            if not data:
                break
            conn.sendall(data)
            total += len(data)
            if close_after and total >= close_after:
                break  # the server closes first: its socket is orphaned in FIN_WAIT
    except OSError as e:  # includes socket.timeout
        error = "%s: %s" % (type(e).__name__, e)
    finally:
        try:
            conn.close()
        except OSError:
            pass
    closed = dict(fields)
    closed["event"] = "closed"
    closed["bytes"] = total
    closed["error"] = error
    emit(closed)


def run_server(args):
    stopping = threading.Event()

    def on_signal(_signum, _frame):
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    listeners = []
    for host, port in args.listen:
        fam = family_of(host)
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        s.listen(128)
        s.setblocking(False)
        listeners.append(s)
    emit({
        "event": "listening",
        "addrs": [{"host": strip_v4mapped(s.getsockname()[0]), "port": s.getsockname()[1]} for s in listeners],
    })

    sel = selectors.DefaultSelector()
    for s in listeners:
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + args.max_lifetime
    workers = []
    while not stopping.is_set() and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.1):
            try:
                conn, _addr = key.fileobj.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as e:
                emit({"event": "error", "error": str(e)})
                continue
            conn.setblocking(True)
            t = threading.Thread(target=serve_connection, args=(conn, args.idle_timeout, stopping, args.close_after), daemon=True)
            t.start()
            workers = [w for w in workers if w.is_alive()]
            workers.append(t)
    for s in listeners:
        s.close()
    stopping.set()
    join_end = time.monotonic() + 1.0
    for t in workers:
        t.join(timeout=max(0.0, join_end - time.monotonic()))
    emit({"event": "stopped", "reason": "signal" if time.monotonic() < deadline else "max-lifetime"})
    return 0


# ---------------------------------------------------------------- client


def make_payload(marker, size):
    if size <= 0:
        return b""
    unit = marker.encode("utf-8") or b"x"
    reps = size // len(unit) + 1
    return (unit * reps)[:size]


def one_connection(index, args, payload):
    host, port = args.connect
    result = {"event": "connection", "index": index, "ok": False, "bytesSent": 0, "bytesReceived": 0,
              "local": None, "lport": None, "remote": host, "rport": port, "cookie": None, "error": None}
    deadline = time.monotonic() + args.timeout
    sock = socket.socket(family_of(host), socket.SOCK_STREAM)
    try:
        if args.bind:
            sock.bind((args.bind, 0))
        # Headers before TCP that the daemon must count as "before" and never leak past:
        # 4 bytes of IPv4 options (NOP NOP NOP EOL), or an IPv6 destination-options header (PadN).
        if args.ip_options and sock.family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\x01\x01\x01\x00")
        if args.ip_options and sock.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, 59, b"\x00\x00\x01\x04\x00\x00\x00\x00")  # IPV6_DSTOPTS
        sock.settimeout(args.timeout)
        sock.connect((host, port))
        result.update(endpoint_fields(sock))
        result["cookie"] = cookie_of(sock)
        sock.setblocking(False)
        sel = selectors.DefaultSelector()
        sent = 0
        received = 0
        mismatch = False
        view = memoryview(payload)
        sel.register(sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if payload else 0))
        while received < len(payload):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out after %ss (sent %d, received %d)" % (args.timeout, sent, received))
            for _key, mask in sel.select(timeout=min(left, 0.5)):
                if mask & selectors.EVENT_WRITE and sent < len(payload):
                    try:
                        sent += sock.send(view[sent:sent + 262144])
                    except BlockingIOError:
                        pass
                    if sent >= len(payload):
                        sel.modify(sock, selectors.EVENT_READ)
                if mask & selectors.EVENT_READ:
                    try:
                        data = sock.recv(262144)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise ConnectionError("server closed after %d of %d echoed bytes" % (received, len(payload)))
                    if data != payload[received:received + len(data)]:
                        mismatch = True
                    received += len(data)
        sel.close()
        result["bytesSent"] = sent
        result["bytesReceived"] = received
        if mismatch:
            raise ValueError("echo differs from what was sent")
        if args.delay_close > 0:
            time.sleep(args.delay_close)
        if args.rst:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            # Half-close, then wait (bounded) for the server's FIN so the flow ends cleanly.
            sock.setblocking(True)
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received += len(data)
                raise ValueError("unexpected %d bytes after the echo" % len(data))
        result["ok"] = True
    except Exception as e:  # report, never crash the whole run
        result["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        try:
            sock.close()
        except OSError:
            pass
    emit(result)
    return result


def run_client(args):
    payload = make_payload(args.marker, args.size)
    results = []
    results_lock = threading.Lock()
    next_index = [0]

    def worker():
        while True:
            with results_lock:
                i = next_index[0]
                if i >= args.count:
                    return
                next_index[0] += 1
            r = one_connection(i, args, payload)
            with results_lock:
                results.append(r)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(args.concurrency, args.count)))]
    for t in threads:
        t.start()
    overall = args.timeout * args.count + 5
    end = time.monotonic() + overall
    for t in threads:
        t.join(timeout=max(0.0, end - time.monotonic()))
    with results_lock:
        done = list(results)
    ok = sum(1 for r in done if r["ok"])
    summary = {
        "event": "summary",
        "attempted": args.count,
        "ok": ok,
        "failed": args.count - ok,
        "bytesSent": sum(r["bytesSent"] for r in done),
        "bytesReceived": sum(r["bytesReceived"] for r in done),
        "errors": [r["error"] for r in done if r["error"]],
    }
    emit(summary)
    return 0 if ok == args.count else 1


# ---------------------------------------------------------------- offloads

SIOCETHTOOL = 0x8946
ETHTOOL_GTSO, ETHTOOL_STSO = 0x1E, 0x1F
ETHTOOL_GGSO, ETHTOOL_SGSO = 0x23, 0x24
ETHTOOL_GGRO, ETHTOOL_SGRO = 0x2B, 0x2C


def ethtool_value(sock, iface, cmd, value=0):
    import ctypes
    import fcntl

    buf = ctypes.create_string_buffer(struct.pack("II", cmd, value))
    ifr = struct.pack("16sP", iface.encode(), ctypes.addressof(buf))
    ifr += b"\0" * (40 - len(ifr))
    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    return struct.unpack("II", buf.raw[:8])[1]


def run_set_offloads(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out = {"event": "offloads", "iface": args.iface}
    errors = []
    for name, setter in (("tso", ETHTOOL_STSO), ("gso", ETHTOOL_SGSO), ("gro", ETHTOOL_SGRO)):
        try:
            ethtool_value(sock, args.iface, setter, 0)
        except OSError as e:
            errors.append("%s: %s" % (name, e))
    for name, getter in (("tso", ETHTOOL_GTSO), ("gso", ETHTOOL_GGSO), ("gro", ETHTOOL_GGRO)):
        try:
            out[name] = ethtool_value(sock, args.iface, getter)
        except OSError as e:
            out[name] = None
            errors.append("get %s: %s" % (name, e))
    sock.close()
    out["errors"] = errors
    emit(out)
    return 0 if all(out[k] == 0 for k in ("tso", "gso", "gro")) else 1


# ---------------------------------------------------------------- SYN flood


def checksum16(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def run_synflood(args):
    """Sends COUNT IPv4 SYNs from SRC to DST, each from a distinct (source port,
    destination port) pair, through a raw socket: a flood of would-be flows."""
    src = socket.inet_aton(args.src)
    dst_host, _ = args.target
    dst = socket.inet_aton(dst_host)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    ports = range(1024, 65536)
    dports = [args.target[1] + i for i in range((args.count + len(ports) - 1) // len(ports))]
    started = time.monotonic()
    for dport in dports:
        for sport in ports:
            if sent >= args.count:
                break
            tcp = struct.pack("!HHIIBBHHH", sport, dport, sent * 7919, 0, 5 << 4, 0x02, 65535, 0, 0)
            pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
            tcp = tcp[:16] + struct.pack("!H", checksum16(pseudo + tcp)) + tcp[18:]
            ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), sent & 0xFFFF, 0, 64, 6, 0, src, dst)
            ip = ip[:10] + struct.pack("!H", checksum16(ip)) + ip[12:]
            while True:
                try:
                    sock.sendto(ip + tcp, (dst_host, 0))
                    break
                except OSError as e:
                    if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                        raise
                    time.sleep(0.001)
            sent += 1
    emit({"event": "synflood", "sent": sent, "seconds": round(time.monotonic() - started, 3)})
    return 0


# ---------------------------------------------------------------- main


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)

    s = sub.add_parser("server")
    s.add_argument("--listen", type=parse_hostport, action="append", required=True)
    s.add_argument("--idle-timeout", type=float, default=30.0)
    s.add_argument("--max-lifetime", type=float, default=600.0)
    s.add_argument("--close-after", type=int, default=0, help="close each connection once this many bytes were echoed")

    c = sub.add_parser("client")
    c.add_argument("--connect", type=parse_hostport, required=True)
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--concurrency", type=int, default=1)
    c.add_argument("--size", type=int, default=1024)
    c.add_argument("--marker", default="packet-headers-test/")
    c.add_argument("--delay-close", type=float, default=0.0)
    c.add_argument("--rst", action="store_true")
    c.add_argument("--timeout", type=float, default=10.0)
    c.add_argument("--bind", default=None)
    c.add_argument("--ip-options", action="store_true",
                   help="send with IPv4 options or an IPv6 destination-options header")

    f = sub.add_parser("synflood")
    f.add_argument("--target", type=parse_hostport, required=True, help="first destination port; more follow when COUNT > 64512")
    f.add_argument("--src", required=True)
    f.add_argument("--count", type=int, default=100000)

    o = sub.add_parser("set-offloads")
    o.add_argument("--iface", required=True)

    args = p.parse_args(argv)
    if args.mode == "server":
        return run_server(args)
    if args.mode == "client":
        if args.count < 0 or args.count > 100000 or args.size < 0 or args.size > 256 * 1024 * 1024:
            p.error("count or size out of range")
        return run_client(args)
    if args.mode == "synflood":
        if args.count < 0 or args.count > 1000000:
            p.error("count out of range")
        return run_synflood(args)
    return run_set_offloads(args)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        sys.exit(1)
    except OSError as e:
        if e.errno == errno.EPIPE:
            sys.exit(1)
        raise
