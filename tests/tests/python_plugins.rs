//! Plugins written in Python, as a third party writes them: `keel plugins new --lang python`
//! for each kind, built with the project's own build script (componentize-py), tried with
//! `plugins call`, installed with `plugins install`, and run by a real daemon on real processes.
//! Needs `componentize-py` (pip); skipped without it unless `KEEL_REQUIRE_PYTHON_PLUGINS` is
//! set, as `.ci/run` does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use keel_e2e::{Platform, Run, free_port, keel};

fn componentize_py_missing() -> bool {
    if Command::new("componentize-py")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return false;
    }
    assert!(
        std::env::var_os("KEEL_REQUIRE_PYTHON_PLUGINS").is_none(),
        "componentize-py is required here (pip install componentize-py)"
    );
    eprintln!("componentize-py is not installed: skipped");
    true
}

fn run_in(dir: &Path, args: &[&str]) -> Run {
    keel()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running keel")
        .into()
}

/// `plugins new NAME --kind KIND --lang python` in `dir`, then the project's build script:
/// the path of the built component.
fn new_and_build(dir: &Path, name: &str, kind: &str) -> PathBuf {
    let r = run_in(
        dir,
        &["plugins", "new", name, "--kind", kind, "--lang", "python"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("Created {name}")),
        "{}",
        r.stdout
    );
    let project = dir.join(name);
    for file in ["app.py", "wit/keel-plugin.wit", "build.sh", "README.md"] {
        assert!(project.join(file).is_file(), "{file} was not written");
    }
    let out = Command::new(project.join("build.sh"))
        .current_dir(dir)
        .output()
        .expect("running build.sh");
    assert!(
        out.status.success(),
        "{name}: build.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = project.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "build.sh wrote no {}", wasm.display());
    wasm
}

fn data(r: &Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    r.json()["data"].clone()
}

#[test]
fn a_new_project_of_each_kind_builds_answers_installs_and_runs_under_the_daemon() {
    if componentize_py_missing() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // The three builds are independent: run them side by side.
    let builds: Vec<_> = [
        ("py-port", "health-check"),
        ("py-run", "deployment"),
        ("py-note", "hook"),
    ]
    .into_iter()
    .map(|(name, kind)| {
        let dir = work.path().to_path_buf();
        std::thread::spawn(move || new_and_build(&dir, name, kind))
    })
    .collect();
    let wasm: Vec<PathBuf> = builds.into_iter().map(|b| b.join().unwrap()).collect();
    let [check, mode, hook] = [&wasm[0], &wasm[1], &wasm[2]].map(|p| p.display().to_string());

    // `plugins call`, with no services.toml and only the grants given.
    let port = free_port();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let settings = format!(r#"{{"host": "127.0.0.1", "port": {port}}}"#);
    let grant = format!("network=127.0.0.1:{port}");
    let d = data(&run_in(
        work.path(),
        &[
            "plugins",
            "call",
            &check,
            "check",
            "--settings",
            &settings,
            "--grant",
            &grant,
            "--json",
        ],
    ));
    assert_eq!(d["answer"]["healthy"], true, "{d}");
    assert_eq!(d["plugin"]["name"], "py-port", "{d}");
    drop(listener);
    let r = run_in(
        work.path(),
        &[
            "plugins",
            "call",
            &check,
            "check",
            "--settings",
            &settings,
            "--grant",
            &grant,
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("refused"), "{}", r.stdout);
    // A typo is a problem tied to its key; no grant, no connection.
    let r = run_in(
        work.path(),
        &[
            "plugins",
            "call",
            &check,
            "validate",
            "--settings",
            r#"{"prot": 1}"#,
            "--json",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let problems = r.json()["data"]["answer"].to_string();
    assert!(
        problems.contains("prot") && problems.contains("port"),
        "{problems}"
    );
    let r = run_in(
        work.path(),
        &["plugins", "call", &check, "check", "--settings", &settings],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("not in its grant"), "{}", r.stderr);

    let d = data(&run_in(
        work.path(),
        &[
            "plugins",
            "call",
            &mode,
            "start",
            "--settings",
            r#"{"program": "/bin/sleep", "args": ["5"]}"#,
            "--grant",
            "path=/bin/sleep",
            "--json",
        ],
    ));
    assert_eq!(
        d["answer"]["value"]["Launch"]["program"], "/bin/sleep",
        "{d}"
    );
    let d = data(&run_in(
        work.path(),
        &["plugins", "call", &hook, "before-start", "--json"],
    ));
    assert_eq!(d["answer"]["reply"]["value"]["verdict"], "Proceed", "{d}");

    // Installed into a platform's plugins directory, granted, used.
    let svc_port = free_port();
    let p = Platform::new(&format!(
        r#"
[plugins]
dir = "plugins"

[plugins.grants.py-port]
network = ["127.0.0.1:{svc_port}"]

[plugins.grants.py-run]
paths = ["/bin/sh"]

[services.web.deployment]
mode = "binary"
[services.web.deployment.binary]
binary_path = "/usr/bin/python3"
args = ["-m", "http.server", "{svc_port}", "--bind", "127.0.0.1"]
[services.web.health_check]
type = "py-port"
interval = 1
[services.web.health_check.py-port]
host = "127.0.0.1"
port = {svc_port}

[services.job.deployment]
mode = "py-run"
[services.job.deployment.py-run]
program = "/bin/sh"
args = ["-c", "echo hooked=$STARTED_BY_HOOK; exec sleep 300"]

[[services.job.hooks]]
plugin = "py-note"
"#
    ));
    for file in [&check, &mode, &hook] {
        let r = p.keel(&["plugins", "install", file, "--dir", "plugins"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let r = p.keel(&["services", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.daemon_log());

    let web = p.wait_for("web", Duration::from_secs(30), |s| {
        s["health"]["state"] == "healthy"
    });
    assert!(
        web["health"]["last"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("127.0.0.1:{svc_port} succeeded"))),
        "{web}"
    );
    let job = p.wait_for("job", Duration::from_secs(30), |s| s["status"] == "running");
    assert!(job["pid"].as_i64().is_some(), "{job}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !p.log("job").contains("hooked=py-note") {
        assert!(
            std::time::Instant::now() < deadline,
            "log:\n{}",
            p.log("job")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        p.log("job")
            .contains("[hook py-note] before-start: proceed"),
        "{}",
        p.log("job")
    );

    // Killed from outside: the Python check sees it down, the service comes back healthy.
    let pid = web["pid"].as_i64().unwrap();
    Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    p.wait_for("web", Duration::from_secs(30), |s| {
        s["pid"].as_i64().is_some_and(|n| n != pid) && s["health"]["state"] == "healthy"
    });
    let r = p.keel(&["services", "stop", "job"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    p.wait_for("job", Duration::from_secs(10), |s| s["status"] == "stopped");
}

#[test]
fn new_refuses_a_bad_name_and_an_existing_directory() {
    let work = tempfile::tempdir().unwrap();
    let r = run_in(
        work.path(),
        &[
            "plugins",
            "new",
            "tcp",
            "--kind",
            "health-check",
            "--lang",
            "python",
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("bundled"), "{}", r.stderr);
    std::fs::create_dir(work.path().join("mine")).unwrap();
    std::fs::write(work.path().join("mine/app.py"), "# the author's own\n").unwrap();
    let r = run_in(
        work.path(),
        &[
            "plugins", "new", "mine", "--kind", "hook", "--lang", "python",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(work.path().join("mine/app.py")).unwrap(),
        "# the author's own\n"
    );
}
