//! A daemon killed while its services run, whose state directory is then damaged: the next
//! daemon still takes over every running service (shown running, stoppable, restarted by
//! policy), starts none a second time, and never signals a process that is not a service's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keel_e2e::{Platform, group_members, processes_matching};

/// How a service is run: `/bin/sh -c SCRIPT MARKER`, or the same through `env` with the
/// environment marks removed (as a process started by an older Keel, or one whose program
/// cleared its environment, lacks them).
#[derive(Clone, Copy, PartialEq)]
enum Program {
    Shell,
    ShellWithoutEnvMarks,
}

fn service(name: &str, marker: &str, program: Program) -> String {
    // `sleep` runs as the shell's child: each service is a group of two processes.
    let (binary, prefix) = match program {
        Program::Shell => ("/bin/sh", String::new()),
        Program::ShellWithoutEnvMarks => (
            "/usr/bin/env",
            r#""-u", "KEEL_SERVICE", "-u", "KEEL_SERVICE_STATE_DIR", "/bin/sh", "#.to_string(),
        ),
    };
    format!(
        r#"
[services.{name}]
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "{binary}"
args = [{prefix}"-c", "sleep 3600", "{marker}"]
"#
    )
}

fn pid(v: &serde_json::Value) -> i32 {
    v["pid"].as_i64().expect("a pid") as i32
}

fn kill(signal: &str, pid: i32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// A live process that is not a service, leading a process group of its own as a service's
/// main process does. It writes down every signal it receives.
struct Bystander {
    child: Child,
    log: PathBuf,
}

impl Bystander {
    fn spawn(dir: &Path) -> Self {
        use std::os::unix::process::CommandExt;
        let log = dir.join("bystander.log");
        let script = "import signal, sys\n\
                      log = sys.argv[1]\n\
                      def note(sig, frame):\n\
                      \x20   open(log, 'a').write(f'{sig}\\n')\n\
                      for s in signal.valid_signals():\n\
                      \x20   try: signal.signal(s, note)\n\
                      \x20   except (OSError, ValueError, RuntimeError): pass\n\
                      open(log, 'a').write('ready\\n')\n\
                      while True: signal.pause()\n";
        let child = Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(&log)
            .process_group(0)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !log.exists() {
            assert!(Instant::now() < deadline, "the bystander never got ready");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self { child, log }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// It still runs (not killed, not stopped) and received no signal.
    fn assert_untouched(&self) {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let state = stat.rsplit_once(')').unwrap().1.split_whitespace().next();
        assert_eq!(state, Some("S"), "the bystander was touched: {stat}");
        assert_eq!(std::fs::read_to_string(&self.log).unwrap(), "ready\n");
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two running services, `a` and `b`, and the daemon that started them, killed.
struct Scene {
    p: Platform,
    markers: [String; 2],
    pids: [i32; 2],
}

const NAMES: [&str; 2] = ["a", "b"];

impl Scene {
    fn new(tag: &str, program: Program) -> Self {
        let markers = NAMES.map(|n| format!("keel-test-recover-{tag}-{n}-{}", std::process::id()));
        let config: String = NAMES
            .iter()
            .zip(&markers)
            .map(|(n, m)| service(n, m, program))
            .collect();
        let p = Platform::new(&config);
        let r = p.keel(&["platform", "start"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        let pids = NAMES.map(|n| pid(&p.status(n)));
        let daemon = p.daemon_pid().unwrap();
        kill("-9", daemon);
        p.wait_daemon_gone(daemon);
        Self { p, markers, pids }
    }

    fn record(&self, name: &str) -> PathBuf {
        self.p.state.join("state").join(format!("{name}.json"))
    }

    fn pid_file(&self, name: &str) -> PathBuf {
        self.p.state.join("pids").join(format!("{name}.pid"))
    }

    /// Damages both services' files with `damage(scene, name, pid)`, starts a daemon again
    /// and checks what a user depends on: each service shown running with its own process,
    /// no second copy, its PID file naming it again, the damaged files in `aside` kept (with a
    /// note in the service's log when `noted`), a `kill -9` restarted by policy, and
    /// `platform stop` ending everything.
    fn damage_and_check(&self, damage: impl Fn(&Scene, &str, i32), aside: &[&str], noted: bool) {
        for (n, &pid) in NAMES.iter().zip(&self.pids) {
            damage(self, n, pid);
        }
        for (n, &before) in NAMES.iter().zip(&self.pids) {
            let s = self.p.status(n);
            assert_eq!(
                (s["status"].as_str(), s["pid"].as_i64()),
                (Some("running"), Some(before as i64)),
                "{n}: {s}\nits log:\n{}",
                self.p.log(n)
            );
        }
        for (i, n) in NAMES.iter().enumerate() {
            assert_eq!(
                processes_matching(&self.markers[i]).len(),
                1,
                "{n} runs once"
            );
            let pid_file = std::fs::read_to_string(self.pid_file(n)).unwrap_or_default();
            assert_eq!(
                pid_file.lines().next(),
                Some(&*self.pids[i].to_string()),
                "{n}'s PID file names it again"
            );
            for suffix in aside {
                let kept = self.p.state.join(suffix.replace("NAME", n));
                assert!(kept.exists(), "{} was not kept", kept.display());
            }
            if noted {
                let log = self.p.log(n);
                assert!(log.contains("is unreadable"), "{n}: {log}");
            }
        }

        // `a` is supervised: killed, it is restarted by its policy, once.
        let (a, b) = (self.pids[0], self.pids[1]);
        kill("-9", a);
        let again = self.p.wait_for("a", Duration::from_secs(5), |s| {
            s["status"] == "running" && s["pid"].as_i64() != Some(a as i64)
        });
        assert_eq!(again["restarts"], 1);
        let copies = processes_matching(&self.markers[0]);
        assert_eq!(copies.len(), 1, "{copies:?}\n{again}\n{}", self.p.log("a"));
        assert_eq!(group_members(a), Vec::<i32>::new(), "a's old group is gone");

        // `b` is stoppable: `platform stop` ends it and its group.
        let r = self.p.keel(&["platform", "stop"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
        for m in &self.markers {
            assert_eq!(processes_matching(m), Vec::<i32>::new(), "{m} still runs");
        }
        assert_eq!(group_members(b), Vec::<i32>::new(), "b's group is gone");
    }
}

impl Drop for Scene {
    /// A failed test may leave services that no daemon supervises: their groups are killed,
    /// found by their markers.
    fn drop(&mut self) {
        for m in &self.markers {
            for leader in processes_matching(m) {
                let _ = Command::new("kill")
                    .args(["-9", "--", &format!("-{leader}")])
                    .status();
            }
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

const GARBAGE: &[u8] = b"\x89\x00\xffnot a record at all\x01\x02";

#[test]
fn an_empty_record() {
    let s = Scene::new("empty", Program::Shell);
    s.damage_and_check(
        |s, n, _| write(&s.record(n), b""),
        &["state/NAME.json.corrupt"],
        true,
    );
}

#[test]
fn a_truncated_record() {
    let s = Scene::new("truncated", Program::Shell);
    s.damage_and_check(
        |s, n, _| {
            let whole = std::fs::read(s.record(n)).unwrap();
            write(&s.record(n), &whole[..whole.len() / 2]);
        },
        &["state/NAME.json.corrupt"],
        true,
    );
}

#[test]
fn a_garbage_record() {
    let s = Scene::new("garbage", Program::Shell);
    s.damage_and_check(
        |s, n, _| write(&s.record(n), GARBAGE),
        &["state/NAME.json.corrupt"],
        true,
    );
}

#[test]
fn a_deleted_record() {
    let s = Scene::new("norecord", Program::Shell);
    s.damage_and_check(
        |s, n, _| std::fs::remove_file(s.record(n)).unwrap(),
        &[],
        false,
    );
}

/// What a daemon killed just after it restarted a service leaves: the record of a service
/// waiting for its restart (wanted, no process) and no PID file, while the copy it started
/// runs. The next daemon takes that copy over by its marks instead of starting another
/// (found by the soak bench: the second copy failed on the first one's port).
#[test]
fn a_restart_the_daemon_did_not_live_to_record() {
    let s = Scene::new("unrecorded", Program::Shell);
    s.damage_and_check(
        |s, n, _| {
            let mut record: serde_json::Value =
                serde_json::from_slice(&std::fs::read(s.record(n)).unwrap()).unwrap();
            assert_eq!(record["wanted"], true, "{record}");
            record["process"] = serde_json::Value::Null;
            write(&s.record(n), record.to_string().as_bytes());
            std::fs::remove_file(s.pid_file(n)).unwrap();
        },
        &[],
        false,
    );
}

#[test]
fn a_missing_pid_file() {
    let s = Scene::new("nopid", Program::Shell);
    s.damage_and_check(
        |s, n, _| std::fs::remove_file(s.pid_file(n)).unwrap(),
        &[],
        false,
    );
}

#[test]
fn a_garbage_pid_file() {
    let s = Scene::new("garbagepid", Program::Shell);
    s.damage_and_check(
        |s, n, _| write(&s.pid_file(n), GARBAGE),
        &["pids/NAME.pid.corrupt"],
        true,
    );
}

#[test]
fn a_pid_file_naming_a_reused_pid() {
    let s = Scene::new("reused", Program::Shell);
    let other = Bystander::spawn(s.p.dir.path());
    // What an older Keel wrote (the PID alone), now naming a process that is not the service.
    s.damage_and_check(
        |s, n, _| write(&s.pid_file(n), format!("{}\n", other.pid()).as_bytes()),
        &[],
        false,
    );
    other.assert_untouched();
}

#[test]
fn a_garbage_record_and_a_garbage_pid_file() {
    let s = Scene::new("allgarbage", Program::Shell);
    s.damage_and_check(
        |s, n, _| {
            write(&s.record(n), GARBAGE);
            write(&s.pid_file(n), GARBAGE);
        },
        &["state/NAME.json.corrupt", "pids/NAME.pid.corrupt"],
        true,
    );
}

#[test]
fn a_truncated_record_and_no_pid_file() {
    let s = Scene::new("truncatednopid", Program::Shell);
    s.damage_and_check(
        |s, n, _| {
            let whole = std::fs::read(s.record(n)).unwrap();
            write(&s.record(n), &whole[..whole.len() / 3]);
            std::fs::remove_file(s.pid_file(n)).unwrap();
        },
        &["state/NAME.json.corrupt"],
        true,
    );
}

#[test]
fn an_empty_record_and_a_pid_file_naming_a_reused_pid() {
    let s = Scene::new("emptyreused", Program::Shell);
    let other = Bystander::spawn(s.p.dir.path());
    s.damage_and_check(
        |s, n, _| {
            write(&s.record(n), b"");
            write(&s.pid_file(n), format!("{}\n", other.pid()).as_bytes());
        },
        &["state/NAME.json.corrupt"],
        true,
    );
    other.assert_untouched();
}

#[test]
fn an_empty_record_and_an_older_keels_pid_file() {
    let s = Scene::new("oldpid", Program::Shell);
    s.damage_and_check(
        |s, n, pid| {
            write(&s.record(n), b"");
            write(&s.pid_file(n), format!("{pid}\n").as_bytes());
        },
        &["state/NAME.json.corrupt"],
        true,
    );
}

/// With neither file readable and no environment marks, the service is found by its output
/// going into its FIFOs.
#[test]
fn no_readable_file_and_no_environment_marks() {
    let s = Scene::new("fifoonly", Program::ShellWithoutEnvMarks);
    s.damage_and_check(
        |s, n, _| {
            write(&s.record(n), GARBAGE);
            std::fs::remove_file(s.pid_file(n)).unwrap();
        },
        &["state/NAME.json.corrupt"],
        true,
    );
}

#[test]
fn a_lock_file_left_by_a_dead_daemon() {
    let s = Scene::new("lock", Program::Shell);
    // Its PID now another process's, or its text damaged: the lock, not the text, says
    // whether a daemon serves the directory.
    let other = Bystander::spawn(s.p.dir.path());
    s.damage_and_check(
        |s, _, _| {
            write(
                &s.p.state.join("daemon.lock"),
                format!("{}\n", other.pid()).as_bytes(),
            )
        },
        &[],
        false,
    );
    other.assert_untouched();
    let s = Scene::new("lockgarbage", Program::Shell);
    s.damage_and_check(
        |s, _, _| write(&s.p.state.join("daemon.lock"), GARBAGE),
        &[],
        false,
    );
}

/// Its PID file still tells which process ran: one that ended while no daemon watched is
/// restarted by policy, after what it left in its group is killed.
#[test]
fn a_damaged_record_of_a_service_that_ended_meanwhile() {
    let s = Scene::new("ended", Program::Shell);
    let [a, b] = s.pids;
    // The shell only: its `sleep` stays behind in the group.
    kill("-9", a);
    write(&s.record("a"), GARBAGE);
    let again = s.p.wait_for("a", Duration::from_secs(10), |v| {
        v["status"] == "running" && v["pid"].as_i64() != Some(a as i64)
    });
    assert_eq!(again["restarts"], 1, "{again}");
    assert_eq!(processes_matching(&s.markers[0]).len(), 1);
    assert_eq!(group_members(a), Vec::<i32>::new(), "what it left is gone");
    let log = s.p.log("a");
    assert!(
        log.contains(&format!("pid {a} died while the daemon was away")),
        "{log}"
    );
    assert_eq!(pid(&s.p.status("b")), b);
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The exit of a re-adopted service (whose parent, init here, may leave it a zombie for a
/// while) is acted on at once, as a spawned service's is: a zombie leader is not something it
/// left behind, and the restart does not wait for init to reap it.
#[test]
fn a_re_adopted_service_killed_is_restarted_at_once() {
    let p = Platform::new(
        r#"
[services.a]
[services.a.deployment]
mode = "binary"
[services.a.deployment.binary]
binary_path = "/bin/sleep"
args = ["3600"]
"#,
    );
    let r = p.keel(&["services", "start", "a"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // The best of a few rounds, each with a daemon killed and started again: the restart used
    // to wait a second or more every time, while a busy machine may delay any single one.
    let mut took = Vec::new();
    for _ in 0..3 {
        let old = pid(&p.status("a"));
        let daemon = p.daemon_pid().unwrap();
        kill("-9", daemon);
        p.wait_daemon_gone(daemon);
        assert_eq!(pid(&p.status("a")), old, "re-adopted");
        let before = now_ms();
        kill("-9", old);
        let again = p.wait_for("a", Duration::from_secs(5), |v| {
            v["status"] == "running" && v["pid"].as_i64() != Some(old as i64)
        });
        took.push(
            again["started_at_ms"]
                .as_u64()
                .unwrap()
                .saturating_sub(before),
        );
        if took.iter().any(|&t| t < 500) {
            break;
        }
    }
    let log = p.log("a");
    assert!(
        took.iter().any(|&t| t < 500),
        "restarted {took:?} ms after each kill\n{log}"
    );
    assert!(
        !log.contains("left behind"),
        "a dead leader is not a leftover:\n{log}"
    );
}
