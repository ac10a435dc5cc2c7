#!/usr/bin/env python3
"""A userspace stand-in for `tc qdisc add dev IF root netem loss P delay D` where the kernel has no netem.

  lossy_bridge.py IN OUT --loss 0.01 --delay 0.02 [--seed N]

Run in a namespace that holds two interfaces (each the end of a veth pair to
another namespace): every Ethernet frame arriving on one is sent out of the
other, so the two outer namespaces share one link. Frames from IN to OUT are
dropped with probability LOSS and the rest delayed by DELAY seconds, in order
(as netem on IN's peer would do to what it sends); frames from OUT to IN pass
at once. Prints "bridging" once both sockets are open; runs until killed.
"""

import argparse
import collections
import errno
import random
import select
import socket
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def open_socket(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    return s


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("inbound")
    parser.add_argument("outbound")
    parser.add_argument("--loss", type=float, default=0.0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    inbound, outbound = open_socket(args.inbound), open_socket(args.outbound)
    # (due time, frame) of frames IN -> OUT; the delay is constant, so the queue stays in time order.
    queue = collections.deque()
    print("bridging", flush=True)
    while True:
        timeout = None if not queue else max(0.0, queue[0][0] - time.monotonic())
        readable, _, _ = select.select([inbound, outbound], [], [], timeout)
        for s in readable:
            try:
                frame, address = s.recvfrom(65535)
            except OSError as error:
                # A packet socket reports its interface's link changes (ENETDOWN) once; the link carries on.
                if error.errno == errno.ENETDOWN:
                    continue
                raise
            if address[2] == PACKET_OUTGOING:
                continue  # our own sends, seen again on the socket
            if s is outbound:
                send(inbound, frame)
            elif rng.random() >= args.loss:
                queue.append((time.monotonic() + args.delay, frame))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            send(outbound, queue.popleft()[1])


def send(s, frame):
    try:
        s.send(frame)
    except OSError as error:
        # A full transmit queue or a link going down: the frame is lost, as on a wire.
        if error.errno not in (errno.ENOBUFS, errno.ENETDOWN, errno.EAGAIN):
            raise


if __name__ == "__main__":
    main()
