//! The bundled `webhook` hook against a real HTTP listener started by the test: failures and
//! health changes arrive as JSON POSTs, and a repeated notification is sent once, also across
//! a daemon restart (the plugin's store).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keel_e2e::Platform;

/// One request the listener received.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    content_type: String,
    body: serde_json::Value,
}

/// An HTTP/1.1 listener on 127.0.0.1 that answers every request with 204 and hands it to the
/// test; it runs until the test process ends.
struct Receiver {
    url: String,
    requests: mpsc::Receiver<Request>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/keel/events", listener.local_addr().unwrap());
        let (tx, requests) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut words = line.split_whitespace();
                let (method, path) = (
                    words.next().unwrap_or("").to_string(),
                    words.next().unwrap_or("").to_string(),
                );
                let (mut length, mut content_type) = (0, String::new());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap_or((&header, ""));
                    match name.trim().to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        "content-type" => content_type = value.trim().to_string(),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let _ =
                    (&stream).write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                let body = serde_json::from_slice(&body).unwrap_or_else(|e| {
                    serde_json::Value::String(format!(
                        "not JSON ({e}): {}",
                        String::from_utf8_lossy(&body)
                    ))
                });
                let _ = tx.send(Request {
                    method,
                    path,
                    content_type,
                    body,
                });
            }
        });
        Receiver { url, requests }
    }

    /// The next request, within `limit`.
    fn next(&self, limit: Duration) -> Option<Request> {
        self.requests.recv_timeout(limit).ok()
    }
}

/// A service running `sh -c SCRIPT` with the webhook at `url`, the service's table holding
/// `extra`; the webhook is granted its store.
fn platform(name: &str, script: &str, extra: &str, url: &str) -> Platform {
    Platform::new(&format!(
        r#"
[plugins.grants.webhook]
store = true

[[hooks]]
plugin = "webhook"
on_error = "ignore"
settings = {{ url = "{url}" }}

[services.{name}]
{extra}
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", {script:?}]
"#
    ))
}

#[test]
fn health_changes_are_posted_as_json_each_time_the_health_changes() {
    let hook = Receiver::start();
    let p = platform(
        "web",
        "exec sleep 341",
        r#"[services.web.startup]
restart = "never"
[services.web.health_check]
type = "file"
interval = 0.2
retries = 1
[services.web.health_check.file]
path = "ready""#,
        &hook.url,
    );
    let ready = p.dir.path().join("ready");
    std::fs::write(&ready, "").unwrap();
    let r = p.keel(&["services", "start", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let pid = p.status("web")["pid"].as_i64().unwrap();

    let healthy = hook
        .next(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no POST for on-healthy\n{}", p.log("web")));
    assert_eq!(healthy.method, "POST");
    assert_eq!(healthy.path, "/keel/events");
    assert_eq!(healthy.content_type, "application/json");
    let b = &healthy.body;
    assert_eq!(b["service"], "web", "{b}");
    assert_eq!(b["phase"], "on-healthy", "{b}");
    assert_eq!(b["cause"], "health", "{b}");
    assert_eq!(b["pid"], pid, "{b}");
    assert_eq!(b["consecutive_failures"], 0, "{b}");
    assert!(b["time"].as_str().unwrap().ends_with('Z'), "{b}");
    assert!(
        b["text"].as_str().unwrap().starts_with("web: on-healthy"),
        "{b}"
    );

    // Down, up, down again: every change is told, even though each repeats an earlier one.
    for (phase, cause) in [("on-unhealthy", "health"), ("on-healthy", "health")]
        .into_iter()
        .cycle()
        .take(3)
    {
        if phase == "on-unhealthy" {
            std::fs::remove_file(&ready).unwrap();
        } else {
            std::fs::write(&ready, "").unwrap();
        }
        let got = hook
            .next(Duration::from_secs(15))
            .unwrap_or_else(|| panic!("no POST for {phase}\n{}", p.log("web")));
        assert_eq!(got.body["phase"], phase, "{}", got.body);
        assert_eq!(got.body["cause"], cause, "{}", got.body);
        if phase == "on-unhealthy" {
            assert_eq!(got.body["consecutive_failures"], 1, "{}", got.body);
            assert!(
                got.body["health_message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{}",
                got.body
            );
        }
    }
    assert!(hook.next(Duration::from_millis(500)).is_none());
    // Under `restart = "never"` the unhealthy service kept running: the same process.
    assert_eq!(p.status("web")["pid"], pid);
}

#[test]
fn a_failure_is_posted_once_however_often_it_repeats_across_daemon_restarts() {
    let hook = Receiver::start();
    let p = platform(
        "crash",
        "sleep 0.3; exit 3",
        "[services.crash.startup]\nrestart = \"never\"",
        &hook.url,
    );
    let fail = |p: &Platform| {
        let _ = p.keel(&["services", "start", "crash"]);
        p.wait_for("crash", Duration::from_secs(10), |s| {
            s["status"] == "failed"
        });
    };
    fail(&p);
    let failed = hook
        .next(Duration::from_secs(15))
        .unwrap_or_else(|| panic!("no POST for on-failed\n{}", p.log("crash")));
    let b = &failed.body;
    assert_eq!(b["service"], "crash", "{b}");
    assert_eq!(b["phase"], "on-failed", "{b}");
    assert_eq!(b["last_exit"], serde_json::json!({"code": 3}), "{b}");
    // How long the process that failed ran (it slept 0.3 s).
    assert!(b["uptime_ms"].as_u64().is_some_and(|ms| ms >= 300), "{b}");
    assert!(b["reason"].as_str().unwrap().contains("exit code 3"), "{b}");

    // The same failure again, then again with a new daemon: not sent.
    fail(&p);
    let r = p.keel(&["daemon", "stop"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    fail(&p);
    let quiet_until = Instant::now() + Duration::from_secs(1);
    if let Some(again) = hook.next(quiet_until - Instant::now()) {
        panic!("sent again: {}\n{}", again.body, p.log("crash"));
    }
    // Each run is still in the service's log.
    let log = p.log("crash");
    assert_eq!(
        log.matches("[hook webhook] on-failed: proceed").count(),
        3,
        "{log}"
    );
}

/// `on-unhealthy` blocks, and the hook entry's default `on_error = "fail"` would make a failed
/// run a veto there; the webhook answers `proceed` anyway, so a receiver that is down never
/// keeps an unhealthy service from its restart.
#[test]
fn an_unreachable_receiver_never_keeps_an_unhealthy_service_from_its_restart() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let p = Platform::new(&format!(
        r#"
[[hooks]]
plugin = "webhook"
settings = {{ url = "http://{closed}/keel" }}

[services.web]
[services.web.deployment]
mode = "binary"
[services.web.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", "exec sleep 342"]
[services.web.health_check]
type = "file"
interval = 0.2
retries = 1
[services.web.health_check.file]
path = "ready"
"#
    ));
    std::fs::write(p.dir.path().join("ready"), "").unwrap();
    let r = p.keel(&["services", "start", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::remove_file(p.dir.path().join("ready")).unwrap();
    p.wait_for("web", Duration::from_secs(15), |s| s["restarts"] == 1);
    let log = p.log("web");
    assert!(
        log.contains("[hook webhook] on-unhealthy: proceed in "),
        "{log}"
    );
    assert!(log.contains("unhealthy: stopping it to restart"), "{log}");
}
