#!/usr/bin/env python3
"""Capture analysis benchmark (issue: `edgepath capture`, speed).

  bench/capture/capture_bench.py generate OUT.pcap [--size-mb 400] [--sources teams.pcap]
      builds a large capture from the real captures in ../shared/captures (teams, sip,
      stun, rtp), copy after copy; every copy gets its own private IPv4 addresses
      (10.<copy>.<n>) and later timestamps, so every copy's flows are new flows.
      --repeat-flows keeps the same addresses in every copy: the same flows, a longer file.
  bench/capture/capture_bench.py memory
      peak memory of `edgepath capture` on 100 and 400 MB of new flows and of repeated
      flows: it follows the flows, not the file size.
  bench/capture/capture_bench.py run OUT.pcap [--runs 3] [--edgepath PATH]
      times `edgepath capture` (one thread, then one per core), `ndpiReader -i FILE -q`
      and `tshark -r FILE -q -z conv,udp` (both single-threaded) on it in one run, each
      --runs times; reports the median wall time, MB/s, packets/s and peak memory (VmHWM).

  bench/capture/capture_bench.py live FILE [--rates 100,1000,top] [--edgepath PATH]
      live capture at line rate (as root): a scratch network namespace with a veth pair
      (nothing outside it), tcpreplay sends FILE into one end at each rate (Mbit/s, or
      `top`), and on the other end `edgepath capture --interface` (release, --features
      live) and `dumpcap -w` run side by side in the same run, then again with edgepath's
      --write; per run: sent, received, dropped and kept (% of sent) for both, edgepath's
      CPU seconds and peak memory.

Test data: the captures are nDPI's test captures (LGPL-3.0), see shared/README.md.
"""

import argparse
import ipaddress
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "captures")
SOURCES = ["teams.pcap", "sip.pcap", "stun.pcap", "rtp.pcapng"]
PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")]


def read_frames(path):
    """(ts_us, frame) of every packet of an Ethernet pcap or pcapng file."""
    data = open(path, "rb").read()
    out = []
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        nanos = magic == b"\x4d\x3c\xb2\xa1"
        at = 24
        while at + 16 <= len(data):
            s, frac, cap, _ = struct.unpack_from("<IIII", data, at)
            out.append((s * 1_000_000 + (frac // 1000 if nanos else frac), data[at + 16:at + 16 + cap]))
            at += 16 + cap
        return out
    at = 0
    while at + 12 <= len(data):
        btype, total = struct.unpack_from("<II", data, at)
        if btype == 6:
            _, hi, lo, cap, _ = struct.unpack_from("<IIIII", data, at + 8)
            out.append((((hi << 32) | lo), data[at + 28:at + 28 + cap]))
        at += total
    return out


def checksum(hdr):
    s = sum(struct.unpack(f"!{len(hdr) // 2}H", hdr))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def rewrite(frame, mapping, copy):
    """The frame with its private IPv4 addresses moved into this copy's space."""
    if len(frame) < 34 or frame[12:14] != b"\x08\x00":
        return frame
    ihl = (frame[14] & 0x0F) * 4
    f = bytearray(frame)
    for off in (26, 30):
        a = bytes(f[off:off + 4])
        if any(ipaddress.ip_address(a) in n for n in PRIVATE):
            k = mapping.setdefault(a, len(mapping) % 250 + 1)
            f[off:off + 4] = bytes([10, (copy >> 8) & 0xFF, copy & 0xFF, k])
    f[24:26] = b"\x00\x00"
    f[24:26] = struct.pack("!H", checksum(bytes(f[14:14 + ihl])))
    if f[23] == 17 and len(f) >= 14 + ihl + 8:
        f[14 + ihl + 6:14 + ihl + 8] = b"\x00\x00"  # UDP checksum optional in IPv4
    return bytes(f)


def generate(out, size_mb, repeat_flows=False, sources=SOURCES):
    frames = []
    for name in sources:
        frames += read_frames(os.path.join(SHARED, name))
    # One timeline per copy: the sources back to back, each starting at 0.
    base = min(t for t, _ in frames)
    span = 30_000_000
    mapping = {}
    target = size_mb * 1_000_000
    written = 0
    copy = 0
    packets = 0
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        while written < target:
            mapping.clear()
            t0 = 1_700_000_000_000_000 + copy * span
            for ts, frame in frames:
                fr = rewrite(frame, mapping, 0 if repeat_flows else copy)
                t = t0 + (ts - base) % span
                f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(fr), len(fr)))
                f.write(fr)
                written += 16 + len(fr)
                packets += 1
            copy += 1
    print(f"{out}: {written / 1e6:.1f} MB, {packets} packets, {copy} copies of {len(frames)} packets")


def measure(cmd):
    """(seconds, peak resident MiB, exit code) of one run. The peak is the kernel's
    high-water mark (VmHWM) read while the process runs: rusage's ru_maxrss would also
    count the forking Python parent's pages from before exec."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak_kb = 0
    status_path = f"/proc/{p.pid}/status"
    while p.poll() is None:
        try:
            with open(status_path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    return time.monotonic() - t0, peak_kb / 1024, p.returncode


def memory(tmp, edgepath):
    print(f"{'file':<32} {'MB':>6} {'flows':>7} {'peak MiB':>9}")
    for size in (100, 400):
        for repeat in (False, True):
            path = os.path.join(tmp, f"edgepath-bench-{size}{'-repeat' if repeat else ''}.pcap")
            with open(os.devnull, "w") as quiet:
                sys.stdout, saved = quiet, sys.stdout
                try:
                    generate(path, size, repeat)
                finally:
                    sys.stdout = saved
            head = subprocess.run([edgepath, "capture", path], capture_output=True, text=True).stdout.splitlines()[0]
            flows = int(head.split(" flows")[0].split()[-1])
            _, rss, _ = measure([edgepath, "capture", path])
            print(f"{os.path.basename(path):<32} {os.path.getsize(path) / 1e6:6.0f} {flows:7} {rss:9.1f}")
            os.remove(path)


def run(path, runs, edgepath):
    size = os.path.getsize(path)
    packets = int(subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True).stdout.split()[-1])
    cores = os.cpu_count() or 1
    tools = [
        ("edgepath 1 thread", [edgepath, "capture", "--threads", "1", path]),
        (f"edgepath {cores} threads", [edgepath, "capture", "--threads", str(cores), path]),
        ("ndpiReader -q", ["ndpiReader", "-i", path, "-q"]),
        ("tshark conv,udp", ["tshark", "-r", path, "-q", "-z", "conv,udp"]),
    ]
    print(f"{path}: {size / 1e6:.1f} MB, {packets} packets; median of {runs} runs, same machine, one after another; {cores} cores\n")
    print(f"{'tool':<18} {'seconds':>8} {'MB/s':>8} {'packets/s':>11} {'peak MiB':>9}  exit")
    results = {}
    for name, cmd in tools:
        samples = [measure(cmd) for _ in range(runs)]
        secs = statistics.median(s[0] for s in samples)
        rss = max(s[1] for s in samples)
        code = samples[-1][2]
        results[name] = secs
        print(f"{name:<18} {secs:8.2f} {size / 1e6 / secs:8.1f} {packets / secs:11.0f} {rss:9.1f}  {code}")
    one, ours, ndpi = results["edgepath 1 thread"], results[f"edgepath {cores} threads"], results["ndpiReader -q"]
    print(f"\nedgepath ({cores} threads) vs ndpiReader throughput: {ndpi / ours:.1f}x (goal: at least 3x)")
    print(f"edgepath ({cores} threads) vs tshark throughput: {results['tshark conv,udp'] / ours:.1f}x")
    print(f"edgepath {cores} threads vs 1 thread: {one / ours:.2f}x; {size / 1e6 / ours:.0f} MB/s (goal: at least 500)")


def _ns(ns, *cmd):
    return ["ip", "netns", "exec", ns, *cmd]


def _replay_seconds(size, rate):
    """How long tcpreplay takes for `size` bytes at `rate` (Mbit/s, or top: ~1.6 Gbit/s)."""
    mbps = 1600 if rate == "top" else int(rate)
    return size * 8 / (mbps * 1e6)


def live_once(ns, path, size, rate, edgepath, write, tmp, extra=()):
    """One replay of `path` into the namespace's veth at `rate`, captured by edgepath and
    dumpcap side by side: a dict of their figures."""
    seconds = int(_replay_seconds(size, rate)) + 6
    dump = os.path.join(tmp, "bench-live-dumpcap.pcapng")
    ours = os.path.join(tmp, "bench-live-edgepath.pcapng")
    dumpcap = subprocess.Popen(_ns(ns, "dumpcap", "-i", "pb", "-a", f"duration:{seconds}", "-w", dump),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    cmd = [edgepath, "capture", "--interface", "pb", "--filter", "", "--duration", str(seconds), "--json", *extra]
    if write:
        cmd += ["--write", ours]
    timing = os.path.join(tmp, "bench-live-time.txt")
    ep = subprocess.Popen(_ns(ns, "/usr/bin/time", "-o", timing, "-f", "%U %S %M", *cmd),
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    time.sleep(2.0)  # both capturing before the first packet
    speed = ["--topspeed"] if rate == "top" else [f"--mbps={rate}"]
    replay = subprocess.run(_ns(ns, "tcpreplay", "-i", "pa", *speed, path), capture_output=True, text=True,
                            timeout=seconds + 60)
    out, _ = ep.communicate(timeout=seconds + 60)
    _, err = dumpcap.communicate(timeout=seconds + 60)
    sent = int(re.search(r"Actual: (\d+) packets", replay.stdout).group(1))
    rated = re.search(r"Rated: [\d.]+ Bps, ([\d.]+) Mbps, ([\d.]+) pps", replay.stdout)
    live = json.loads(out)["live"]
    kept_dumpcap = int(subprocess.run(["capinfos", "-c", "-M", dump], capture_output=True, text=True)
                       .stdout.split()[-1])
    user, system, peak_kb = open(timing).read().split()[-3:]
    row = {
        "sent": sent,
        "mbps": float(rated.group(1)) if rated else None,
        "pps": int(float(rated.group(2))) if rated else None,
        "edgepath_received": live["received"],
        "edgepath_dropped": live["dropped"] + live["dropped_by_interface"],
        "edgepath_kept": live["received"] - live["dropped"],
        "edgepath_cpu_s": float(user) + float(system),
        "edgepath_peak_mib": int(peak_kb) / 1024,
        "dumpcap_kept": kept_dumpcap,
        "dumpcap_said": (re.search(r"Packets received/dropped on interface[^\n]*", err) or [""])[0],
    }
    if write:
        row["edgepath_written"] = int(subprocess.run(["capinfos", "-c", "-M", ours], capture_output=True,
                                                     text=True).stdout.split()[-1])
        os.remove(ours)
    os.remove(dump)
    return row


def live(path, rates, edgepath, tmp, extra=()):
    if os.geteuid() != 0:
        sys.exit("live needs root: it builds a scratch network namespace")
    size = os.path.getsize(path)
    packets = int(subprocess.run(["capinfos", "-c", "-M", path], capture_output=True, text=True).stdout.split()[-1])
    ns = f"epbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        sh = lambda *c: subprocess.run(_ns(ns, *c), check=True)  # noqa: E731
        sh("ip", "link", "add", "pa", "type", "veth", "peer", "name", "pb")
        for dev in ("pa", "pb"):
            # Jumbo MTU: every frame of the capture fits; no addresses, nothing routed.
            sh("ip", "link", "set", dev, "mtu", "9000", "up")
            sh("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
        print(f"{path}: {size / 1e6:.1f} MB, {packets} packets; edgepath capture (release, --features live) "
              f"and dumpcap -w on the same veth in the same run; {os.cpu_count()} cores\n")
        print(f"{'rate':>6} {'write':>5} {'sent':>8} {'Mbit/s':>7} {'pkt/s':>7} | {'edgepath kept':>13} {'%':>6} "
              f"{'dropped':>8} {'CPU s':>6} {'MiB':>6} | {'dumpcap kept':>12} {'%':>6}")
        for rate in rates:
            for write in (False, True):
                r = live_once(ns, path, size, rate, edgepath, write, tmp, extra)
                ours = r["edgepath_written"] if write else r["edgepath_kept"]
                print(f"{rate:>6} {'yes' if write else 'no':>5} {r['sent']:8} {r['mbps'] or 0:7.0f} {r['pps'] or 0:7} | "
                      f"{ours:13} {100 * ours / r['sent']:6.1f} {r['edgepath_dropped']:8} {r['edgepath_cpu_s']:6.1f} "
                      f"{r['edgepath_peak_mib']:6.1f} | {r['dumpcap_kept']:12} {100 * r['dumpcap_kept'] / r['sent']:6.1f}")
                sys.stdout.flush()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out")
    g.add_argument("--size-mb", type=int, default=400)
    g.add_argument("--repeat-flows", action="store_true", help="every copy reuses the same addresses (to show memory does not grow with the file)")
    g.add_argument("--sources", default=",".join(SOURCES), help="which shared captures to copy, comma-separated (teams.pcap alone gives the Teams-only capture)")
    m = sub.add_parser("memory")
    m.add_argument("--dir", default="/tmp")
    m.add_argument("--edgepath", default=os.path.join(REPO, "target", "release", "edgepath"))
    r = sub.add_parser("run")
    r.add_argument("file")
    r.add_argument("--runs", type=int, default=3)
    r.add_argument("--edgepath", default=os.path.join(REPO, "target", "release", "edgepath"))
    lv = sub.add_parser("live")
    lv.add_argument("file")
    lv.add_argument("--rates", default="100,1000,top", help="tcpreplay rates: Mbit/s, or top")
    lv.add_argument("--edgepath", default=os.path.join(REPO, "target", "release", "edgepath"))
    lv.add_argument("--dir", default="/tmp")
    lv.add_argument("--edgepath-args", default="", help="more arguments for edgepath capture, e.g. \"--buffer-size 2\"")
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.out, a.size_mb, a.repeat_flows, a.sources.split(","))
    elif a.cmd == "memory":
        memory(a.dir, a.edgepath)
    elif a.cmd == "live":
        live(a.file, a.rates.split(","), a.edgepath, a.dir, a.edgepath_args.split())
    else:
        run(a.file, a.runs, a.edgepath)
    return 0


if __name__ == "__main__":
    sys.exit(main())
