//! The service registry's JSON socket, driven the way its README does: with real `socat`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use keel_e2e::Platform;
use serde_json::{Value, json};

const CONFIG: &str = r#"
[services.web]
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
name = "worker"
cmd = ["/bin/sh", "-c", "exec sleep 300"]
dependencies = ["web"]
auto_start = false
"#;

/// Sends `input` through `socat` (as `echo … | socat - UNIX-CONNECT:…`) and returns the answer
/// lines, parsed. `-t` gives actions that take a while time to answer after the input ends.
fn socat(p: &Platform, input: &str) -> Vec<Value> {
    let socket = p.state.join("registry.sock");
    let mut child = Command::new("socat")
        .args(["-t", "30", "-"])
        .arg(format!("UNIX-CONNECT:{}", socket.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`socat` is needed for this test (.ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "socat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn one(p: &Platform, request: Value) -> Value {
    let answers = socat(p, &format!("{request}\n"));
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.into_iter().next().unwrap()
}

#[test]
fn the_registry_readmes_actions_work_through_socat() {
    let p = Platform::new(CONFIG);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let socket = p.state.join("registry.sock");
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    // The README's own example, and its exact answer shape.
    assert_eq!(
        one(&p, json!({"action": "list_services"})),
        json!({"ok": true, "data": [
            {"name": "web", "status": "Running"},
            {"name": "worker", "status": "Stopped"},
        ]})
    );

    let status = one(&p, json!({"action": "status", "service": "web"}));
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["data"]["status"], "Running");
    let before = status["data"]["pid"].as_i64().expect("a pid");

    // Restart: a new process, running (and healthy) when the answer comes.
    let restarted = one(&p, json!({"action": "restart", "service": "web"}));
    assert_eq!(restarted["ok"], true, "{restarted}");
    assert_eq!(restarted["data"]["status"], "Running");
    let after = restarted["data"]["pid"].as_i64().unwrap();
    assert_ne!(after, before);
    assert_eq!(
        p.status("web")["pid"],
        after,
        "the same supervisor state as the API"
    );

    let health = one(&p, json!({"action": "health"}));
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["data"][0]["name"], "web");
    assert_eq!(health["data"][0]["health"], "Healthy", "{health}");
    assert_eq!(health["data"][1]["health"], Value::Null, "{health}");
    let now = one(&p, json!({"action": "health", "service": "web"}));
    assert_eq!(now["data"]["healthy"], true, "{now}");

    // Start brings up the named service; stop is refused while a dependent runs, as in the API.
    let started = one(&p, json!({"action": "start", "service": "worker"}));
    assert_eq!(started["data"]["status"], "Running", "{started}");
    let refused = one(&p, json!({"action": "stop", "service": "web"}));
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("worker"),
        "{refused}"
    );
    let stopped = one(&p, json!({"action": "stop", "service": "worker"}));
    assert_eq!(stopped["data"]["status"], "Stopped", "{stopped}");
    assert_eq!(p.status("worker")["status"], "stopped");
}

#[test]
fn bad_lines_get_an_error_and_the_connection_stays_usable() {
    let p = Platform::new(CONFIG);
    let r = p.keel(&["services", "start", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let long = "x".repeat(100 * 1024);
    let input = format!(
        "this is not json\n\
         {{\"action\":\"list_services\"}}\n\
         {long}\n\
         {{\"action\":\"dance\"}}\n\
         {{\"action\":\"restart\"}}\n\
         {{\"action\":\"status\",\"service\":\"wbe\"}}\n\
         {{\"action\":\"status\",\"service\":\"web\",\"extra\":1}}\n\
         {{\"action\":\"status\",\"service\":\"web\"}}\n"
    );
    let answers = socat(&p, &input);
    assert_eq!(answers.len(), 8, "{answers:#?}");
    let error = |i: usize| -> String {
        assert_eq!(answers[i]["ok"], false, "{}", answers[i]);
        answers[i]["error"].as_str().unwrap().to_string()
    };
    assert!(error(0).starts_with("malformed request"), "{}", error(0));
    assert_eq!(answers[1]["ok"], true);
    assert_eq!(answers[1]["data"][0]["name"], "web");
    assert!(error(2).contains("longer than 65536 bytes"), "{}", error(2));
    assert!(error(3).contains("unknown action `dance`"), "{}", error(3));
    assert!(error(4).contains("needs a `service`"), "{}", error(4));
    assert!(error(5).contains("did you mean `web`?"), "{}", error(5));
    assert!(error(6).contains("unknown field `extra`"), "{}", error(6));
    assert_eq!(answers[7]["data"]["status"], "Running", "{}", answers[7]);
}
