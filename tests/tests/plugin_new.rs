//! `keel plugins new NAME --kind KIND`: each kind's crate, as written, builds with one cargo
//! command into a component that the real `keel plugins call` loads and runs.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use std::time::Duration;

use keel_e2e::{Platform, Run, keel, repo_root};

/// `keel ARGS` in `dir`.
fn keel_in(dir: &Path, args: &[&str]) -> Run {
    keel().args(args).current_dir(dir).output().unwrap().into()
}

/// `keel plugins new NAME --kind KIND` in `dir`, then the one build command it prints; the
/// component's path.
fn new_and_build(dir: &Path, target: &Path, name: &str, kind: &str) -> String {
    let sdk = repo_root().join("plugins/sdk").display().to_string();
    let r = keel_in(
        dir,
        &["plugins", "new", name, "--kind", kind, "--sdk", &sdk],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("Created {name}")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("cargo build --release --target wasm32-wasip2"),
        "{}",
        r.stdout
    );
    let crate_dir = dir.join(name);
    let out = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--offline",
        ])
        .current_dir(&crate_dir)
        // The crate's own build, not this test's: only a target directory shared by the kinds.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = target.join(format!(
        "wasm32-wasip2/release/{}.wasm",
        name.replace('-', "_")
    ));
    assert!(wasm.is_file(), "{}", wasm.display());
    wasm.display().to_string()
}

#[test]
fn each_kind_builds_and_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");

    let check = new_and_build(dir.path(), &target, "port-open", "health-check");
    let r = keel_in(dir.path(), &["plugins", "call", &check, "describe"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.starts_with("port-open 0.1.0 (health check"),
        "{}",
        r.stdout
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let settings = format!(r#"{{"host":"127.0.0.1","port":{port}}}"#);
    let grant = format!("network=127.0.0.1:{port}");
    let r = keel_in(
        dir.path(),
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
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("accepts connections"), "{}", r.stdout);
    let r = keel_in(
        dir.path(),
        &[
            "plugins",
            "call",
            &check,
            "validate",
            "--settings",
            r#"{"prot":1}"#,
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(r#"did you mean "port"?"#), "{}", r.stdout);

    let mode = new_and_build(dir.path(), &target, "my-runner", "deployment");
    let settings = r#"{"program":"/bin/sleep","args":["60"]}"#;
    let r = keel_in(
        dir.path(),
        &[
            "plugins",
            "call",
            &mode,
            "preflight",
            "--settings",
            settings,
            "--grant",
            "path=/bin/sleep",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Program found: /bin/sleep"),
        "{}",
        r.stdout
    );
    let r = keel_in(
        dir.path(),
        &[
            "plugins",
            "call",
            &mode,
            "start",
            "--settings",
            settings,
            "--grant",
            "path=/bin/sleep",
            "--json",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("/bin/sleep"), "{}", r.stdout);

    let hook = new_and_build(dir.path(), &target, "event-log", "hook");
    let r = keel_in(dir.path(), &["plugins", "call", &hook, "phases"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("phases: on-failed, on-unhealthy"),
        "{}",
        r.stdout
    );
    let r = keel_in(dir.path(), &["plugins", "call", &hook, "on-failed"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("proceed"), "{}", r.stdout);

    // Installed into a platform's plugins directory, granted, and run by a daemon.
    let port = keel_e2e::free_port();
    let p = Platform::new(&format!(
        r#"
[plugins]
dir = "plugins"
[plugins.grants.port-open]
network = ["127.0.0.1:{port}"]
[plugins.grants.my-runner]
paths = ["/bin/sleep"]

[services.web.deployment]
mode = "binary"
[services.web.deployment.binary]
binary_path = "/usr/bin/python3"
args = ["-m", "http.server", "{port}", "--bind", "127.0.0.1"]
[services.web.health_check]
type = "port-open"
interval = 1
[services.web.health_check.port-open]
host = "127.0.0.1"
port = {port}

[services.job.deployment]
mode = "my-runner"
[services.job.deployment.my-runner]
program = "/bin/sleep"
args = ["300"]
[[services.job.hooks]]
plugin = "event-log"
settings = {{ phases = ["before-start"] }}
"#
    ));
    for file in [&check, &mode, &hook] {
        let r = p.keel(&["plugins", "install", file, "--dir", "plugins"]);
        assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    }
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.daemon_log());
    let web = p.wait_for("web", Duration::from_secs(30), |s| {
        s["health"]["state"] == "healthy"
    });
    assert!(
        web["health"]["last"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("accepts connections")),
        "{web}"
    );
    let job = p.wait_for("job", Duration::from_secs(30), |s| s["status"] == "running");
    assert!(job["pid"].as_i64().is_some(), "{job}");
    assert!(
        p.log("job")
            .contains("[hook event-log] before-start: proceed"),
        "{}",
        p.log("job")
    );

    // The directory is not overwritten.
    let sdk = repo_root().join("plugins/sdk").display().to_string();
    let r = keel_in(
        dir.path(),
        &[
            "plugins",
            "new",
            "event-log",
            "--kind",
            "hook",
            "--sdk",
            &sdk,
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
}
