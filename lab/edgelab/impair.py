"""The lab's impairment hop: delay, jitter, loss, bursty loss and reordering in user
space, because this kernel has no netem.

The router's nftables queue UDP to and from the relay (NFQUEUE, a base chain on the
forward hook after the scenario's filter); this program holds each queued packet and
gives the kernel its verdict later: ACCEPT after the packet's delay, or DROP. The kernel
keeps the packet meanwhile, so nothing is copied back and NAT, conntrack and the
scenario's filter see the packets as they would without the hop. It speaks nfnetlink
(NETLINK_NETFILTER, subsystem NFQUEUE) directly: standard library only.

The model, per direction (towards the relay, and back), netem's:
- every packet is held `delay_ms`, plus a uniform random `-jitter_ms .. +jitter_ms`,
  drawn for each packet independently, so a jitter above the packets' spacing reorders
  them, as `netem delay D J` does;
- `reorder_percent` of the packets towards the relay are held `REORDER_EXTRA_MS` more,
  so the packets after them overtake them;
- `loss_percent` alone: each packet towards the relay is dropped with that probability;
  with `loss_burst_ms`: the path is down (both directions) for `loss_burst_ms` at the
  start of every `loss_burst_ms * 100 / loss_percent` ms, so any stretch as long as
  that period loses exactly `loss_percent` of its time, in bursts.

Counters (per direction: packets, dropped, overtaken (held for reordering), mean and max
of the time each packet was really held here, from its arrival to its verdict, lateness
included)
are written as JSON to `--stats FILE` every second and at exit, so a test can compare
a measurement with what was really injected. Bounded: at most MAX_HELD packets held
(more are dropped and counted), and the program exits after --max-seconds.
"""

import argparse
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NFQA_PACKET_HDR, NFQA_VERDICT_HDR, NFQA_PAYLOAD = 1, 2, 10
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_DROP, NF_ACCEPT = 0, 1

REORDER_EXTRA_MS = 60.0
MAX_HELD = 4096
UP, DOWN = "to_relay", "from_relay"


def _attr(kind, payload):
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * ((4 - length % 4) % 4)


def _message(msg, queue, attrs, seq, flags=NLM_F_REQUEST):
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + b"".join(attrs)
    kind = (NFNL_SUBSYS_QUEUE << 8) | msg
    return struct.pack("=IHHII", 16 + len(body), kind, flags, seq, 0) + body


def _attrs(data):
    out = {}
    while len(data) >= 4:
        length, kind = struct.unpack_from("=HH", data)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[4:length]
        data = data[(length + 3) & ~3:]
    return out


class Queue:
    """One NFQUEUE, bound with full-packet copies of the first 64 bytes (the headers)."""

    def __init__(self, num):
        self.num = num
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((0, 0))
        self.seq = 0
        self._config(_attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, 0)))
        self._config(_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 64, NFQNL_COPY_PACKET)))
        self._config(_attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", MAX_HELD)))

    def _config(self, attr):
        self.seq += 1
        self.sock.send(_message(NFQNL_MSG_CONFIG, self.num, [attr], self.seq, NLM_F_REQUEST | NLM_F_ACK))
        data = self.sock.recv(65536)
        _, kind, _, _, _ = struct.unpack_from("=IHHII", data)
        if kind == NLMSG_ERROR:
            (err,) = struct.unpack_from("=i", data, 16)
            if err:
                raise OSError(-err, f"NFQUEUE {self.num} configuration refused: {os.strerror(-err)}")

    def packets(self):
        """The queued packets of one read: (packet id, payload headers)."""
        try:
            data = self.sock.recv(1 << 20)
        except OSError as e:
            if e.errno == 105:  # ENOBUFS: the kernel dropped notifications; go on
                return []
            raise
        out = []
        while len(data) >= 16:
            length, kind, _, _, _ = struct.unpack_from("=IHHII", data)
            if length < 16:
                break
            if kind == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET):
                attrs = _attrs(data[20:length])
                if NFQA_PACKET_HDR in attrs:
                    (pid,) = struct.unpack_from("!I", attrs[NFQA_PACKET_HDR])
                    out.append((pid, attrs.get(NFQA_PAYLOAD, b"")))
            data = data[(length + 3) & ~3:]
        return out

    def verdict(self, pid, verdict):
        self.seq += 1
        attr = _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, pid))
        self.sock.send(_message(NFQNL_MSG_VERDICT, self.num, [attr], self.seq))


def source_address(headers):
    """The source address of an IPv4 or IPv6 packet's header, as text ('' if neither)."""
    if headers[:1] and headers[0] >> 4 == 4 and len(headers) >= 20:
        return socket.inet_ntop(socket.AF_INET, headers[12:16])
    if headers[:1] and headers[0] >> 4 == 6 and len(headers) >= 40:
        return socket.inet_ntop(socket.AF_INET6, headers[8:24])
    return ""


class Model:
    """What happens to one packet: its delay in ms, or None when it is lost."""

    def __init__(self, delay_ms=0.0, jitter_ms=0.0, loss_percent=0.0, loss_burst_ms=0.0, reorder_percent=0.0, seed=None):
        self.delay, self.jitter = delay_ms, jitter_ms
        self.loss, self.burst = loss_percent, loss_burst_ms
        self.reorder = reorder_percent
        self.period = loss_burst_ms * 100.0 / loss_percent if loss_burst_ms and loss_percent else 0.0
        self.rng = random.Random(seed)
        self.t0 = time.monotonic()

    def fate(self, direction, now):
        """(ms to hold the packet, whether it was picked to be overtaken), or None when
        the packet is lost."""
        if self.period:
            if ((now - self.t0) * 1000.0) % self.period < self.burst:
                return None
        elif self.loss and direction == UP and self.rng.random() * 100.0 < self.loss:
            return None
        held = self.delay + (self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0)
        overtaken = bool(self.reorder and direction == UP and self.rng.random() * 100.0 < self.reorder)
        if overtaken:
            held += REORDER_EXTRA_MS
        return max(held, 0.0), overtaken


class Stats:
    def __init__(self):
        self.d = {d: {"packets": 0, "dropped": 0, "overtaken": 0, "delayed_ms_sum": 0.0, "delayed_ms_max": 0.0}
                  for d in (UP, DOWN)}
        self.overflow = 0

    def held(self, direction, ms):
        s = self.d[direction]
        s["packets"] += 1
        s["delayed_ms_sum"] += ms
        s["delayed_ms_max"] = max(s["delayed_ms_max"], ms)

    def overtaken(self, direction):
        """One more packet held REORDER_EXTRA_MS more, for the packets after it to overtake."""
        self.d[direction]["overtaken"] += 1

    def dropped(self, direction):
        self.d[direction]["packets"] += 1
        self.d[direction]["dropped"] += 1

    def write(self, path):
        doc = {"overflow": self.overflow}
        for direction, s in self.d.items():
            passed = s["packets"] - s["dropped"]
            doc[direction] = dict(s, delayed_ms_mean=s["delayed_ms_sum"] / passed if passed else 0.0)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)


def serve(queue, model, relays, stats, stats_path, max_seconds):
    held = []  # (release time, tie-breaker, packet id, direction, arrival time)
    counter = 0
    deadline = time.monotonic() + max_seconds
    next_stats = 0.0
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    while not stop and time.monotonic() < deadline:
        now = time.monotonic()
        timeout = min(held[0][0] - now, 0.2) if held else 0.2
        try:
            ready, _, _ = select.select([queue.sock], [], [], max(timeout, 0.0))
        except InterruptedError:
            continue
        now = time.monotonic()
        if ready:
            for pid, headers in queue.packets():
                direction = DOWN if source_address(headers) in relays else UP
                fate = model.fate(direction, now)
                if fate is None:
                    stats.dropped(direction)
                    queue.verdict(pid, NF_DROP)
                elif len(held) >= MAX_HELD:
                    stats.overflow += 1
                    stats.dropped(direction)
                    queue.verdict(pid, NF_DROP)
                else:
                    ms, overtaken = fate
                    if overtaken:
                        stats.overtaken(direction)
                    counter += 1
                    heapq.heappush(held, (now + ms / 1000.0, counter, pid, direction, now))
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, pid, direction, arrived = heapq.heappop(held)
            queue.verdict(pid, NF_ACCEPT)
            # What the packet really spent here, with this program's own lateness on a
            # busy machine: the truth a measurement is compared with, not the plan.
            stats.held(direction, (time.monotonic() - arrived) * 1000.0)
        if stats_path and now >= next_stats:
            stats.write(stats_path)
            next_stats = now + 1.0
    # Whatever is still held goes through now: nothing is left in the kernel's queue.
    for _, _, pid, direction, arrived in held:
        queue.verdict(pid, NF_ACCEPT)
        stats.held(direction, (time.monotonic() - arrived) * 1000.0)
    if stats_path:
        stats.write(stats_path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queue", type=int, default=0)
    ap.add_argument("--relay", action="append", default=[], help="a relay address (its packets are 'from_relay')")
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--loss-percent", type=float, default=0.0)
    ap.add_argument("--loss-burst-ms", type=float, default=0.0)
    ap.add_argument("--reorder-percent", type=float, default=0.0)
    ap.add_argument("--stats", help="write the counters here as JSON, every second and at exit")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    a = ap.parse_args(argv)
    model = Model(a.delay_ms, a.jitter_ms, a.loss_percent, a.loss_burst_ms, a.reorder_percent)
    queue = Queue(a.queue)
    print(f"impair: queue {a.queue} bound; delay {a.delay_ms} ms, jitter {a.jitter_ms} ms, loss {a.loss_percent} % "
          f"(bursts {a.loss_burst_ms} ms), reorder {a.reorder_percent} %", flush=True)
    serve(queue, model, set(a.relay), Stats(), a.stats, a.max_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
