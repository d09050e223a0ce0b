//! Helpers for Keel's end-to-end tests: build and run the real `keel` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod hooks;

/// The `keel` binary of this workspace, built once per test process (a no-op when it is fresh).
/// `KEEL_BIN` overrides it, e.g. to test an installed binary.
pub fn keel_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("KEEL_BIN") {
            return PathBuf::from(p);
        }
        // This test executable lives in target/<profile>/deps.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/<profile>/deps layout")
            .to_path_buf();
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.args(["build", "--quiet", "--package", "keel", "--bin", "keel"]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build
            .status()
            .expect("running cargo build for the keel binary");
        assert!(status.success(), "cargo build of the keel binary failed");
        profile_dir.join("keel")
    })
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// A `keel` command with a clean environment: no config from the environment, a state
/// directory of the test run's own (never the user's ~/.keel), one shared plugin cache.
pub fn keel() -> Command {
    let mut c = Command::new(keel_bin());
    c.env_remove("KEEL_CONFIG")
        .env("NO_COLOR", "1")
        .env("KEEL_STATE_DIR", test_root().join("state"))
        .env("KEEL_CACHE_DIR", shared_cache());
    c
}

/// `target/<profile>/keel-tests`: everything the tests leave on disk.
fn test_root() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target layout")
        .join("keel-tests")
}

/// What a finished command printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` document on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `keel ARGS` and collects its output.
pub fn run(args: &[&str]) -> Run {
    keel().args(args).output().expect("running keel").into()
}

/// Runs `keel --config FILE ARGS` on a config written to a fresh temporary directory.
pub fn run_with_config(text: &str, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("services.toml");
    std::fs::write(&path, text).expect("writing config");
    keel()
        .arg("--config")
        .arg(&path)
        .args(args)
        .current_dir(dir.path())
        .output()
        .expect("running keel")
        .into()
}

/// A platform under test: its own config file, state directory and daemon, all in a temporary
/// directory; the daemon is stopped (and killed if need be) when this is dropped.
pub struct Platform {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub state: PathBuf,
}

impl Platform {
    /// Writes `config` as services.toml in a fresh temporary directory.
    pub fn new(config: &str) -> Self {
        // Build the binary now, so that a test timing its first command does not time the build.
        keel_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("services.toml");
        std::fs::write(&path, config).expect("writing config");
        let state = dir.path().join("state");
        Self {
            config: path,
            state,
            dir,
        }
    }

    /// `keel --config … --state-dir … ARGS`, sharing one compiled-plugin cache between tests.
    pub fn cmd(&self) -> Command {
        let mut c = keel();
        c.arg("--config")
            .arg(&self.config)
            .arg("--state-dir")
            .arg(&self.state)
            .current_dir(self.dir.path());
        c
    }

    pub fn keel(&self, args: &[&str]) -> Run {
        self.cmd().args(args).output().expect("running keel").into()
    }

    /// The daemon's PID, from its lock file.
    pub fn daemon_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.state.join("daemon.lock"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Waits (at most 5 s) until a SIGKILLed daemon is dead and its socket refuses
    /// connections. A killed process's leader shows as a zombie while its other threads still
    /// exit and its listening socket still accepts, so the zombie state alone is not enough:
    /// a command in that window would find the old daemon answering the connect.
    pub fn wait_daemon_gone(&self, pid: i32) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let dead = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "));
            let refused =
                std::os::unix::net::UnixStream::connect(self.state.join("keel.sock")).is_err();
            if dead && refused {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon (pid {pid}) did not die"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// A service's status document (`services status NAME --json`).
    pub fn status(&self, name: &str) -> serde_json::Value {
        let r = self.keel(&["services", "status", name, "--json"]);
        assert_eq!(
            r.code,
            0,
            "status {name}: {}{}\ndaemon log:\n{}",
            r.stdout,
            r.stderr,
            self.daemon_log()
        );
        r.json()["data"].clone()
    }

    /// Waits until `f` holds for the service's status, or panics after `limit`.
    pub fn wait_for(
        &self,
        name: &str,
        limit: std::time::Duration,
        f: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let s = self.status(name);
            if f(&s) {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting on {name}: {s}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The daemon's own log (`logs/daemon.log`), for a failure's message.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.state.join("logs").join("daemon.log"))
            .unwrap_or_else(|e| format!("(unreadable: {e})"))
    }

    /// The service's log file.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.join("logs").join(format!("{name}.log")))
            .unwrap_or_default()
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        let pid = self.daemon_pid();
        let _ = self.cmd().args(["daemon", "stop"]).output();
        if let Some(pid) = pid {
            // A daemon that did not stop cleanly must not outlive the test.
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
    }
}

/// One compiled-plugin cache for the whole test run.
pub fn shared_cache() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target layout")
        .join("keel-test-cache")
}

/// Processes whose process group is `pgid` (from /proc), excluding zombies.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces) start after the last ')'.
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, r)| r.split_whitespace().collect())
            .unwrap_or_default();
        if rest.len() > 2 && rest[2] == pgid.to_string() && rest[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

/// Processes whose command line contains `needle`.
pub fn processes_matching(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /metrics` on a platform's control socket: the body.
pub fn scrape(p: &Platform) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(p.state.join("keel.sock")).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// A service (Python) that listens on 127.0.0.1:`port` after `delay` seconds, printing
/// `listening on PORT`, checked by tcp every second and restarted always; `extra` lines go in
/// its table. The live views' tests watch it go down and come back.
pub fn tcp_listener_service(name: &str, port: u16, delay: f64, extra: &str) -> String {
    let script = format!(
        "import socket,time\n\
         time.sleep({delay})\n\
         s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('127.0.0.1',{port})); s.listen(64)\n\
         print('listening on {port}', flush=True)\n\
         while True:\n\
         \x20   c,_=s.accept(); c.close()\n"
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
[services.{name}.startup]
restart = "always"
[services.{name}.health_check]
type = "tcp"
interval = 1
[services.{name}.health_check.tcp]
host = "127.0.0.1"
port = {port}
"#
    )
}
