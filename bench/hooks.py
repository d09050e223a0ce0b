#!/usr/bin/env python3
"""Lifecycle hook benchmarks for Keel (issue: lifecycle hooks).

With the release build and real processes on this machine:
  1. the daemon's CPU per notification: N services (default 100) with tcp checks every
     INTERVAL s (default 0.5), once without hooks and once with a platform hook that does
     nothing (the `hook-act` fixture answering `proceed`) subscribed to `on-check`, i.e. one
     notification per check answer. Both run the same checks, so the difference in the
     daemon's CPU, divided by the hook runs the services' logs show in that window, is what one
     notification costs the daemon: the event, its hand-over to the service's notifier task,
     the plugin call on a warm instance, the log line and the `hook` event. Rounds alternate
     between the two and the medians are compared.
  2. the 20-service DAG of bench/lifecycle.py (4 levels of 5, each listening 100 ms after it
     starts), `platform start` from a cold daemon until all are healthy, with and without a
     no-op `before-start` hook on every service (a platform hook: every start waits for it),
     beside this machine's floor for the same DAG (lifecycle.py's: the bench starting the
     listeners itself). Medians of N rounds each, after one uncounted round per variant.

Usage: python3 bench/hooks.py [--rounds 10] [--services 100] [--interval 0.5] [--seconds 20] [--cpu-rounds 3]
Build first: cargo build --release -p keel -p keel-e2e
(CARGO_TARGET_DIR is honoured when the release build went elsewhere.)
"""
import argparse
import glob
import os
import shutil
import statistics
import sys
import time

from lifecycle import KEEL, LISTENER, ROOT, TICKS, Platform, floor, service
from supervisor import cpu_ticks

FIXTURE = os.path.join(ROOT, "plugins", "dist", "fixtures", "hook-act.wasm")


def hooked(text, phase):
    """`text` with a platform hook on every service: hook-act answering `proceed` in `phase`
    (a third-party plugin, from the platform's plugin directory)."""
    return f"""
[plugins]
dir = "plugins"

[[hooks]]
plugin = "hook-act"
phases = ["{phase}"]
settings = {{ act = "proceed" }}
{text}"""


def platform(text, with_plugin):
    p = Platform(text)
    if with_plugin:
        os.makedirs(os.path.join(p.dir, "plugins"))
        shutil.copy(FIXTURE, os.path.join(p.dir, "plugins", "hook-act.wasm"))
    return p


def hook_runs(p, phase):
    """The runs of hook-act in `phase` that the services' logs show so far."""
    needle = f"[hook hook-act] {phase}: "
    runs = 0
    for path in glob.glob(os.path.join(p.state, "logs", "*.log")):
        if path.endswith("daemon.log"):
            continue
        with open(path, errors="replace") as f:
            runs += sum(1 for line in f if needle in line)
    return runs


def checking_cpu(count, interval, seconds, hook):
    """(daemon CPU in s per s, on-check hook runs per s) over `seconds` with `count` services
    checked every `interval` s, with or without the on-check hook."""
    text = "".join(service(f"s{i:04}", 21000 + i).replace("interval = 1", f"interval = {interval}")
                   for i in range(count))
    p = platform(hooked(text, "on-check") if hook else text, hook)
    try:
        p.keel("platform", "start")
        time.sleep(3)
        pid = p.daemon_pid()
        r0, c0, w0 = hook_runs(p, "on-check"), cpu_ticks(pid), time.time()
        time.sleep(seconds)
        c1, w1, r1 = cpu_ticks(pid), time.time(), hook_runs(p, "on-check")
        out = p.keel("platform", "health", check=False).stdout
        assert f"Summary: {count} healthy, 0 unhealthy" in out, out[-400:] + down(p, out)
        return (c1 - c0) / TICKS / (w1 - w0), (r1 - r0) / (w1 - w0)
    finally:
        p.close()


def down(p, health):
    """The log of the first service `platform health` shows not running, for a failure's message."""
    for line in health.splitlines():
        if "Not running" in line:
            name = line.split()[1].rstrip(":")
            with open(os.path.join(p.state, "logs", f"{name}.log"), errors="replace") as f:
                return f"\n{name}'s log:\n" + f.read()[-2000:]
    return ""


def dag_text():
    text = ""
    for level in range(4):
        for j in range(5):
            deps = [f"l{level - 1}s{k}" for k in range(5)] if level else []
            text += service(f"l{level}s{j}", 19000 + level * 10 + j, deps, delay_ms=100)
    return text


def dag(rounds, hook):
    text = hooked(dag_text(), "before-start") if hook else dag_text()
    samples = []
    for _ in range(rounds + 1):
        p = platform(text, hook)
        try:
            t0 = time.perf_counter()
            p.keel("platform", "start")
            samples.append((time.perf_counter() - t0) * 1000)
            out = p.keel("platform", "health").stdout
            assert "Summary: 20 healthy, 0 unhealthy, 0 not running" in out, out
            if hook:
                assert hook_runs(p, "before-start") == 20, "every start asked its hook"
        finally:
            p.close()
    return samples[1:]


def summary(samples):
    return (f"median {statistics.median(samples):.0f} ms, min {min(samples):.0f} ms, "
            f"max {max(samples):.0f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--services", type=int, default=100)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--cpu-rounds", type=int, default=3)
    a = ap.parse_args()
    for exe in (KEEL, LISTENER, FIXTURE):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: cargo build --release -p keel -p keel-e2e")

    without, with_hook, rates = [], [], []
    for _ in range(a.cpu_rounds):
        without.append(checking_cpu(a.services, a.interval, a.seconds, False)[0])
        cpu, rate = checking_cpu(a.services, a.interval, a.seconds, True)
        with_hook.append(cpu)
        rates.append(rate)
    base, hooked_cpu, rate = (statistics.median(without), statistics.median(with_hook),
                              statistics.median(rates))
    per_event = (hooked_cpu - base) / rate * 1e6
    print(f"{a.services} services, tcp check every {a.interval:g} s, {a.cpu_rounds} rounds of "
          f"{a.seconds:.0f} s each: daemon CPU {base * 100:.2f}% of one core without hooks, "
          f"{hooked_cpu * 100:.2f}% with a no-op on-check hook ({rate:.0f} notifications/s): "
          f"{per_event:.0f} us of daemon CPU per notification (medians)")

    plain = dag(a.rounds, False)
    gated = dag(a.rounds, True)
    f = floor(a.rounds)
    fm, pm, gm = statistics.median(f), statistics.median(plain), statistics.median(gated)
    print(f"20-service DAG, `platform start` from a cold daemon until all healthy, {a.rounds} "
          f"rounds each: without hooks {summary(plain)}; with a no-op before-start hook on "
          f"every service {summary(gated)}")
    print(f"  this machine's floor for that DAG: {summary(f)}; with the hooks Keel takes the "
          f"floor + {gm - fm:.0f} ms (without hooks: + {pm - fm:.0f} ms; the hooks add "
          f"{gm - pm:.0f} ms, medians)")


if __name__ == "__main__":
    main()
