//! The platform lifecycle with real processes and real health checks: dependency-ordered,
//! health-gated start; a plan that stops at a dependency that never becomes healthy; safe stop;
//! conflicts; restarts of services that turn unhealthy; `services monitor`.

use keel_e2e::free_port;
use std::time::{Duration, Instant};

use keel_e2e::Platform;

/// A python service that waits `delay` seconds, then listens on `port` (answering "ok") for
/// `serve` seconds (forever if negative), then closes its listener but keeps running.
fn listener(name: &str, port: u16, delay: f64, serve: f64, extra: &str) -> String {
    let script = format!(
        "import socket,time,sys\n\
         time.sleep({delay})\n\
         s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1',{port})); s.listen(64)\n\
         print('listening', flush=True)\n\
         s.settimeout(0.05)\n\
         end=time.time()+{serve} if {serve}>=0 else float('inf')\n\
         while time.time()<end:\n\
         \x20   try:\n\
         \x20       c,_=s.accept(); c.sendall(b'ok\\n'); c.close()\n\
         \x20   except socket.timeout: pass\n\
         s.close(); print('listener closed', flush=True)\n\
         time.sleep(3600)\n"
    );
    format!(
        r#"
[services.{name}]
{extra}
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "/usr/bin/python3"
args = ["-c", {script:?}]
[services.{name}.health_check]
type = "tcp"
interval = 1
retries = 2
[services.{name}.health_check.tcp]
host = "127.0.0.1"
port = {port}
"#
    )
}

/// The time of the first log line of `name` containing `needle` (the log's own timestamps).
fn logged_at(p: &Platform, name: &str, needle: &str) -> String {
    let log = p.log(name);
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the log of {name}:\n{log}"));
    line.split_whitespace().next().unwrap().to_string()
}

#[test]
fn a_three_level_graph_starts_in_order_each_level_after_the_one_below_is_healthy() {
    let (a, b, c) = (free_port(), free_port(), free_port());
    let config = [
        listener("base", a, 0.4, -1.0, ""),
        listener("middle", b, 0.3, -1.0, r#"dependencies = ["base"]"#),
        listener("top", c, 0.0, -1.0, r#"dependencies = ["middle"]"#),
    ]
    .concat();
    let p = Platform::new(&config);
    let began = Instant::now();
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // base needs 0.4 s and middle 0.3 s to listen: a start that did not wait would be quicker.
    assert!(
        began.elapsed() >= Duration::from_millis(700),
        "{:?}",
        began.elapsed()
    );
    let out = &r.stdout;
    let pos = |s: &str| out.find(s).unwrap_or_else(|| panic!("no {s:?} in:\n{out}"));
    assert!(
        pos("✅ Service base is healthy") < pos("Starting service: middle"),
        "{out}"
    );
    assert!(
        pos("✅ Service middle is healthy") < pos("Starting service: top"),
        "{out}"
    );
    assert!(pos("Waiting for base to become healthy...") < pos("✅ Service base is healthy"));
    // The logs agree: each dependent started after its dependency's first healthy check.
    assert!(logged_at(&p, "base", "health: healthy") <= logged_at(&p, "middle", "started pid"));
    assert!(logged_at(&p, "middle", "health: healthy") <= logged_at(&p, "top", "started pid"));
    for name in ["base", "middle", "top"] {
        assert_eq!(p.status(name)["health"]["state"], "healthy", "{name}");
    }
    let r = p.keel(&["platform", "health"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout
            .contains("Summary: 3 healthy, 0 unhealthy, 0 not running"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_dependency_that_never_becomes_healthy_stops_the_plan_at_its_start_timeout() {
    let (a, b) = (free_port(), free_port());
    let never = format!(
        r#"
[services.never]
[services.never.deployment]
mode = "binary"
[services.never.deployment.binary]
binary_path = "/bin/sleep"
args = ["300"]
[services.never.health_check]
type = "tcp"
[services.never.health_check.tcp]
host = "127.0.0.1"
port = {a}
[services.never.startup]
start_timeout = 2
"#
    );
    let config = [
        never,
        listener("after", b, 0.0, -1.0, r#"dependencies = ["never"]"#),
    ]
    .concat();
    let p = Platform::new(&config);
    let began = Instant::now();
    let r = p.keel(&["platform", "start"]);
    let took = began.elapsed();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("never did not become ready: not healthy within its start_timeout of 2s"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("connection refused"), "{}", r.stderr);
    // At its start_timeout, not before (the upper bound only catches a plan that hangs).
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(30),
        "{took:?}"
    );
    // Nothing after it was started; what runs keeps running.
    assert!(
        !r.stdout.contains("Starting service: after"),
        "{}",
        r.stdout
    );
    assert_eq!(p.status("after")["status"], "stopped");
    assert_eq!(p.status("never")["status"], "running");
    assert_eq!(p.status("never")["health"]["state"], "starting");
}

#[test]
fn stopping_a_dependency_is_refused_while_dependents_run_unless_forced() {
    let (a, b) = (free_port(), free_port());
    let config = [
        listener("db", a, 0.0, -1.0, ""),
        listener("app", b, 0.0, -1.0, r#"dependencies = ["db"]"#),
    ]
    .concat();
    let p = Platform::new(&config);
    // `services start` brings the missing dependency first.
    let r = p.keel(&["services", "start", "app"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Running pre-flight checks for app..."),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Starting dependency: db"), "{}", r.stdout);
    assert!(
        r.stdout.find("✅ Service db is healthy") < r.stdout.find("Starting service: app"),
        "{}",
        r.stdout
    );
    let r = p.keel(&["services", "stop", "db"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout,
        "❌ Cannot stop db:\nDependent services running: app\nUse --force to stop anyway\n"
    );
    // Scripts get the dependents as data, not only inside the message.
    let r = p.keel(&["services", "stop", "db", "--json"]);
    assert_eq!(r.code, 1);
    let v = r.json();
    assert_eq!(v["success"], false);
    assert_eq!(v["error"]["details"]["service"], "db");
    assert_eq!(
        v["error"]["details"]["dependents"],
        serde_json::json!(["app"])
    );
    assert_eq!(p.status("db")["status"], "running");
    let r = p.keel(&["services", "stop", "db", "--force"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("db")["status"], "stopped");
    // The platform stops dependents first.
    p.keel(&["services", "start", "app"]);
    let r = p.keel(&["platform", "stop"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.find("Stopped app") < r.stdout.find("Stopped db"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_conflicting_service_is_refused_by_pre_flight_unless_forced() {
    let (a, b) = (free_port(), free_port());
    // Both cannot be auto-started (validation says so), so coredns is started by hand.
    let config = [
        listener("dnsmasq", a, 0.0, -1.0, ""),
        listener("coredns", b, 0.0, -1.0, r#"conflicts = ["dnsmasq"]"#),
        "[services.coredns.startup]\nauto_start = false\n".to_string(),
    ]
    .concat();
    let p = Platform::new(&config);
    assert_eq!(p.keel(&["services", "start", "dnsmasq"]).code, 0);
    let r = p.keel(&["services", "start", "coredns"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("❌ Conflicting services running: dnsmasq"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("Pre-flight check failed: conflicts"),
        "{}",
        r.stderr
    );
    assert_eq!(p.status("coredns")["status"], "stopped");
    // Through the API (as `platform start` sends it) the refusal carries the report.
    let r = p.keel(&["platform", "start", "coredns"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("Pre-flight check failed: conflicts (coredns)"),
        "{}",
        r.stdout
    );
    assert_eq!(p.status("coredns")["status"], "stopped");
    let r = p.keel(&["services", "start", "coredns", "--force"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("coredns")["status"], "running");
    let r = p.keel(&["services", "readiness"]);
    assert!(r.stdout.contains("Issues: 2"), "{}", r.stdout);
}

#[test]
fn a_typo_in_a_check_table_refuses_the_start_at_its_line_before_anything_starts() {
    let (a, b) = (free_port(), free_port());
    let config = [
        listener("db", a, 0.0, -1.0, ""),
        listener("web", b, 0.0, -1.0, r#"dependencies = ["db"]"#)
            .replace(&format!("port = {b}"), &format!("prot = {b}")),
    ]
    .concat();
    let p = Platform::new(&config);
    let started = std::time::Instant::now();
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("Pre-flight check failed"), "{out}");
    // Located at the key, with the plugin's suggestion.
    assert!(
        out.contains("services.toml:") && out.contains("services.web.health_check.tcp.prot"),
        "{out}"
    );
    assert!(out.contains("did you mean \"port\""), "{out}");
    // Refused at once, not a start_timeout later, and nothing was started.
    assert!(started.elapsed() < Duration::from_secs(20), "{out}");
    assert_eq!(p.status("db")["status"], "stopped");
    assert_eq!(p.status("web")["status"], "stopped");
}

#[test]
fn a_service_whose_check_starts_failing_is_restarted() {
    let a = free_port();
    let extra = "";
    let mut config = listener("flaky", a, 0.0, 1.5, extra);
    config.push_str("[services.flaky.startup]\nstart_timeout = 1\nrestart = \"on-failure\"\n");
    let p = Platform::new(&config);
    let r = p.keel(&["services", "start", "flaky"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let first = p.status("flaky")["pid"].as_i64().unwrap();
    // Closed after 1.5 s; two failed checks 1 s apart make it unhealthy; then a restart.
    let s = p.wait_for("flaky", Duration::from_secs(10), |s| {
        s["restarts"].as_u64() >= Some(1) && s["status"] == "running"
    });
    assert_ne!(s["pid"].as_i64().unwrap(), first);
    let log = p.log("flaky");
    assert!(log.contains("health: unhealthy"), "{log}");
    assert!(log.contains("unhealthy (TCP connection to"), "{log}");
    assert!(log.contains("restarting in 0ms (restart 1)"), "{log}");
}

#[test]
fn monitor_prints_a_line_per_interval() {
    let a = free_port();
    let p = Platform::new(&listener("web", a, 0.0, -1.0, ""));
    assert_eq!(p.keel(&["services", "start", "web"]).code, 0);
    let began = Instant::now();
    let r = p.keel(&[
        "services",
        "monitor",
        "web",
        "--interval",
        "1",
        "--count",
        "3",
    ]);
    let took = began.elapsed();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "Starting health monitoring for web (interval: 1s)"
    );
    assert_eq!(lines[1], "Press Ctrl+C to stop");
    assert_eq!(lines.len(), 5, "{}", r.stdout);
    for l in &lines[2..] {
        // "2026-11-23 09:32:47 ✅ web: TCP connection to 127.0.0.1:PORT succeeded"
        let (stamp, rest) = l.split_at(19);
        assert!(
            stamp.chars().nth(4) == Some('-') && stamp.chars().nth(13) == Some(':'),
            "{l}"
        );
        assert_eq!(
            rest,
            format!(" ✅ web: TCP connection to 127.0.0.1:{a} succeeded")
        );
    }
    // Three checks one second apart: the first at once, the last two seconds later.
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

#[test]
fn sigterm_while_the_daemon_brings_up_its_services_stops_what_started() {
    let a = free_port();
    // Never healthy: the daemon's auto-start waits on it for 30 s.
    let config = format!(
        r#"
[services.slow]
[services.slow.deployment]
mode = "binary"
[services.slow.deployment.binary]
binary_path = "/bin/sleep"
args = ["300"]
[services.slow.health_check]
type = "tcp"
[services.slow.health_check.tcp]
host = "127.0.0.1"
port = {a}
[services.slow.startup]
start_timeout = 30
"#
    );
    let p = Platform::new(&config);
    let mut daemon = p.cmd().arg("daemon").spawn().unwrap();
    let pid_file = p.state.join("pids").join("slow.pid");
    let deadline = Instant::now() + Duration::from_secs(20);
    let pid: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.lines().next()?.parse().ok())
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "slow never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")),
        "the service outlived its daemon"
    );
}

/// Reads an event stream of the daemon for `time` (a raw HTTP request on its socket).
fn read_events(p: &Platform, query: &str, time: Duration) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(p.state.join("keel.sock")).unwrap();
    write!(
        s,
        "GET /api/v1/events{query} HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + time;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn the_event_stream_carries_check_answers_unless_asked_for_changes_only() {
    let port = free_port();
    let p = Platform::new(&listener("web", port, 0.0, -1.0, ""));
    assert_eq!(p.keel(&["platform", "start"]).code, 0);
    let (all, changes) = std::thread::scope(|s| {
        let all = s.spawn(|| read_events(&p, "", Duration::from_millis(2500)));
        let changes = s.spawn(|| read_events(&p, "?events=changed", Duration::from_millis(2500)));
        // A change while both listen: a restart (stopping, starting, running, healthy).
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(p.keel(&["services", "restart", "web"]).code, 0);
        (all.join().unwrap(), changes.join().unwrap())
    });
    for stream in [&all, &changes] {
        assert!(stream.contains(r#"{"event":"snapshot""#), "{stream}");
        assert!(
            stream.contains(r#"{"event":"changed","name":"web""#),
            "{stream}"
        );
    }
    // Checks run every second: the full stream carries their answers, the other none.
    assert!(
        all.contains(r#"{"event":"health","service":"web""#),
        "{all}"
    );
    assert!(!changes.contains(r#""event":"health""#), "{changes}");
    let (status, body) = {
        let r = read_events(&p, "?events=changed,nope", Duration::from_millis(500));
        (
            r.split_whitespace().nth(1).unwrap_or_default().to_string(),
            r,
        )
    };
    assert_eq!(status, "400", "{body}");
    assert!(body.contains("unknown event kind `nope`"), "{body}");
}

/// `keel daemon status` and `keel daemon stop` need only the state directory: run where no
/// services.toml is found and without `--config`, they find the daemon, say which config it
/// serves, and stop it with its services.
#[test]
fn the_daemon_is_asked_about_and_stopped_without_its_config() {
    let p = Platform::new(
        r#"
[services.idle]
[services.idle.deployment]
mode = "binary"
[services.idle.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", "exec sleep 317"]
"#,
    );
    let r = p.keel(&["services", "start", "idle"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let service_pid = p.status("idle")["pid"].as_i64().expect("a pid");
    let elsewhere = tempfile::tempdir().unwrap();
    let state = p.state.to_str().unwrap();
    let daemon = |args: &[&str]| -> keel_e2e::Run {
        keel_e2e::keel()
            .args(["--state-dir", state, "daemon"])
            .args(args)
            .current_dir(elsewhere.path())
            .output()
            .expect("running keel")
            .into()
    };

    let r = daemon(&["status", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v = r.json();
    assert_eq!(v["data"]["running"], true);
    assert_eq!(
        v["data"]["daemon"]["config"].as_str(),
        Some(std::path::absolute(&p.config).unwrap().to_str().unwrap())
    );
    let r = daemon(&["status"]);
    assert!(r.stdout.contains("Daemon: running"), "{}", r.stdout);

    let r = daemon(&["stop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Stopped the daemon"), "{}", r.stdout);
    let gone = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{service_pid}")).exists() {
        let zombie = std::fs::read_to_string(format!("/proc/{service_pid}/stat"))
            .is_ok_and(|s| s.contains(") Z "));
        if zombie {
            break;
        }
        assert!(Instant::now() < gone, "the service outlived `daemon stop`");
        std::thread::sleep(Duration::from_millis(10));
    }

    let r = daemon(&["status"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Daemon: not running"), "{}", r.stdout);
}
