#!/usr/bin/env python3
"""Soak: many services under constant faults, then a check that nothing was lost or doubled.

For --minutes (default 10), with --services (default 1,000) always-restarted listeners:
  - a random service is killed with SIGKILL every --kill-every seconds (default 0.1);
  - the daemon itself is SIGKILLed every --daemon-every seconds (default 60) and started again,
    so it re-adopts every service;
  - every --reload-every seconds (default 120) the config changes for a tenth of the services
    (their `stop_timeout`), and `keel platform reload` restarts exactly those.

At the end, with the daemon up:
  - every service runs exactly once: one listener process per port, the one its PID file names,
    and the port answers;
  - there are no orphans: no second listener on any of the soak's ports;
  - the daemon's open fds and RSS did not grow: the figures of the daemons killed in the last
    third of the run against those of the first third;
  - every log is within its rotation limits (10 MiB per file, 5 old files);
and after `platform stop` no listener of the soak is left.

Usage: python3 bench/soak.py [--services 1000] [--minutes 10]
Build first: cargo build --release -p keel -p keel-e2e
"""
import argparse
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from supervisor import KEEL, LISTENER, Daemon, answers, rss_kib, service  # noqa: E402

BASE_PORT = 21000
LOG_LIMIT = 10 * 1024 * 1024
OLD_LOGS = 5


def listeners():
    """port -> [pid] of every keel-test-listener on this machine, read from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z" or not argv or os.path.basename(argv[0]) != b"keel-test-listener":
            continue
        try:
            port = int(argv[1])
        except (IndexError, ValueError):
            continue
        found.setdefault(port, []).append(int(entry))
    return found


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def name(i):
    return f"s{i:04}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--kill-every", type=float, default=0.1)
    ap.add_argument("--daemon-every", type=float, default=60)
    ap.add_argument("--reload-every", type=float, default=120)
    a = ap.parse_args()
    for exe in (KEEL, LISTENER):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: cargo build --release -p keel -p keel-e2e")
    n = a.services
    ports = range(BASE_PORT, BASE_PORT + n)
    busy = [p for p in ports if answers(p)]
    if busy:
        sys.exit(f"ports already in use: {busy[:5]}")

    # Each service's stop_timeout: what a reload changes.
    timeouts = [10] * n

    def config_text():
        return "".join(service(name(i), BASE_PORT + i, f"stop_timeout = {timeouts[i]}")
                       for i in range(n))

    d = Daemon(config_text())
    t0 = time.time()
    r = d.keel("platform", "start", "--quiet")
    if r.returncode != 0:
        sys.exit(f"platform start failed: {r.stderr}")
    print(f"{n} services started in {time.time() - t0:.1f} s; soaking for {a.minutes:g} min "
          f"(kill -9 every {a.kill_every:g} s, daemon SIGKILL every {a.daemon_every:g} s, "
          f"a tenth changed and reloaded every {a.reload_every:g} s)", flush=True)

    kills = daemon_kills = reloads = reload_problems = 0
    # (age of the daemon in s, fds, RSS KiB) when each daemon is killed.
    daemon_figures = []
    start = time.time()
    end = start + a.minutes * 60
    born = next_daemon_kill = start
    next_daemon_kill += a.daemon_every
    next_reload = start + a.reload_every
    rng = random.Random(7)
    while time.time() < end:
        now = time.time()
        if now >= next_daemon_kill:
            pid = d.proc.pid
            daemon_figures.append((now - born, fds(pid), rss_kib(pid)))
            d.kill_and_restart()
            daemon_kills += 1
            born = time.time()
            next_daemon_kill = born + a.daemon_every
        if now >= next_reload:
            chosen = set(rng.sample(range(n), max(1, n // 10)))
            for i in chosen:
                timeouts[i] = 21 - timeouts[i]
            with open(d.config, "w") as f:
                f.write(config_text())
            res = d.keel("platform", "reload", "--json")
            reloads += 1
            try:
                report = json.loads(res.stdout)["data"]
                restarted = {int(s["name"][1:]) for s in report["services"] if s["action"] == "restart"}
                unchanged = sum(s["change"] == "unchanged" for s in report["services"])
                if restarted != chosen or unchanged != n - len(chosen) or report.get("errors"):
                    reload_problems += 1
                    print(f"reload: restarted {len(restarted)} of the {len(chosen)} changed, "
                          f"{unchanged} unchanged, errors {report.get('errors')}", flush=True)
            except (ValueError, KeyError):
                reload_problems += 1
                print(f"reload failed: {res.stdout.strip()[:300]} {res.stderr.strip()[:300]}", flush=True)
            next_reload = time.time() + a.reload_every
        pid = d.pid_of(name(rng.randrange(n)))
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
                kills += 1
            except ProcessLookupError:
                pass
        time.sleep(a.kill_every)
    pid = d.proc.pid
    daemon_figures.append((time.time() - born, fds(pid), rss_kib(pid)))
    print(f"faults: {kills} services killed, {daemon_kills} daemon SIGKILLs, "
          f"{reloads} reloads ({reload_problems} not as planned)", flush=True)
    if reload_problems:
        problems_early = [f"{reload_problems} reloads did not restart exactly the changed services"]
    else:
        problems_early = []

    # Let the last restarts land (the backoff of a service killed twice in a row is at most 10 s).
    deadline = time.time() + 60
    while time.time() < deadline:
        running = listeners()
        if all(len(running.get(p, [])) == 1 for p in ports) and all(answers(p) for p in ports):
            break
        time.sleep(1)
    running = listeners()
    problems = problems_early
    for i in range(n):
        port, pids = BASE_PORT + i, running.get(BASE_PORT + i, [])
        if len(pids) != 1:
            problems.append(f"{name(i)}: {len(pids)} processes {pids}")
        elif d.pid_of(name(i)) != pids[0]:
            problems.append(f"{name(i)}: runs as {pids[0]}, its PID file says {d.pid_of(name(i))}")
        elif not answers(port):
            problems.append(f"{name(i)}: port {port} does not answer")
    for root, _, files in os.walk(os.path.join(d.state, "logs")):
        for f in files:
            size = os.path.getsize(os.path.join(root, f))
            if size > LOG_LIMIT + 64 * 1024:
                problems.append(f"log {f}: {size} bytes")
        per_service = {}
        for f in files:
            per_service[f.split(".log")[0]] = per_service.get(f.split(".log")[0], 0) + 1
        problems += [f"{s}: {c} log files" for s, c in per_service.items() if c > OLD_LOGS + 1]

    print("daemon at each SIGKILL (age s, open fds, RSS MiB): "
          + ", ".join(f"({age:.0f}, {f}, {rss / 1024:.1f})" for age, f, rss in daemon_figures))
    # A trend, not a wobble: the daemons of the last third against those of the first third
    # (the first daemon, which spawned every service rather than re-adopting it, left out).
    later = daemon_figures[1:]
    third = max(1, len(later) // 3)
    mean = lambda xs: sum(xs) / len(xs)
    early_fds, late_fds = mean([f for _, f, _ in later[:third]]), mean([f for _, f, _ in later[-third:]])
    early_rss, late_rss = mean([r for _, _, r in later[:third]]), mean([r for _, _, r in later[-third:]])
    if late_fds > early_fds * 1.05 or late_rss > early_rss * 1.25:
        problems.append(f"the daemon grew: fds {early_fds:.0f} -> {late_fds:.0f}, "
                        f"RSS {early_rss / 1024:.1f} -> {late_rss / 1024:.1f} MiB")

    r = d.keel("platform", "stop")
    if r.returncode != 0:
        problems.append(f"platform stop failed: {r.stderr.strip()}")
    time.sleep(0.5)
    left = {p: pids for p, pids in listeners().items() if p in ports}
    if left:
        problems.append(f"after platform stop, listeners left: {left}")
    d.stop()

    if problems:
        print(f"FAILED: {len(problems)} problems")
        for p in problems[:40]:
            print("  " + p)
        sys.exit(1)
    print(f"ok: all {n} services ran exactly once, no orphans, no daemon growth, logs within limits")


if __name__ == "__main__":
    main()
