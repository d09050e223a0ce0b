#!/usr/bin/env python3
"""Platform lifecycle benchmarks for Keel (issue: platform lifecycle).

With the release build and real processes on this machine:
  1. a 20-service DAG in 4 levels (5 per level, each depending on every service of the level
     below), each service listening 100 ms after it starts, tcp checks with interval = 1:
     wall time of `keel platform start` from a cold daemon (daemon start included) until it
     returns, which is when all 20 are healthy. Median of N rounds, after one uncounted
     round that fills the plugin compile cache (bench-only, under target/) when it is cold.
     Beside it, the machine's floor for the same DAG: the bench itself starting the same 20
     listeners level by level (posix_spawn, then a connect attempt to each every 0.2 ms), an
     orchestrator with nothing to start up and no health checks of its own to run. What the
     machine takes to start processes (and to wake a sleeping one) is in both numbers; what
     Keel adds is the difference.
  2. N services (100, then 1000) with tcp checks every 1 s through the plugins: the daemon's
     CPU (% of one core) and RSS while it checks them all, once they are healthy. Beside it,
     in the same run against the same listeners, the machine's floor for a check: a bare
     loopback connect + close (`keel-test-connect`), with the CPU it spent per connection.
     With `--check-plugin FILE`, the same again with a third-party check (a `.wasm` that takes
     the tcp check's `host` and `port`, such as a `keel plugins new --lang python` project's)
     instead of the bundled tcp check, for comparing a plugin's per-call cost.

Usage: python3 bench/lifecycle.py [--rounds 10] [--seconds 60] [--counts 100,1000] [--check-plugin FILE]
Build first: cargo build --release -p keel -p keel-e2e
(CARGO_TARGET_DIR is honoured when the release build went elsewhere.)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# The same /proc readings and port probe as the supervisor bench.
from supervisor import answers, cpu_ticks, rss_kib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
KEEL = os.path.join(TARGET, "release", "keel")
LISTENER = os.path.join(TARGET, "release", "keel-test-listener")
CONNECT = os.path.join(TARGET, "release", "keel-test-connect")
TICKS = os.sysconf("SC_CLK_TCK")
ENV = dict(os.environ, KEEL_CACHE_DIR=os.path.join(TARGET, "keel-bench-cache"), NO_COLOR="1")


def service(name, port, deps=(), delay_ms=0, check="tcp"):
    dep = f"dependencies = {list(deps)!r}\n" if deps else ""
    return f"""
[services.{name}]
{dep}[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "{LISTENER}"
args = ["{port}", "{delay_ms}"]
[services.{name}.health_check]
type = "{check}"
interval = 1
[services.{name}.health_check.{check}]
host = "127.0.0.1"
port = {port}
"""


class Platform:
    def __init__(self, text):
        self.dir = tempfile.mkdtemp(prefix="keel-bench-")
        self.config = os.path.join(self.dir, "services.toml")
        self.state = os.path.join(self.dir, "state")
        with open(self.config, "w") as f:
            f.write(text)

    def keel(self, *args, check=True):
        r = subprocess.run([KEEL, "--config", self.config, "--state-dir", self.state, *args],
                           env=ENV, capture_output=True, text=True)
        if check and r.returncode != 0:
            sys.exit(f"keel {' '.join(args)} failed:\n{r.stdout}{r.stderr}")
        return r

    def daemon_pid(self):
        with open(os.path.join(self.state, "daemon.lock")) as f:
            return int(f.read().strip())

    def close(self):
        self.keel("daemon", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def dag(rounds):
    text = ""
    for level in range(4):
        for j in range(5):
            deps = [f"l{level - 1}s{k}" for k in range(5)] if level else []
            text += service(f"l{level}s{j}", 19000 + level * 10 + j, deps, delay_ms=100)
    samples = []
    # One more round first, not counted: with a cold plugin cache (a new build) it also
    # compiles the plugins, which a daemon does once per keel binary, not per start.
    for _ in range(rounds + 1):
        p = Platform(text)
        try:
            t0 = time.perf_counter()
            p.keel("platform", "start")
            samples.append((time.perf_counter() - t0) * 1000)
            out = p.keel("platform", "health").stdout
            assert "Summary: 20 healthy, 0 unhealthy, 0 not running" in out, out
        finally:
            p.close()
    return samples[0], samples[1:]


def floor(rounds):
    """The DAG's floor on this machine (see the module docs): ms until all 20 accept."""
    samples = []
    devnull = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    for r in range(rounds):
        # Other ports than Keel's rounds use, and new ones each round: no TIME_WAIT in the way.
        base = 30000 + (r % 50) * 50
        pids = []
        t0 = time.perf_counter()
        try:
            for level in range(4):
                ports = [base + level * 10 + j for j in range(5)]
                for port in ports:
                    pids.append(os.posix_spawn(LISTENER, [LISTENER, str(port), "100"], os.environ,
                                               file_actions=devnull))
                waiting = set(ports)
                while waiting:
                    waiting = {port for port in waiting if not answers(port)}
                    time.sleep(0.0002)
            samples.append((time.perf_counter() - t0) * 1000)
        finally:
            for pid in pids:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
    return samples


def checking(count, seconds, plugin=None):
    """Daemon CPU and RSS with `count` checked services; with `plugin` (a .wasm), checked by that
    third-party plugin instead of the bundled tcp check. Also the bare-connect floor."""
    check, prologue = "tcp", ""
    if plugin:
        check = "bench-check"
        prologue = '[plugins]\ndir = "plugins"\n[plugins.grants.bench-check]\nnetwork = [' + ", ".join(
            f'"127.0.0.1:{20000 + i}"' for i in range(count)) + "]\n"
    text = prologue + "".join(service(f"s{i:04}", 20000 + i, check=check) for i in range(count))
    p = Platform(text)
    try:
        if plugin:
            os.makedirs(os.path.join(p.dir, "plugins"))
            shutil.copy(plugin, os.path.join(p.dir, "plugins", "bench-check.wasm"))
            # Its describe() must give the name the config uses.
            name = p.keel("plugins", "call", plugin, "describe", "--json").stdout
            assert '"bench-check"' in name, f"--check-plugin must describe itself as bench-check: {name[:300]}"
        t0 = time.perf_counter()
        p.keel("platform", "start")
        up = time.perf_counter() - t0
        time.sleep(3)
        pid = p.daemon_pid()
        c0, w0 = cpu_ticks(pid), time.time()
        time.sleep(seconds)
        c1, w1 = cpu_ticks(pid), time.time()
        cpu = (c1 - c0) / TICKS / (w1 - w0) * 100
        rss = rss_kib(pid) / 1024
        out = p.keel("platform", "health").stdout
        assert f"Summary: {count} healthy, 0 unhealthy" in out, out[-400:]
        floor = subprocess.run([CONNECT, "20000", str(count), str(max(20, 20000 // count))],
                               capture_output=True, text=True, check=True).stdout.split()
        assert floor[3] == "0", f"bare connects failed: {floor}"
        return up, cpu, rss, float(floor[5])
    finally:
        p.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--counts", default="100,1000")
    ap.add_argument("--check-plugin", help="also measure this third-party check (.wasm, named bench-check)")
    a = ap.parse_args()
    for exe in (KEEL, LISTENER, CONNECT):
        if not os.path.exists(exe):
            sys.exit(f"missing {exe}: cargo build --release -p keel -p keel-e2e")
    first, s = dag(a.rounds)
    f = floor(a.rounds)
    print(f"20-service DAG, 4 levels, listening 100 ms after start, tcp checks interval 1 s: "
          f"`platform start` from a cold daemon until all healthy, {len(s)} rounds: "
          f"median {statistics.median(s):.0f} ms, min {min(s):.0f} ms, max {max(s):.0f} ms "
          f"(an uncounted first round, which compiles the plugins if the cache is cold: "
          f"{first:.0f} ms)")
    print(f"  this machine's floor for that DAG (the bench starting the listeners itself, "
          f"polling every 0.2 ms), {len(f)} rounds: median {statistics.median(f):.0f} ms, "
          f"min {min(f):.0f} ms, max {max(f):.0f} ms; Keel adds "
          f"{statistics.median(s) - statistics.median(f):.0f} ms (medians), its daemon's "
          f"start-up included")
    for count in [int(c) for c in a.counts.split(",") if c]:
        for plugin in [None, a.check_plugin] if a.check_plugin else [None]:
            up, cpu, rss, floor_us = checking(count, a.seconds, plugin)
            per_check = cpu / 100 / count * 1e6
            what = f"{os.path.basename(plugin)} check" if plugin else "tcp check"
            print(f"{count} services, {what} every 1 s: daemon CPU {cpu:.2f}% of one core, "
                  f"RSS {rss:.1f} MiB over {a.seconds:.0f} s (about {per_check:.0f} us of CPU per check; "
                  f"all {count} started and healthy in {up:.1f} s)")
            print(f"  the floor, a bare loopback connect + close to the same listeners: "
                  f"{floor_us:.0f} us of CPU each; the check costs {per_check - floor_us:+.0f} us beyond it")


if __name__ == "__main__":
    main()
