//! The bundled `command`, `file` and `unix` health checks against real commands, files and
//! sockets, through `keel services health NAME` (which runs the check once, without a daemon),
//! in the long form and in the registry README's short forms (`cmd:…`, `unix:/…`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, SystemTime};

use keel_e2e::{Run, keel};

/// A config with one service `svc` (a binary that is never started) and this health check.
fn config_with_check(check: &str) -> String {
    format!(
        r#"
[services.svc.deployment]
mode = "binary"
[services.svc.deployment.binary]
binary_path = "/bin/sleep"
args = ["1000"]
{check}
"#
    )
}

/// `keel services health svc --json` on `config`, written as services.toml in `dir`.
fn health(dir: &Path, config: &str) -> (Run, serde_json::Value) {
    let path = dir.join("services.toml");
    std::fs::write(&path, config).unwrap();
    let r: Run = keel()
        .arg("--config")
        .arg(&path)
        .args(["--state-dir"])
        .arg(dir.join("state"))
        .args(["services", "health", "svc", "--json"])
        .current_dir(dir)
        .output()
        .unwrap()
        .into();
    let doc = r.json();
    (r, doc)
}

/// Asserts the check's verdict and that its message contains `needle`.
fn assert_health(dir: &Path, config: &str, healthy: bool, needle: &str) {
    let (r, doc) = health(dir, config);
    let data = &doc["data"];
    assert_eq!(
        data["healthy"],
        serde_json::Value::Bool(healthy),
        "{doc}\n{}",
        r.stderr
    );
    assert_eq!(r.code, if healthy { 0 } else { 1 }, "{doc}");
    let message = data["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
}

fn command_check(command: &str, extra: &str) -> String {
    config_with_check(&format!(
        "[services.svc.health_check]\ntype = \"command\"\ntimeout = 2\n\
         [services.svc.health_check.command]\ncommand = {command}\n{extra}"
    ))
}

#[test]
fn command_check_judges_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_health(
        d,
        &command_check(r#""sh -c 'echo all good; exit 0'""#, ""),
        true,
        "exited with 0: all good",
    );
    assert_health(
        d,
        &command_check(r#"["sh", "-c", "echo broken >&2; exit 3"]"#, ""),
        false,
        "exited with 3, expected 0: broken",
    );
    assert_health(
        d,
        &command_check(r#""sh -c 'exit 3'""#, "expected_exit_code = 3"),
        true,
        "exited with 3",
    );
    assert_health(
        d,
        &command_check(r#""/nonexistent/check --now""#, ""),
        false,
        "could not run",
    );
}

#[test]
fn command_check_is_killed_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // A duration no other process on the machine is likely to sleep (`sleep 300` would match
    // `sleep 30`), since the check below looks at every process.
    let config = command_check(r#""sleep 30.25""#, "");
    assert_health(dir.path(), &config, false, "did not finish within 2000 ms");
    // The check's own duration (the CLI's wall time includes compiling plugins on a cold cache).
    let (_, doc) = health(dir.path(), &config);
    let took = doc["data"]["duration_ms"].as_u64().unwrap();
    assert!((2000..4000).contains(&took), "{doc}");
    // And the command was killed, not left behind.
    assert!(
        keel_e2e::processes_matching("sleep 30.25").is_empty(),
        "{:?}",
        keel_e2e::processes_matching("sleep 30.25")
    );
}

#[test]
fn command_short_form_runs_a_script_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = d.join("check.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n[ -e \"$(dirname \"$0\")/ready\" ] && echo ready\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&script)
        .status()
        .unwrap();
    let config = r#"
[[service]]
name = "svc"
cmd = ["/bin/sleep", "1000"]
health_check = "cmd:./check.sh"
"#;
    assert_health(d, config, false, "exited with 1");
    std::fs::write(d.join("ready"), "").unwrap();
    assert_health(d, config, true, "exited with 0: ready");
}

#[test]
fn command_check_settings_are_validated_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    let config = command_check(r#""echo 'unclosed""#, "expected_exit_code = 300");
    std::fs::write(dir.path().join("services.toml"), &config).unwrap();
    let r: Run = keel()
        .arg("--config")
        .arg(dir.path().join("services.toml"))
        .args(["services", "validate"])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("services.svc.health_check.command.command: unclosed single quote"),
        "{out}"
    );
    assert!(
        out.contains("services.svc.health_check.command.expected_exit_code: expected an integer between 0 and 255"),
        "{out}"
    );
}

fn file_check(path: &str, extra: &str) -> String {
    config_with_check(&format!(
        "[services.svc.health_check]\ntype = \"file\"\n\
         [services.svc.health_check.file]\npath = {path:?}\n{extra}"
    ))
}

#[test]
fn file_check_existence_and_absence() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pid = d.join("svc.pid");
    let pid = pid.to_str().unwrap();
    assert_health(d, &file_check(pid, ""), false, "does not exist");
    assert_health(
        d,
        &file_check(pid, "must_exist = false"),
        true,
        "does not exist, as required",
    );
    std::fs::write(d.join("svc.pid"), "123\n").unwrap();
    assert_health(d, &file_check(pid, "must_exist = true"), true, "exists");
    assert_health(
        d,
        &file_check(pid, "must_exist = false"),
        false,
        "exists but must not",
    );
    // Relative to the config file's directory.
    assert_health(d, &file_check("svc.pid", ""), true, "svc.pid exists");
}

#[test]
fn file_check_max_age_tells_a_fresh_heartbeat_from_a_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let beat = d.join("heartbeat");
    std::fs::write(&beat, "").unwrap();
    let path = beat.to_str().unwrap();
    assert_health(d, &file_check(path, "max_age = 30"), true, "max_age 30 s");
    let file = std::fs::File::options().write(true).open(&beat).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(120))
        .unwrap();
    drop(file);
    assert_health(
        d,
        &file_check(path, "max_age = 30"),
        false,
        "is stale: last modified 120",
    );
    assert_health(d, &file_check(path, "max_age = 300"), true, "modified 120");
}

/// A Unix socket server in a thread: answers each line with `PONG <line>` (or says nothing
/// when `silent`).
fn unix_server(path: &Path, silent: bool) {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            if silent {
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_secs(30));
                    drop(conn);
                });
                continue;
            }
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            let _ = writeln!(conn, "PONG {}", line.trim());
        }
    });
}

fn unix_check(path: &Path, extra: &str) -> String {
    config_with_check(&format!(
        "[services.svc.health_check]\ntype = \"unix\"\ntimeout = 1\n\
         [services.svc.health_check.unix]\npath = {:?}\n{extra}",
        path.to_str().unwrap()
    ))
}

#[test]
fn unix_check_connects_and_exchanges_a_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sock = d.join("svc.sock");
    assert_health(d, &unix_check(&sock, ""), false, "cannot connect");
    unix_server(&sock, false);
    assert_health(d, &unix_check(&sock, ""), true, "connected to");
    assert_health(
        d,
        &unix_check(&sock, "send = \"PING\"\nexpect = \"PONG PING\""),
        true,
        "answered \"PONG PING\"",
    );
    assert_health(
        d,
        &unix_check(&sock, "send = \"HELLO\"\nexpect = \"PONG PING\""),
        false,
        "answered \"PONG HELLO\", expected \"PONG PING\"",
    );
    assert_health(
        d,
        &unix_check(&sock, "send = \"PING\""),
        true,
        "answered \"PONG PING\"",
    );
}

#[test]
fn unix_check_of_a_silent_peer_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sock = d.join("silent.sock");
    unix_server(&sock, true);
    assert_health(
        d,
        &unix_check(&sock, "send = \"PING\"\nexpect = \"PONG\""),
        false,
        "no reply line",
    );
}

#[test]
fn unix_short_form_is_a_connect_check() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sock = d.join("auth.sock");
    let config = format!(
        "[[service]]\nname = \"svc\"\ncmd = [\"/bin/sleep\", \"1000\"]\nhealth_check = \"unix:{}\"\n",
        sock.display()
    );
    assert_health(d, &config, false, "cannot connect");
    unix_server(&sock, false);
    assert_health(d, &config, true, "connected to");
}
