//! Supervision with real processes: restarts, backoff, stopping whole process groups, surviving
//! the daemon's own death, and a control API that refuses what it should.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use keel_e2e::{Platform, group_members, processes_matching};

/// A binary-mode service running `sh -c SCRIPT MARKER`; `extra` goes into its startup table.
fn svc(name: &str, script: &str, marker: &str, extra: &str) -> String {
    format!(
        r#"
[services.{name}]
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", {script:?}, "{marker}"]
[services.{name}.startup]
{extra}
"#
    )
}

fn marker(tag: &str) -> String {
    format!("keel-test-{tag}-{}", std::process::id())
}

fn pid(v: &serde_json::Value) -> i32 {
    v["pid"].as_i64().expect("a pid") as i32
}

#[test]
fn a_crashed_service_is_restarted_at_once() {
    let m = marker("crash");
    let p = Platform::new(&svc("app", "sleep 300", &m, ""));
    let r = p.keel(&["services", "start", "app"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let first = pid(&p.status("app"));
    std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    let after = p.wait_for("app", Duration::from_secs(5), |s| {
        s["restarts"] == 1 && s["status"] == "running"
    });
    assert_ne!(pid(&after), first);
    assert_eq!(after["last_exit"]["signal"], "SIGKILL");
    assert!(
        p.log("app")
            .contains("killed by SIGKILL; restarting in 0ms (restart 1)"),
        "{}",
        p.log("app")
    );
}

#[test]
fn what_a_crashed_service_left_behind_is_killed_before_it_restarts() {
    let m = marker("leftover");
    let p = Platform::new(&svc("app", "sleep 312 & wait", &m, ""));
    assert_eq!(p.keel(&["services", "start", "app"]).code, 0);
    let first = pid(&p.status("app"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_members(first).len() < 2 {
        assert!(Instant::now() < deadline, "the child never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Kill only the shell: its `sleep 312` stays in the process group.
    std::process::Command::new("kill")
        .args(["-9", &first.to_string()])
        .status()
        .unwrap();
    let after = p.wait_for("app", Duration::from_secs(5), |s| {
        s["restarts"] == 1 && s["status"] == "running"
    });
    assert_ne!(pid(&after), first);
    assert_eq!(
        group_members(first),
        Vec::<i32>::new(),
        "the orphan is gone"
    );
    assert!(
        p.log("app").contains(&format!(
            "killed the processes pid {first} left behind in its process group"
        )),
        "{}",
        p.log("app")
    );
    // The new process has its own group, with its own child, untouched.
    let second = pid(&after);
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_members(second).len() < 2 {
        assert!(Instant::now() < deadline, "the new child never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_crash_loop_backs_off_then_ends_failed_and_start_clears_it() {
    let m = marker("loop");
    let p = Platform::new(&svc(
        "app",
        "echo boom; exit 7",
        &m,
        "restart = \"always\"\nmax_restarts = 4",
    ));
    p.keel(&["services", "start", "app"]);
    let s = p.wait_for("app", Duration::from_secs(10), |s| s["status"] == "failed");
    assert_eq!(s["restarts"], 4);
    assert_eq!(
        s["reason"],
        "exit code 7; gave up after 4 restarts within 60s"
    );
    let text = p.keel(&["services", "status", "app"]).stdout;
    assert!(text.contains("Status: failed"), "{text}");
    assert!(text.contains("Last exit: exit code 7"), "{text}");

    // The starts, from the log's timestamps: each wait at least as long as the one before.
    let starts: Vec<Duration> = p
        .log("app")
        .lines()
        .filter(|l| l.contains("[keel] started pid"))
        .map(|l| {
            let t = &l[11..23]; // HH:MM:SS.mmm
            let (h, rest) = t.split_at(2);
            let secs: f64 = h.parse::<f64>().unwrap() * 3600.0
                + rest[1..3].parse::<f64>().unwrap() * 60.0
                + rest[4..].parse::<f64>().unwrap();
            Duration::from_secs_f64(secs)
        })
        .collect();
    assert_eq!(starts.len(), 5, "{}", p.log("app"));
    let gaps: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    // Backoff 0, 100, 200, 400 ms: the last two waits are clearly longer than the first.
    assert!(gaps[2] >= Duration::from_millis(190), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(390), "{gaps:?}");
    assert!(gaps[3] > gaps[0], "{gaps:?}");

    // Starting by hand clears `failed` and runs it again. It crashes at once again, so the
    // start may be answered before that (started) or after it gave up again (not ready).
    let r = p.keel(&["services", "start", "app", "--json"]);
    let answer = r.json();
    assert!(
        r.code == 0
            || answer["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("app did not become ready: exit code 7")),
        "{}{}",
        r.stdout,
        r.stderr
    );
    let log = p.log("app");
    assert!(
        log.matches("[keel] started pid").count() > starts.len(),
        "not started again:\n{log}"
    );
}

/// A service killed from outside again and again (an OOM killer, a chaos test) is restarted
/// within its `max_restart_delay`: by default the eighth kill in a row would wait 6.4 s.
#[test]
fn a_service_killed_again_and_again_is_restarted_within_its_max_restart_delay() {
    let m = marker("maxdelay");
    let p = Platform::new(&svc(
        "app",
        "sleep 313",
        &m,
        "restart = \"always\"\nmax_restarts = 100\nmax_restart_delay = 0.3",
    ));
    let r = p.keel(&["services", "start", "app"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut waits = Vec::new();
    for restart in 1..=8 {
        let before = pid(&p.status("app"));
        std::process::Command::new("kill")
            .args(["-9", &before.to_string()])
            .status()
            .unwrap();
        let t = Instant::now();
        let after = p.wait_for("app", Duration::from_secs(20), |s| {
            s["restarts"] == restart && s["status"] == "running"
        });
        waits.push(t.elapsed());
        assert_ne!(pid(&after), before);
    }
    // The backoff stopped at 0.3 s; the bound leaves room for a busy machine and still lies
    // well below the 3.2 s and 6.4 s the default would have waited for the last two.
    assert!(
        waits.iter().all(|w| *w < Duration::from_secs(3)),
        "{waits:?}\n{}",
        p.log("app")
    );
    let log = p.log("app");
    assert!(
        log.contains("killed by SIGKILL; restarting in 300ms (restart 8)"),
        "{log}"
    );
}

#[test]
fn stop_leaves_no_process_of_the_group() {
    let m = marker("group");
    let p = Platform::new(&svc("app", "sleep 301 & sleep 302 & wait", &m, ""));
    p.keel(&["services", "start", "app"]);
    let leader = pid(&p.status("app"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_members(leader).len() < 3 {
        assert!(Instant::now() < deadline, "children never appeared");
        std::thread::sleep(Duration::from_millis(10));
    }
    let r = p.keel(&["services", "stop", "app"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stdout.trim(), "✅ Stopped app");
    assert_eq!(group_members(leader), Vec::<i32>::new());
    assert_eq!(p.status("app")["status"], "stopped");
}

#[test]
fn a_child_that_ignores_sigterm_is_killed_after_the_grace_time() {
    let m = marker("stubborn");
    let p = Platform::new(&svc(
        "app",
        "trap '' TERM; sleep 303 & wait; sleep 304",
        &m,
        "stop_timeout = 1",
    ));
    p.keel(&["services", "start", "app"]);
    let leader = pid(&p.status("app"));
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = p.keel(&["services", "stop", "app"]);
    let took = t.elapsed();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        took >= Duration::from_millis(950),
        "stopped before the grace time: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(group_members(leader), Vec::<i32>::new());
    assert!(
        p.log("app")
            .contains("sending SIGKILL to the process group"),
        "{}",
        p.log("app")
    );
}

#[test]
fn the_daemon_killed_with_sigkill_comes_back_without_duplicates_or_orphans() {
    let (ma, mb) = (marker("adopt-a"), marker("adopt-b"));
    let config = svc("alive", "sleep 305", &ma, "") + &svc("dies", "sleep 306", &mb, "");
    let p = Platform::new(&config);
    assert_eq!(p.keel(&["services", "start", "alive"]).code, 0);
    assert_eq!(p.keel(&["services", "start", "dies"]).code, 0);
    let alive = pid(&p.status("alive"));
    let dies = pid(&p.status("dies"));
    let daemon = p.daemon_pid().unwrap();

    std::process::Command::new("kill")
        .args(["-9", &daemon.to_string()])
        .status()
        .unwrap();
    std::process::Command::new("kill")
        .args(["-9", &dies.to_string()])
        .status()
        .unwrap();
    p.wait_daemon_gone(daemon);
    std::thread::sleep(Duration::from_millis(100));
    // Without a daemon, the listing still tells the truth from the saved state.
    let list = p.keel(&["services", "list"]).stdout;
    assert!(
        list.lines()
            .any(|l| l.starts_with("alive") && l.contains("running (no daemon)")),
        "{list}"
    );

    // Any command that needs the daemon starts it again; it adopts `alive` and restarts `dies`.
    let again = p.wait_for("dies", Duration::from_secs(10), |s| {
        s["status"] == "running"
    });
    assert_ne!(p.daemon_pid(), Some(daemon));
    assert_eq!(
        pid(&p.status("alive")),
        alive,
        "the running process is adopted, not replaced"
    );
    assert_ne!(pid(&again), dies);
    // `sh -c "sleep 306"` forks its sleep: killing the shell left it behind in the group.
    assert_eq!(
        group_members(dies),
        Vec::<i32>::new(),
        "what the dead service left behind is gone"
    );
    assert_eq!(processes_matching(&ma).len(), 1, "no duplicate of `alive`");
    assert_eq!(processes_matching(&mb).len(), 1, "exactly one `dies`");
    assert!(p.log("alive").contains(&format!("re-adopted pid {alive}")));

    // The adopted process is still supervised: stopping it works, and its group empties.
    assert_eq!(p.keel(&["services", "stop", "alive"]).code, 0);
    assert_eq!(group_members(alive), Vec::<i32>::new());
    assert!(processes_matching(&ma).is_empty());
}

/// Sends a raw HTTP request on the daemon's socket; returns (status, body).
fn raw(p: &Platform, request: &str) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(p.state.join("keel.sock")).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
    (status, body)
}

fn post(path: &str, content_type: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: keel\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn malformed_api_requests_get_a_4xx_and_change_nothing() {
    let m = marker("api");
    let p = Platform::new(&svc("app", "sleep 307", &m, ""));
    p.keel(&["services", "start", "app"]);
    let before = pid(&p.status("app"));
    let stop = "/api/v1/services/app/stop";
    let cases = [
        (post(stop, "application/json", "{\"force\": \"yes\"}"), 400, "invalid type"),
        (post(stop, "application/json", "{\"forse\": true}"), 400, "unknown field `forse`"),
        (post(stop, "application/json", "{not json"), 400, "bad request body"),
        (post(stop, "text/plain", "force"), 415, "Content-Type: application/json"),
        (post("/api/v1/services/nope/stop", "application/json", "{}"), 404, "unknown service `nope`"),
        ("DELETE /api/v1/services/app HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n".to_string(), 405, "method not allowed"),
        ("GET /api/v1/nothing HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n".to_string(), 404, "no such endpoint"),
        ("GET /api/v1/services/app/logs?lines=many HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n".to_string(), 400, "bad query"),
        ("GET /api/v1/services/list?view=short HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n".to_string(), 400, "unknown variant `short`"),
    ];
    for (req, code, text) in cases {
        let (status, body) = raw(&p, &req);
        assert_eq!(status, code, "{req}\n{body}");
        let v: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
        assert_eq!(v["success"], false);
        assert!(v["error"].as_str().unwrap().contains(text), "{req}\n{body}");
    }
    let after = p.status("app");
    assert_eq!(after["status"], "running");
    assert_eq!(pid(&after), before, "nothing changed");
}

#[test]
fn a_summary_list_carries_what_a_listing_shows_and_nothing_else() {
    let p = Platform::new(&svc("app", "sleep 309", &marker("summary"), ""));
    p.keel(&["services", "start", "app"]);
    let get = |path: &str| {
        let (status, body) = raw(
            &p,
            &format!("GET {path} HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"][0].as_object().unwrap().clone()
    };
    let full = get("/api/v1/services/list");
    let summary = get("/api/v1/services/list?view=summary");
    let mut keys: Vec<&str> = summary.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "auto_start",
            "category",
            "dependencies",
            "deployment_mode",
            "description",
            "name",
            "status",
            "type"
        ]
    );
    for k in keys {
        assert_eq!(summary[k], full[k], "`{k}` is the same in both views");
    }
    assert_eq!(summary["status"], "running");
    assert!(
        full["pid"].as_i64().is_some(),
        "the full view still has the live fields"
    );
    // `services list`, which asks for the summary view, still shows the service running.
    let listed = p.keel(&["services", "list"]);
    assert!(
        listed.stdout.contains("app") && listed.stdout.contains("running"),
        "{}",
        listed.stdout
    );
}

#[test]
fn the_socket_is_not_reachable_by_another_uid() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let p = Platform::new(&svc("app", "sleep 308", &marker("uid"), ""));
    p.keel(&["services", "start", "app"]);
    let sock = p.state.join("keel.sock");
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&p.state).unwrap().permissions().mode() & 0o777,
        0o700
    );
    if !nix_is_root() {
        return; // Only root can act as another user here; the modes above still hold.
    }
    // Open the directory and the socket to everyone: the daemon's peer check still refuses.
    std::fs::set_permissions(&p.state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = format!(
        "import socket\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(5)\ns.connect({:?})\ns.sendall(b'GET /api/v1/services/list HTTP/1.1\\r\\nHost: k\\r\\nConnection: close\\r\\n\\r\\n')\nprint(repr(s.recv(100)))",
        sock.display().to_string()
    );
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("HTTP/1.1 200"),
        "another uid got an answer: {stdout}"
    );
    assert!(
        stdout.trim() == "b''" || !out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The owner still gets answers.
    assert_eq!(p.status("app")["status"], "running");
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

#[test]
fn a_cli_naming_another_config_is_told_which_one_the_daemon_serves() {
    let p = Platform::new(&svc("app", "sleep 309", &marker("cfg"), ""));
    p.keel(&["services", "start", "app"]);
    let other = p.dir.path().join("other.toml");
    std::fs::write(&other, svc("app", "sleep 310", &marker("cfg2"), "")).unwrap();
    let r: keel_e2e::Run = keel_e2e::keel()
        .arg("--config")
        .arg(&other)
        .arg("--state-dir")
        .arg(&p.state)
        .args(["services", "status", "app"])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains(&format!("serves {}", p.config.display())),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("keel daemon stop"), "{}", r.stderr);
}

#[test]
fn output_is_logged_with_timestamps_and_can_be_followed() {
    let script = "echo out-one; echo err-one >&2; sleep 0.5; echo out-two; sleep 300";
    let p = Platform::new(&svc("app", script, &marker("logs"), ""));
    p.keel(&["services", "start", "app"]);
    let mut follow = p
        .cmd()
        .args(["services", "logs", "app", "--follow", "--lines", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    let mut out = follow.stdout.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains("out-two") && Instant::now() < deadline {
        let n = out.read(&mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    follow.kill().unwrap();
    let _ = follow.wait();
    assert!(seen.contains("[stdout] out-two"), "{seen}");

    // Four lines: Keel's "started" note and the three of the service (whose first output may
    // come before or after the note).
    let r = p.keel(&["services", "logs", "app", "--lines", "4"]);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    assert!(r.stdout.contains("[stderr] err-one"), "{}", r.stdout);
    assert!(r.stdout.contains("[keel] started pid"), "{}", r.stdout);
    // 2026-11-22T04:11:10.123Z [stdout] out-two
    let last = lines[3];
    assert!(last.ends_with("[stdout] out-two"), "{last}");
    assert_eq!(&last[4..5], "-");
    assert_eq!(&last[10..11], "T");
    assert_eq!(&last[23..24], "Z");
}

#[test]
fn a_corrupt_state_file_is_set_aside_with_a_warning() {
    let p = Platform::new(&svc("app", "sleep 311", &marker("corrupt"), ""));
    std::fs::create_dir_all(p.state.join("state")).unwrap();
    std::fs::write(p.state.join("state/app.json"), "{ half a record").unwrap();
    let r = p.keel(&["services", "start", "app"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("app")["status"], "running");
    assert!(p.state.join("state/app.json.corrupt").exists());
    assert!(
        p.log("app").contains("app.json is unreadable"),
        "{}",
        p.log("app")
    );
}

#[test]
fn the_tcp_listener_is_off_by_default_and_needs_the_bearer_token() {
    let p = Platform::new(&svc("app", "sleep 312", &marker("tcp"), ""));
    // Refused without a token.
    let r: keel_e2e::Run = p
        .cmd()
        .args(["daemon", "--listen", "127.0.0.1:17931"])
        .env_remove("KEEL_API_TOKEN")
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("KEEL_API_TOKEN"), "{}", r.stderr);

    let token = "a-test-token-of-some-length";
    let mut daemon = p
        .cmd()
        .args(["daemon", "--no-start", "--listen", "127.0.0.1:17931"])
        .env("KEEL_API_TOKEN", token)
        .spawn()
        .unwrap();
    let get = |auth: Option<&str>| -> (u16, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = loop {
            match std::net::TcpStream::connect("127.0.0.1:17931") {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        };
        let auth = auth
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET /api/v1/services/list HTTP/1.1\r\nHost: k\r\n{auth}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        (out.split_whitespace().nth(1).unwrap().parse().unwrap(), out)
    };
    assert_eq!(get(None).0, 401);
    assert_eq!(get(Some("wrong-token-of-some-length")).0, 401);
    let (code, body) = get(Some(token));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"name\":\"app\""), "{body}");
    let _ = p.keel(&["daemon", "stop"]);
    let _ = daemon.wait();
}

/// The daemon listens before it loads its plugins; one that then fails (here: an address-space
/// limit too small for the plugin engine) must not leave the command that started it waiting.
#[test]
fn a_daemon_that_fails_to_load_its_plugins_is_reported_by_the_command_that_started_it() {
    let p = Platform::new(&svc("app", "sleep 310", &marker("noplugins"), ""));
    let keel = p.cmd();
    let mut limited = std::process::Command::new("/bin/sh");
    limited
        .arg("-c")
        .arg("ulimit -v 300000 && exec \"$0\" \"$@\"")
        .arg(keel.get_program())
        .args(keel.get_args())
        .current_dir(p.dir.path());
    for (k, v) in keel.get_envs() {
        match v {
            Some(v) => limited.env(k, v),
            None => limited.env_remove(k),
        };
    }
    let mut cli = limited
        .args(["platform", "start"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = cli.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = cli.kill();
            let _ = cli.wait();
            panic!("`platform start` still waits 15 s after its daemon failed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    cli.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the daemon exited at start") && stderr.contains("daemon.log"),
        "{stderr}"
    );
    assert!(
        p.daemon_log().contains("Cannot allocate memory"),
        "{}",
        p.daemon_log()
    );
    assert!(
        !p.state.join("keel.sock").exists(),
        "the failed daemon left its socket"
    );
    // Nothing is left behind that a later command would trip on.
    let run = p.keel(&["platform", "start"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}
