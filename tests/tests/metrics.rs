//! Prometheus metrics, checked with Prometheus's own tools: `promtool check metrics` lints a
//! scrape of the control socket and of `--metrics-listen`, and a real Prometheus server scrapes
//! the daemon and answers a query for the restart count of a service killed with SIGKILL.
//!
//! Without `promtool` or `prometheus` on PATH these tests are skipped, unless
//! `KEEL_REQUIRE_PROMETHEUS=1` (CI sets it, and `.ci/run` installs Debian's `prometheus`).

use keel_e2e::free_port;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_e2e::Platform;

/// Whether `tool` runs; panics instead of skipping when `KEEL_REQUIRE_PROMETHEUS=1`.
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("KEEL_REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "KEEL_REQUIRE_PROMETHEUS=1 but `{tool}` does not run (Debian package `prometheus`)"
        );
        eprintln!("skipped: `{tool}` is not installed (Debian package `prometheus`)");
    }
    found
}

/// Sends a GET over `stream` and returns the status code, the headers and the body.
fn get(mut stream: impl Read + Write, path: &str, accept: &str) -> (u16, String, String) {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: keel\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP answer");
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

/// Connects to `addr`, waiting up to 20 s for it to listen.
fn connect(addr: &str) -> std::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("{addr}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `keel daemon --metrics-listen ADDR` in the foreground (it starts the auto-start services).
fn daemon(p: &Platform, metrics: &str) -> Daemon {
    let child = p
        .cmd()
        .args(["daemon", "--metrics-listen", metrics])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Daemon(child)
}

/// Ends the daemon it holds (after the platform's own `daemon stop`, if that did not).
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SERVICES: &str = r#"
[services.web]
category = "frontend"
[services.web.deployment]
mode = "binary"
[services.web.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", "exec sleep 300"]
[services.web.health_check]
type = "command"
interval = 1
[services.web.health_check.command]
command = "/bin/true"

[[service]]
name = "once"
cmd = ["/bin/sh", "-c", "exit 3"]
restart = "never"
"#;

/// promtool's verdict on a scrape.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

#[test]
fn promtool_accepts_the_metrics_of_the_control_socket_and_of_the_metrics_listener() {
    if !have("promtool") {
        return;
    }
    let p = Platform::new(SERVICES);
    let addr = format!("127.0.0.1:{}", free_port());
    let _daemon = daemon(&p, &addr);
    connect(&addr);
    p.wait_for("web", Duration::from_secs(30), |s| {
        s["health"]["state"] == "healthy"
    });
    p.wait_for("once", Duration::from_secs(30), |s| s["status"] == "failed");

    let socket = std::os::unix::net::UnixStream::connect(p.state.join("keel.sock")).unwrap();
    let (code, head, on_socket) = get(socket, "/metrics", "*/*");
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let (code, _, on_tcp) = get(connect(&addr), "/metrics", "text/plain");
    assert_eq!(code, 200);
    for text in [&on_socket, &on_tcp] {
        let (ok, said) = promtool(text);
        assert!(ok, "promtool check metrics: {said}\n{text}");
    }
    for series in [
        "keel_build_info{version=\"0.1.0\",wit_version=\"0.1.2\",wasmtime_version=",
        "keel_services{status=\"running\"} 1",
        "keel_services{status=\"failed\"} 1",
        "keel_service_info{service=\"web\",category=\"frontend\",type=\"utility\",mode=\"binary\",check_type=\"command\"} 1",
        "keel_service_status{service=\"once\",status=\"failed\"} 1",
        "keel_service_up{service=\"web\"} 1",
        "keel_service_up{service=\"once\"} 0",
        "keel_service_last_exit_code{service=\"once\"} 3",
        "keel_service_exits_total{service=\"once\",result=\"failure\"} 1",
        "keel_service_health{service=\"web\",state=\"healthy\"} 1",
        "keel_service_check_failures{service=\"web\"} 0",
        "keel_service_check_duration_seconds_bucket{service=\"web\",le=\"+Inf\"}",
        "keel_service_start_to_healthy_seconds{service=\"web\"}",
        "keel_plugin_calls_total{plugin=\"command\",function=\"check\",outcome=\"ok\"}",
        "keel_plugin_call_duration_seconds_count{plugin=\"command\",function=\"check\"}",
        "keel_plugin_compile_seconds{plugin=\"binary\"}",
        "process_cpu_seconds_total ",
        "process_resident_memory_bytes ",
        "process_open_fds ",
    ] {
        assert!(on_tcp.contains(series), "no `{series}` in\n{on_tcp}");
    }
    let checks = on_tcp
        .lines()
        .find_map(|l| {
            l.strip_prefix("keel_service_checks_total{service=\"web\",result=\"healthy\"} ")
        })
        .expect("healthy checks counted");
    assert!(checks.parse::<u64>().unwrap() >= 1, "{checks}");
    assert!(!on_tcp.contains("pid="), "no series is labelled by PID");

    // A scraper that asks for OpenMetrics gets it.
    let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    let (code, head, open) = get(connect(&addr), "/metrics", accept);
    assert_eq!(code, 200);
    assert!(head.contains("application/openmetrics-text"), "{head}");
    assert!(open.ends_with("# EOF\n"), "{open}");
    // The metrics listener serves nothing else: the control API stays on the socket.
    let (code, _, _) = get(connect(&addr), "/api/v1/services/list", "*/*");
    assert_eq!(code, 404);
}

/// A real Prometheus server on loopback: its own config and data directory, scraping the
/// daemon every second.
struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: keel\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        Prometheus {
            child,
            addr,
            _dir: dir,
        }
    }

    /// The value of an instant query's first series, once it has one.
    fn query(&self, promql: &str) -> Option<f64> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let stream = std::net::TcpStream::connect(&self.addr).ok()?;
        let (code, _, body) = get(stream, &format!("/api/v1/query?query={encoded}"), "*/*");
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn prometheus_scrapes_the_restart_count_of_a_service_killed_with_sigkill() {
    if !have("prometheus") {
        return;
    }
    let p = Platform::new(
        r#"
[[service]]
name = "victim"
cmd = ["/bin/sh", "-c", "exec sleep 300"]
restart = "always"
"#,
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let _daemon = daemon(&p, &addr);
    connect(&addr);
    let first = p.wait_for("victim", Duration::from_secs(30), |s| s["pid"].is_number());
    let pid = first["pid"].as_i64().unwrap();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    p.wait_for("victim", Duration::from_secs(30), |s| {
        s["restarts"] == 1 && s["status"] == "running" && s["pid"].as_i64() != Some(pid)
    });

    let prometheus = Prometheus::start(&addr);
    let query = r#"keel_service_restarts_total{job="keel",service="victim",cause="exit"}"#;
    let deadline = Instant::now() + Duration::from_secs(60);
    let restarts = loop {
        match prometheus.query(query) {
            Some(v) if v >= 1.0 => break v,
            _ if Instant::now() > deadline => panic!(
                "Prometheus did not answer {query} with >= 1 within 60 s (last: {:?}); its log:\n{}",
                prometheus.query(query),
                prometheus.log()
            ),
            _ => std::thread::sleep(Duration::from_millis(250)),
        }
    };
    assert_eq!(restarts, 1.0);
    // The same scrape says the service is up again.
    let up = prometheus.query(r#"keel_service_up{service="victim"}"#);
    assert_eq!(up, Some(1.0));
}
