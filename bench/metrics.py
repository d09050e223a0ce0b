#!/usr/bin/env python3
"""Cost of a Prometheus scrape of Keel's daemon (issue 23, metrics).

With the release build and real processes on this machine: N services (default 1,000), each a
listener with a tcp check, all started and healthy, so that every per-service series exists
(status and health state sets, restart and exit counters, check histograms). Then, over the
control socket, many `GET /metrics` one after another: the daemon's CPU per scrape (user +
system time from /proc, less what the daemon spends in the same wall time without scrapes),
the scrape's size, and how long the bench waited for each answer. Median of R rounds.

Beside it, this machine's floor for a request to the daemon: the same measurement for
`GET /api/v1/daemon`, the smallest answer of the control API (accepting a connection, reading
a request, writing a short reply). What a scrape costs beyond that is writing the metrics.

The checks run every 600 s, so none falls in a measurement (the first ones, while the
services start, fill the counters and histograms).

Usage: python3 bench/metrics.py [--services 1000] [--scrapes 100] [--rounds 5] [--port-base 24000]
Build first: cargo build --release -p keel -p keel-e2e
(CARGO_TARGET_DIR is honoured when the release build went elsewhere.)
"""
import argparse
import os
import socket
import statistics
import sys
import time

from lifecycle import KEEL, LISTENER, Platform
from supervisor import cpu_ticks

TICKS = os.sysconf("SC_CLK_TCK")
BUDGET_MS = 5.0


def service(name, port):
    return f"""
[services.{name}]
category = "bench"
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "{LISTENER}"
args = ["{port}", "0"]
[services.{name}.health_check]
type = "tcp"
interval = 600
[services.{name}.health_check.tcp]
host = "127.0.0.1"
port = {port}
"""


def get(sock_path, path):
    """One request on a new connection; the whole answer (headers and body) as bytes."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n".encode())
    chunks = []
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        chunks.append(b)
    s.close()
    return b"".join(chunks)


def cpu_per_request(pid, sock_path, path, n):
    """The daemon's CPU (ms) per request of `path`, less its idle rate; and the median wait."""
    # The idle rate over as long as the requests take, measured just before them.
    t0 = time.time()
    for _ in range(3):
        get(sock_path, path)
    estimate = (time.time() - t0) / 3 * n
    c0, w0 = cpu_ticks(pid), time.time()
    time.sleep(max(estimate, 1.0))
    c1, w1 = cpu_ticks(pid), time.time()
    idle_rate = (c1 - c0) / (w1 - w0)
    waits = []
    c0, w0 = cpu_ticks(pid), time.time()
    for _ in range(n):
        t = time.perf_counter()
        get(sock_path, path)
        waits.append((time.perf_counter() - t) * 1000)
    c1, w1 = cpu_ticks(pid), time.time()
    busy = (c1 - c0) - idle_rate * (w1 - w0)
    return busy / TICKS / n * 1000, statistics.median(waits)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--scrapes", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    # Apart from the ports the other benches use (19000, 20000, 21000 and up).
    ap.add_argument("--port-base", type=int, default=24000)
    a = ap.parse_args()
    for exe in (KEEL, LISTENER):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: cargo build --release -p keel -p keel-e2e")
    n = a.services
    p = Platform("".join(service(f"s{i:04}", a.port_base + i) for i in range(n)))
    try:
        t0 = time.perf_counter()
        p.keel("platform", "start")
        up = time.perf_counter() - t0
        time.sleep(2)
        pid = p.daemon_pid()
        sock = os.path.join(p.state, "keel.sock")
        answer = get(sock, "/metrics")
        head, body = answer.split(b"\r\n\r\n", 1)
        assert b" 200 " in head.split(b"\r\n")[0], head
        text = body.decode()
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        running = f'keel_services{{status="running"}} {n}'
        assert running in text, "not every service runs"
        lost = next(line.split()[-1] for line in text.splitlines()
                    if line.startswith("keel_metrics_events_lost_total"))
        for _ in range(5):
            get(sock, "/metrics")
        scrapes, floors, waits = [], [], []
        for _ in range(a.rounds):
            cpu, wait = cpu_per_request(pid, sock, "/metrics", a.scrapes)
            scrapes.append(cpu)
            waits.append(wait)
            floor, _ = cpu_per_request(pid, sock, "/api/v1/daemon", a.scrapes * 10)
            floors.append(floor)
        m = statistics.median(scrapes)
        verdict = "within" if m <= BUDGET_MS else "OVER"
        print(f"{n} services with tcp checks (started and healthy in {up:.1f} s): one scrape is "
              f"{len(body) / 1e6:.2f} MB, {series} series; daemon CPU per scrape, {a.rounds} "
              f"rounds of {a.scrapes}: median {m:.2f} ms, min {min(scrapes):.2f} ms, max "
              f"{max(scrapes):.2f} ms ({verdict} the {BUDGET_MS:.0f} ms budget); the bench waited "
              f"{statistics.median(waits):.1f} ms per scrape (median)")
        print(f"  this machine's floor for a request to the daemon (GET /api/v1/daemon, "
              f"{a.scrapes * 10} per round): median {statistics.median(floors):.3f} ms of daemon "
              f"CPU; supervisor events the metrics missed while {n} services started: {lost}")
    finally:
        p.close()


if __name__ == "__main__":
    main()
