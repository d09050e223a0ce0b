//! The bundled `etcd-register` hook against a real etcd (Debian's `etcd-server`), started by
//! each test on loopback with a data directory of its own: a healthy service is registered
//! under its lease, kept alive by its checks, removed when it stops, and left to expire when
//! the daemon dies; two state directories share one prefix.
//!
//! These tests are skipped when `etcd` and `etcdctl` are not installed, unless
//! `KEEL_REQUIRE_ETCD=1` (CI sets it), which makes them fail instead.

use keel_e2e::free_port;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_e2e::Platform;

/// One etcd member on loopback, killed when dropped.
struct Etcd {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd and waits until it answers; `None` (the test is skipped) when etcd is not
    /// installed and `KEEL_REQUIRE_ETCD` is not 1.
    fn start() -> Option<Etcd> {
        let installed =
            [("etcd", "--version"), ("etcdctl", "version")]
                .iter()
                .all(|(tool, version)| {
                    Command::new(tool)
                        .arg(version)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|s| s.success())
                });
        if !installed {
            assert!(
                std::env::var("KEEL_REQUIRE_ETCD").as_deref() != Ok("1"),
                "KEEL_REQUIRE_ETCD=1 but etcd or etcdctl is not installed (Debian: etcd-server, etcd-client)"
            );
            eprintln!("skipped: etcd and etcdctl are not installed");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
        let child = Command::new("etcd")
            .args(["--name", "keel-test", "--data-dir"])
            .arg(dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &url,
                "--advertise-client-urls",
                &url,
            ])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("keel-test={peer_url}")])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        let etcd = Etcd { child, url, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !etcd.ctl(&["endpoint", "health"]).0 {
            assert!(
                Instant::now() < deadline,
                "etcd did not become healthy:\n{}",
                etcd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(etcd)
    }

    /// `etcdctl --endpoints URL ARGS`: whether it succeeded, and its stdout.
    fn ctl(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.url, "--command-timeout", "2s"])
            .args(args)
            .output()
            .expect("running etcdctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// The value of `key`, as `etcdctl get` shows it.
    fn get(&self, key: &str) -> Option<serde_json::Value> {
        let (ok, out) = self.ctl(&["get", key, "--print-value-only"]);
        assert!(ok, "etcdctl get {key} failed");
        let text = out.trim();
        (!text.is_empty()).then(|| serde_json::from_str(text).expect("the value is JSON"))
    }

    /// The keys under `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let (ok, out) = self.ctl(&["get", prefix, "--prefix", "--keys-only"]);
        assert!(ok, "etcdctl get --prefix {prefix} failed");
        out.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Polls `key` until `present` holds for it, or `limit` passes; how long it took.
    fn wait(&self, key: &str, present: bool, limit: Duration) -> Result<Duration, String> {
        let began = Instant::now();
        loop {
            let value = self.get(key);
            if value.is_some() == present {
                return Ok(began.elapsed());
            }
            if began.elapsed() > limit {
                return Err(format!(
                    "{key} still {} after {:?}",
                    if present { "missing" } else { "present" },
                    began.elapsed()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listener_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_keel-test-listener"))
}

/// A service listening on `port`, checked by a tcp check every half second, registered in
/// `etcd` with a lease of `ttl` seconds; `grant` is the plugin's grant table's body.
fn registered(name: &str, port: u16, etcd: &Etcd, ttl: u32, grant: &str) -> String {
    format!(
        r#"
[plugins.grants.etcd-register]
{grant}

[services.{name}]
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = {bin:?}
args = ["{port}"]
[services.{name}.health_check]
type = "tcp"
interval = 0.5
[services.{name}.health_check.tcp]
host = "127.0.0.1"
port = {port}
[[services.{name}.hooks]]
plugin = "etcd-register"
settings = {{ endpoint = "{url}", ttl = {ttl} }}
"#,
        bin = listener_bin().display().to_string(),
        url = etcd.url,
    )
}

fn started(p: &Platform, name: &str) {
    let r = p.keel(&["services", "start", name]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.log(name));
}

#[test]
fn a_healthy_service_is_registered_within_a_second_and_removed_within_a_second_of_stop() {
    let Some(etcd) = Etcd::start() else { return };
    let port = free_port();
    let p = Platform::new(&registered("api", port, &etcd, 10, "store = true"));
    // `services start` answers once the service is healthy.
    started(&p, "api");
    let took = etcd
        .wait("/keel/services/api", true, Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}\n{}", p.log("api")));
    let value = etcd.get("/keel/services/api").unwrap();
    assert_eq!(value["name"], "api", "{value}");
    assert_eq!(value["host"], "127.0.0.1");
    assert_eq!(value["port"], port);
    assert_eq!(value["health"], "healthy");
    assert_eq!(value["pid"], p.status("api")["pid"]);
    eprintln!("registered {took:?} after healthy");
    let log = p.log("api");
    assert!(
        log.contains("[hook etcd-register] on-healthy: proceed in "),
        "{log}"
    );

    let r = p.keel(&["services", "stop", "api"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let took = etcd
        .wait("/keel/services/api", false, Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}\n{}", p.log("api")));
    eprintln!("removed {took:?} after the stop answered");
    // The lease went with the key: nothing is left waiting out its TTL.
    let (ok, leases) = etcd.ctl(&["lease", "list"]);
    assert!(ok);
    assert!(leases.starts_with("found 0 leases"), "{leases}");
}

#[test]
fn the_checks_keep_the_lease_alive_and_it_expires_within_its_ttl_after_the_daemon_is_killed() {
    let Some(etcd) = Etcd::start() else { return };
    let ttl = 3;
    let p = Platform::new(&registered("api", free_port(), &etcd, ttl, ""));
    started(&p, "api");
    etcd.wait("/keel/services/api", true, Duration::from_secs(1))
        .unwrap_or_else(|e| panic!("{e}\n{}", p.log("api")));
    let first = etcd.get("/keel/services/api").unwrap();
    // Twice the TTL later the same registration is there: each passing check renewed it.
    std::thread::sleep(Duration::from_secs(2 * u64::from(ttl)));
    assert_eq!(
        etcd.get("/keel/services/api").as_ref(),
        Some(&first),
        "{}",
        p.log("api")
    );

    let service = p.status("api")["pid"].as_i64().unwrap();
    let daemon = p.daemon_pid().unwrap();
    let killed = Instant::now();
    Command::new("kill")
        .args(["-9", &daemon.to_string()])
        .status()
        .unwrap();
    p.wait_daemon_gone(daemon);
    // The lease runs out at most `ttl` after the kill (it was last renewed before it); etcd
    // sweeps expired leases every half second, and each look with etcdctl takes a while on a
    // loaded machine, hence the second beyond the TTL.
    let limit = Duration::from_secs(u64::from(ttl) + 1);
    etcd.wait("/keel/services/api", false, Duration::from_secs(10))
        .expect("the key did not expire");
    let took = killed.elapsed();
    eprintln!("expired {took:?} after the daemon was killed (ttl {ttl} s)");
    assert!(
        took <= limit,
        "expired {took:?} after the kill, ttl {ttl} s"
    );
    // The service itself outlived the daemon; it is not this test's to leave behind.
    Command::new("kill")
        .args(["-9", &service.to_string()])
        .status()
        .unwrap();
}

#[test]
fn two_state_directories_register_their_services_under_one_prefix() {
    let Some(etcd) = Etcd::start() else { return };
    // One keeps its lease in the store, the other reads it back from etcd.
    let a = Platform::new(&registered("alpha", free_port(), &etcd, 10, "store = true"));
    let b = Platform::new(&registered("beta", free_port(), &etcd, 10, ""));
    started(&a, "alpha");
    started(&b, "beta");
    for key in ["/keel/services/alpha", "/keel/services/beta"] {
        etcd.wait(key, true, Duration::from_secs(1)).unwrap();
    }
    assert_eq!(
        etcd.keys("/keel/services/"),
        ["/keel/services/alpha", "/keel/services/beta"]
    );
    // Stopping one platform's service leaves the other's registration alone.
    let r = a.keel(&["services", "stop", "alpha"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    etcd.wait("/keel/services/alpha", false, Duration::from_secs(1))
        .unwrap();
    assert_eq!(etcd.keys("/keel/services/"), ["/keel/services/beta"]);
}
