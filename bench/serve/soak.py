#!/usr/bin/env python3
"""`edgepath serve` under a long run of scrapes (issue 15): resident memory and open file
descriptors of the exporter before and after N `/probe` scrapes in a row, and how fast
`/metrics` answers.

  bench/serve/soak.py --url http://127.0.0.1:9788 --pid PID [--probes 1000] [--metrics 1000]

Run it where the exporter can probe, e.g. in a lab site:
  lab/run home-nat -- sh -c 'target/release/edgepath serve --config C & sleep 1; \
      python3 bench/serve/soak.py --pid $! --probes 1000; kill $!'
"""

import argparse
import os
import statistics
import time
import urllib.request


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def get(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.status, r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:9788")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--module", default="default")
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--metrics", type=int, default=1000)
    a = ap.parse_args()
    # One probe first: what a warm exporter holds.
    get(f"{a.url}/probe?module={a.module}")
    before = (rss_kib(a.pid), fds(a.pid))
    t0 = time.monotonic()
    failures = 0
    unmeasured = 0
    for i in range(a.probes):
        status, body = get(f"{a.url}/probe?module={a.module}")
        if status != 200 or b"edgepath_probe_success 1" not in body:
            failures += 1
        if b"edgepath_quality_loss_ratio{" not in body:
            unmeasured += 1
        if (i + 1) % 100 == 0:
            print(f"  {i + 1} probes, {time.monotonic() - t0:.0f} s, RSS {rss_kib(a.pid)} KiB, {fds(a.pid)} fds", flush=True)
    after = (rss_kib(a.pid), fds(a.pid))
    lat = []
    for _ in range(a.metrics):
        t = time.monotonic()
        get(f"{a.url}/metrics")
        lat.append((time.monotonic() - t) * 1000)
    lat.sort()
    print(f"probes: {a.probes} in {time.monotonic() - t0:.0f} s, {failures} without success, "
          f"{unmeasured} without a quality measurement")
    print(f"resident memory: {before[0]} KiB before, {after[0]} KiB after")
    print(f"open file descriptors: {before[1]} before, {after[1]} after")
    print(f"/metrics x{a.metrics}: median {statistics.median(lat):.2f} ms, "
          f"p99 {lat[int(len(lat) * 0.99) - 1]:.2f} ms, max {lat[-1]:.2f} ms")


if __name__ == "__main__":
    main()
