//! Readiness a service reports itself (`type = "notify"`), with real programs: systemd's own
//! `systemd-notify` on `NOTIFY_SOCKET`, and a shell script writing a newline to its s6
//! notification descriptor. Also Keel itself under systemd: `READY=1` and `STOPPING=1` to a
//! `NOTIFY_SOCKET`, and the unit file in docs/ checked by `systemd-analyze verify`.
//!
//! The systemd tools come with Debian's `systemd` package (`.ci/run` installs it). Without
//! them these tests are skipped, unless `KEEL_REQUIRE_SYSTEMD=1` (CI sets it), which makes
//! them fail instead.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use keel_e2e::{Platform, keel_bin, repo_root};

/// Whether `tool` is installed; panics instead of skipping when `KEEL_REQUIRE_SYSTEMD=1`.
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("KEEL_REQUIRE_SYSTEMD").as_deref() != Ok("1"),
            "KEEL_REQUIRE_SYSTEMD=1 but `{tool}` is missing (Debian's systemd package has it)"
        );
        eprintln!("skipped: `{tool}` is not installed");
    }
    found
}

/// A service running `/bin/sh -c SCRIPT` with a check of its own and `extra` lines.
fn service(name: &str, script: &str, check: &str, extra: &str) -> String {
    format!(
        r#"
[services.{name}]
{extra}
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", '''{script}''']
{check}
"#
    )
}

fn notify_check(name: &str, table: &str) -> String {
    format!(
        "[services.{name}.health_check]\ntype = \"notify\"\n[services.{name}.health_check.notify]\n{table}"
    )
}

/// Nanoseconds since the epoch, as a service's `date +%s%N` wrote them to `file` (waited for:
/// a service without a check counts as started once its process runs, maybe before `date`).
fn stamp(file: &Path) -> u128 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.ends_with('\n') {
            return text
                .trim()
                .parse()
                .unwrap_or_else(|e| panic!("{}: {e}: {text:?}", file.display()));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} was not written",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn pid(v: &serde_json::Value) -> i64 {
    v["pid"].as_i64().expect("a pid")
}

/// The dependent `web` starts only after `api` has said READY=1 (through systemd-notify),
/// and `api`'s STATUS= is its health message.
#[test]
fn systemd_notify_ready_gates_the_dependent_and_its_status_is_the_message() {
    if !have("systemd-notify") {
        return;
    }
    let config = service(
        "api",
        "sleep 1; date +%s%N > ready.at; systemd-notify --ready --status='serving 3 clients'; exec sleep 300",
        &notify_check("api", ""),
        "",
    ) + &service(
        "web",
        "date +%s%N > web.started; exec sleep 300",
        "",
        "dependencies = [\"api\"]",
    );
    let p = Platform::new(&config);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.log("api"));
    let ready = stamp(&p.dir.path().join("ready.at"));
    let started = stamp(&p.dir.path().join("web.started"));
    assert!(
        started > ready,
        "web started {} ms before api was ready",
        (ready - started) / 1_000_000
    );
    eprintln!(
        "READY=1 to the dependent's start: {:.1} ms",
        (started - ready) as f64 / 1e6
    );

    let api = p.status("api");
    assert_eq!(api["health"]["state"], "healthy", "{api}");
    assert_eq!(
        api["health"]["last"]["message"], "serving 3 clients",
        "{api}"
    );
    // `services health` answers with what the service said.
    let h = p.keel(&["services", "health", "api", "--json"]);
    assert_eq!(h.code, 0, "{}{}", h.stdout, h.stderr);
    assert_eq!(
        h.json()["data"]["message"],
        "serving 3 clients",
        "{}",
        h.stdout
    );
}

/// A newline on descriptor 3, written by a shell script, is its readiness; the dependent
/// waits for it.
#[test]
fn a_newline_on_the_notification_descriptor_gates_the_dependent() {
    let config = service(
        "db",
        "sleep 0.5; date +%s%N > ready.at; echo >&3; exec 3>&-; exec sleep 300",
        &notify_check("db", "notification_fd = 3"),
        "",
    ) + &service(
        "app",
        "date +%s%N > app.started; exec sleep 300",
        "",
        "dependencies = [\"db\"]",
    );
    let p = Platform::new(&config);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.log("db"));
    let ready = stamp(&p.dir.path().join("ready.at"));
    let started = stamp(&p.dir.path().join("app.started"));
    assert!(started > ready, "app started before db wrote its newline");
    eprintln!(
        "newline to the dependent's start: {:.1} ms",
        (started - ready) as f64 / 1e6
    );
    assert_eq!(p.status("db")["health"]["state"], "healthy");
}

/// A service that never says it is ready fails its start at its start timeout, and its
/// dependent is not started.
#[test]
fn a_service_that_never_notifies_holds_back_its_dependent() {
    let config = service(
        "mute",
        "exec sleep 300",
        &notify_check("mute", "notification_fd = 3"),
        "[services.mute.startup]\nstart_timeout = 1\nrestart = \"never\"",
    ) + &service("after", "exec sleep 300", "", "dependencies = [\"mute\"]");
    let p = Platform::new(&config);
    let r = p.keel(&["platform", "start"]);
    assert_ne!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("after")["status"], "stopped");
    let mute = p.wait_for("mute", Duration::from_secs(5), |s| {
        s["health"]["state"] == "unhealthy"
    });
    let message = mute["health"]["last"]["message"].as_str().unwrap();
    assert!(
        message.contains("no READY=1 within the start timeout (1s)"),
        "{mute}"
    );
}

/// WATCHDOG_USEC is exported; pings keep it healthy; once they stop, the missed watchdog
/// makes it unhealthy and it is restarted (a new process, one restart).
#[test]
fn a_missed_watchdog_makes_it_unhealthy_and_it_is_restarted() {
    if !have("systemd-notify") {
        return;
    }
    let script = "echo $WATCHDOG_USEC > usec; systemd-notify --ready; \
                  for i in 1 2 3 4 5 6; do systemd-notify WATCHDOG=1; sleep 0.25; done; \
                  exec sleep 300";
    let config = service(
        "dog",
        script,
        &notify_check("dog", "watchdog = 1"),
        "[services.dog.startup]\nstable_run = 0.5",
    );
    let p = Platform::new(&config);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.log("dog"));
    let first = pid(&p.status("dog"));
    let usec = std::fs::read_to_string(p.dir.path().join("usec")).unwrap();
    assert_eq!(usec.trim(), "1000000");
    // Pinged for 1.5 s: still healthy after more than one watchdog interval.
    std::thread::sleep(Duration::from_millis(1200));
    let s = p.status("dog");
    assert_eq!(
        (pid(&s), &s["health"]["state"]),
        (first, &"healthy".into()),
        "{s}"
    );
    // Then silent: unhealthy within a second, and restarted.
    let s = p.wait_for("dog", Duration::from_secs(10), |s| {
        s["restarts"] == 1 && s["pid"].as_i64().is_some_and(|p| p != first)
    });
    let log = p.log("dog");
    assert!(
        log.contains("health: unhealthy (watchdog: no WATCHDOG=1 within 1s)"),
        "{log}"
    );
    assert!(log.contains("unhealthy: stopping it to restart"), "{log}");
    assert_eq!(s["status"], "running", "{s}");
}

/// After the daemon is killed and started again, a re-adopted notify service is still ready:
/// the socket variant keeps reaching the new daemon at the same path (its watchdog pings keep
/// it healthy), and the descriptor variant, whose pipe died with the old daemon, is taken as
/// ready because it was ready before.
#[test]
fn re_adopted_notify_services_stay_ready_across_a_daemon_restart() {
    if !have("systemd-notify") {
        return;
    }
    let config = service(
        "sock",
        "systemd-notify --ready; while true; do systemd-notify WATCHDOG=1; sleep 0.2; done",
        &notify_check("sock", "watchdog = 1"),
        "",
    ) + &service(
        "pipe",
        "echo >&3; exec 3>&-; exec sleep 300",
        &notify_check("pipe", "notification_fd = 3"),
        "",
    );
    let p = Platform::new(&config);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pids = ["sock", "pipe"].map(|n| pid(&p.status(n)));
    let daemon = p.daemon_pid().unwrap();
    Command::new("kill")
        .args(["-9", &daemon.to_string()])
        .status()
        .unwrap();
    p.wait_daemon_gone(daemon);
    // Any command starts a new daemon, which re-adopts both.
    for (name, before) in ["sock", "pipe"].iter().zip(pids) {
        let s = p.status(name);
        assert_eq!(pid(&s), before, "{s}");
        assert_eq!(s["health"]["state"], "healthy", "{s}");
    }
    // Past two watchdog intervals: the pings reach the new daemon.
    std::thread::sleep(Duration::from_millis(2500));
    let s = p.status("sock");
    assert_eq!(
        (pid(&s), &s["restarts"]),
        (pids[0], &0.into()),
        "{s}\n{}",
        p.log("sock")
    );
    assert_eq!(s["health"]["state"], "healthy", "{s}");
}

/// A notification from a process outside the service's process group (here: this test,
/// writing READY=1 to the service's socket) is ignored and noted in the service's log.
#[test]
fn a_notification_from_outside_the_process_group_is_ignored() {
    let config = service(
        "quiet",
        "exec sleep 300",
        &notify_check("quiet", ""),
        "[services.quiet.startup]\nstart_timeout = 3\nrestart = \"never\"",
    );
    let p = Platform::new(&config);
    // The start waits for READY=1: it runs in the background while this test speaks.
    let start = p
        .cmd()
        .args(["platform", "start"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    p.wait_for("quiet", Duration::from_secs(10), |s| {
        s["status"] == "running"
    });
    let socket = p.state.join("notify").join("quiet.sock");
    UnixDatagram::unbound()
        .unwrap()
        .send_to(b"READY=1", &socket)
        .unwrap();
    let out = start.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the start succeeded on a stranger's word"
    );
    p.wait_for("quiet", Duration::from_secs(5), |s| {
        s["health"]["state"] == "unhealthy"
    });
    let log = p.log("quiet");
    let note = format!(
        "ignored a notification from pid {}: not in the service's process group",
        std::process::id()
    );
    assert!(log.contains(&note), "{log}");
}

/// `keel daemon` tells a NOTIFY_SOCKET READY=1 once it serves its socket, and STOPPING=1 when
/// it stops.
#[test]
fn the_daemon_tells_its_service_manager_ready_then_stopping() {
    let p = Platform::new(&service("one", "exec sleep 300", "", ""));
    let manager_path = p.dir.path().join("manager.sock");
    let manager = UnixDatagram::bind(&manager_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut daemon = p
        .cmd()
        .arg("daemon")
        .env("NOTIFY_SOCKET", &manager_path)
        .spawn()
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = manager.recv(&mut buf).expect("READY=1 within 30 s");
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means serving: the control socket answers (the auto-start comes after).
    let s = p.wait_for("one", Duration::from_secs(10), |s| s["status"] == "running");
    // The service does not inherit Keel's NOTIFY_SOCKET.
    let environ = std::fs::read(format!("/proc/{}/environ", pid(&s))).unwrap();
    assert!(
        !String::from_utf8_lossy(&environ).contains("NOTIFY_SOCKET"),
        "the service got the daemon's NOTIFY_SOCKET"
    );
    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let n = manager.recv(&mut buf).expect("STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(daemon.wait().unwrap().success());
}

/// docs/keel.service passes `systemd-analyze verify` (with its ExecStart pointed at this
/// build, since verify checks that the program exists).
#[test]
fn the_unit_file_in_docs_passes_systemd_analyze_verify() {
    if !have("systemd-analyze") {
        return;
    }
    let unit = std::fs::read_to_string(repo_root().join("docs/keel.service")).unwrap();
    assert!(unit.contains("\nType=notify\n"), "{unit}");
    let installed = "ExecStart=/usr/local/bin/keel ";
    assert!(unit.contains(installed), "{unit}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keel.service");
    let here = format!("ExecStart={} ", keel_bin().display());
    std::fs::write(&path, unit.replace(installed, &here)).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}
