//! docs/plugins.md, run as a reader would: each language's shell blocks (```sh guide-rust,
//! ```sh guide-python), in order, as one bash script in an empty directory, with the built
//! `keel` first on PATH and `PORT` set to a free port. The guide's promise is that these
//! commands take an author from nothing to a custom check that keeps a service healthy.

use std::path::Path;
use std::process::Command;

use keel_e2e::{free_port, keel_bin, repo_root, shared_cache};

/// The bodies of the guide's blocks tagged `sh TAG`, in order.
fn blocks(guide: &str, tag: &str) -> Vec<String> {
    let fence = format!("```sh {tag}");
    let mut out = Vec::new();
    let mut lines = guide.lines();
    while let Some(line) = lines.next() {
        if line.trim() == fence {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            out.push(body.join("\n"));
        }
    }
    out
}

/// Runs the guide's `tag` blocks; their combined output.
fn run_guide(tag: &str) -> String {
    let guide = std::fs::read_to_string(repo_root().join("docs/plugins.md")).unwrap();
    let script = blocks(&guide, tag);
    assert!(script.len() >= 2, "the guide has no `sh {tag}` blocks");
    let dir = tempfile::tempdir().unwrap();
    let bin = keel_bin().parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}\n", script.join("\n")))
        .current_dir(dir.path())
        .env("PATH", path)
        .env("PORT", free_port().to_string())
        .env("KEEL_STATE_DIR", dir.path().join("state"))
        .env("KEEL_CACHE_DIR", shared_cache())
        .env("NO_COLOR", "1")
        // The crates' own builds, not this test's.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTUP_TOOLCHAIN")
        // Each crate builds into its own target/, where the guide looks for it.
        .env_remove("CARGO_TARGET_DIR")
        // The SDK's dependencies are in cargo's cache from the plugins' own build.
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    stop_daemon(&dir.path().join("state"));
    assert!(out.status.success(), "the {tag} guide failed:\n{text}");
    text
}

/// A daemon the script left behind (it failed before `daemon stop`) must not outlive the test.
fn stop_daemon(state: &Path) {
    if let Some(pid) = std::fs::read_to_string(state.join("daemon.lock"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
    }
}

fn assert_healthy_under_the_daemon(text: &str) {
    assert!(
        text.contains("healthy: TCP connection to 127.0.0.1")
            || text.contains("accepts connections"),
        "the check never answered healthy:\n{text}"
    );
    let status = text
        .lines()
        .skip_while(|l| !l.starts_with("Service: web"))
        .take(20)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        status.contains("Status: running") && status.contains("healthy"),
        "`services status web` did not show it running and healthy:\n{text}"
    );
}

#[test]
fn the_rust_guide_runs_as_written() {
    let text = run_guide("guide-rust");
    assert!(text.contains(r#"did you mean "port"?"#), "{text}");
    assert_healthy_under_the_daemon(&text);
    assert!(text.contains("Program found: /bin/sleep"), "{text}");
}

#[test]
fn the_python_guide_runs_as_written() {
    if Command::new("componentize-py")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("KEEL_REQUIRE_PYTHON_PLUGINS").is_none(),
            "componentize-py is required here"
        );
        eprintln!("componentize-py is not installed: skipped");
        return;
    }
    let text = run_guide("guide-python");
    assert_healthy_under_the_daemon(&text);
    assert!(text.contains("proceed"), "{text}");
}
