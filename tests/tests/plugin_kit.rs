//! The plugin author's commands with the real `keel` binary and real components from
//! plugins/dist: `plugins call` (each kind of function, grants from the command line only,
//! failures shown as failures), `plugins install|remove` (checks, hash, precompilation), and an
//! installed plugin taken up by a running daemon at `platform reload`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keel_e2e::{Platform, Run, keel, repo_root};

fn dist(file: &str) -> String {
    repo_root()
        .join("plugins/dist")
        .join(file)
        .display()
        .to_string()
}

/// `keel plugins call ARGS` from an empty directory: no services.toml anywhere.
fn call(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    keel()
        .args(["plugins", "call"])
        .args(args)
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into()
}

fn ok(r: &Run) -> serde_json::Value {
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    r.json()["data"].clone()
}

fn failed(r: &Run) -> serde_json::Value {
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let doc = r.json();
    assert_eq!(doc["success"], false, "{doc}");
    doc["error"].clone()
}

#[test]
fn a_health_check_file_answers_each_function() {
    let echo = dist("fixtures/third-party-echo.wasm");
    let d = ok(&call(&[&echo, "describe", "--json"]));
    assert_eq!(d["function"], "describe");
    assert_eq!(d["answer"]["name"], "echo");
    assert_eq!(d["answer"]["kind"], "HealthCheck", "{d}");
    assert_eq!(d["plugin"]["name"], "echo");
    assert_eq!(d["answer"]["wit_version"], "0.1.2");
    assert_eq!(d["answer"]["sha256"], sha256sum(&echo).as_str());

    let r = call(&[&echo, "check", "--settings", r#"{"message":"hi there"}"#]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("healthy: hi there"), "{}", r.stdout);

    // Settings from a file, and a problem tied to its key with exit 1.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.json");
    std::fs::write(&file, r#"{"mesage": "typo"}"#).unwrap();
    let at = format!("@{}", file.display());
    let r = call(&[&echo, "validate", "--settings", &at, "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let problems = r.json()["data"]["answer"].clone();
    assert_eq!(problems[0]["key"], "mesage", "{problems}");

    let n = ok(&call(&[&echo, "needs", "--json"]));
    assert_eq!(n["answer"]["needs"], serde_json::json!([]));
    assert_eq!(n["answer"]["denied"], serde_json::Value::Null);
}

#[test]
fn a_capability_is_denied_without_a_grant_and_allowed_with_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let settings = format!(r#"{{"host":"127.0.0.1","port":{port}}}"#);

    // Deny by default, even for a bundled plugin: the call does not run.
    let r = call(&["tcp", "check", "--settings", &settings, "--json"]);
    let e = failed(&r);
    assert_eq!(e["details"]["kind"], "denied", "{e}");
    assert!(e["message"].as_str().unwrap().contains(&addr), "{e}");
    let r = call(&["tcp", "needs", "--settings", &settings]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!("needs: network `{addr}`")),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("not allowed"), "{}", r.stdout);

    let grant = format!("network={addr}");
    let r = call(&["tcp", "check", "--settings", &settings, "--grant", &grant]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("tcp "), "{}", r.stdout);
    assert!(r.stdout.contains("healthy"), "{}", r.stdout);

    // A third-party plugin that asks for one address and connects to another is refused
    // the other, grant or not: the grant covers what it asked for, nothing more.
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let sneaky = format!("127.0.0.1:{}", other.local_addr().unwrap().port());
    let escape = dist("fixtures/net-escape.wasm");
    let s = format!(r#"{{"port":{port},"sneaky":"{sneaky}","probe":true}}"#);
    let e = failed(&call(&[&escape, "check", "--settings", &s, "--json"]));
    assert_eq!(e["details"]["kind"], "denied", "{e}");
    let r = call(&[&escape, "check", "--settings", &s, "--grant", &grant]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("unhealthy"), "{}", r.stdout);
    let honest = format!(r#"{{"port":{port},"sneaky":"{addr}","probe":true}}"#);
    let r = call(&[&escape, "check", "--settings", &honest, "--grant", &grant]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("probed {addr}")), "{}", r.stdout);
}

#[test]
fn bundled_http_and_file_checks_run_with_their_grants() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            .unwrap();
    });
    let settings = format!(r#"{{"endpoint":"http://127.0.0.1:{port}/health"}}"#);
    let grant = format!("network=127.0.0.1:{port}");
    let d = ok(&call(&[
        "http",
        "check",
        "--settings",
        &settings,
        "--grant",
        &grant,
        "--json",
    ]));
    assert_eq!(d["answer"]["healthy"], true, "{d}");
    server.join().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ready");
    std::fs::write(&path, "").unwrap();
    let settings = format!(r#"{{"path":"{}"}}"#, path.display());
    let grant = format!("path={}", dir.path().display());
    let r = call(&["file", "check", "--settings", &settings, "--grant", &grant]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn a_deployment_mode_answers_validate_preflight_and_start() {
    let settings = r#"{"binary_path":"/bin/sleep","args":["5"],"env":{"A":"1"}}"#;
    let grant = "path=/bin/sleep";
    let r = call(&["binary", "validate", "--settings", r#"{"binary_pth":"x"}"#]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(r#"did you mean "binary_path""#),
        "{}",
        r.stdout
    );
    let d = ok(&call(&[
        "binary",
        "preflight",
        "--settings",
        settings,
        "--grant",
        grant,
        "--json",
    ]));
    assert_eq!(d["answer"]["value"][0]["ok"], true, "{d}");
    let d = ok(&call(&[
        "binary",
        "start",
        "--settings",
        settings,
        "--grant",
        grant,
        "--json",
    ]));
    let launch = &d["answer"]["value"]["Launch"];
    assert_eq!(launch["program"], "/bin/sleep", "{d}");
    assert_eq!(launch["args"], serde_json::json!(["5"]));
    // status is for workloads started with a handle; its absence is a usage error.
    let r = call(&["binary", "status", "--settings", settings, "--grant", grant]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("--handle"), "{}", r.stderr);
    // A function the kind does not have is named with the ones it has.
    let r = call(&["binary", "check"]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("preflight, start, status, stop"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_hook_is_run_for_a_phase_with_a_plausible_event() {
    let hook = dist("fixtures/hook-act.wasm");
    let veto = r#"{"act":"veto","reason":"not today"}"#;
    let d = ok(&call(&[
        &hook,
        "before-start",
        "--settings",
        veto,
        "--json",
    ]));
    assert_eq!(d["function"], "hook", "{d}");
    assert_eq!(d["answer"]["event"]["phase"], "BeforeStart", "{d}");
    assert_eq!(
        d["answer"]["reply"]["value"]["verdict"]["Veto"], "not today",
        "{d}"
    );
    let r = call(&[&hook, "on-unhealthy", "--settings", r#"{"act":"proceed"}"#]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("proceed"), "{}", r.stdout);
    let d = ok(&call(&[&hook, "phases", "--json"]));
    assert!(d["answer"].as_array().unwrap().contains(&"on-check".into()));
}

#[test]
fn a_plugin_failure_is_shown_as_such() {
    let e = failed(&call(&[&dist("fixtures/trap.wasm"), "check", "--json"]));
    assert_eq!(e["details"]["kind"], "trap", "{e}");
    assert!(
        e["details"]["stderr"]
            .as_str()
            .unwrap()
            .contains("deliberate panic"),
        "{e}"
    );
    let r = call(&[&dist("fixtures/spin.wasm"), "check", "--timeout-ms", "200"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("timed out in check()"), "{}", r.stderr);
    // Not a Keel plugin at all.
    let r = call(&[&dist("fixtures/wrong-world.wasm"), "describe"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("does not target a Keel plugin world"),
        "{}",
        r.stderr
    );
}

/// `keel plugins ARGS` with its own state directory and compiled-code cache, from `cwd`.
fn kit(state: &Path, cache: &Path, cwd: &Path, args: &[&str]) -> Run {
    keel()
        .arg("--state-dir")
        .arg(state)
        .env("KEEL_CACHE_DIR", cache)
        .arg("plugins")
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
        .into()
}

/// The file's sha256 as coreutils computes it.
fn sha256sum(file: &str) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().to_string()
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn install_checks_places_and_records_a_plugin_and_remove_undoes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, cache) = (tmp.path().join("state"), tmp.path().join("cache"));
    let echo = dist("fixtures/third-party-echo.wasm");
    let hash = sha256sum(&echo);
    let plugins = state.join("plugins");

    // A wrong hash, and files that are not Keel plugins, are refused with nothing placed.
    let wrong = "0".repeat(64);
    let r = kit(
        &state,
        &cache,
        tmp.path(),
        &["install", &echo, "--sha256", &wrong],
    );
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&hash) && r.stderr.contains(&wrong),
        "{}",
        r.stderr
    );
    let wrong_world = dist("fixtures/wrong-world.wasm");
    let r = kit(&state, &cache, tmp.path(), &["install", &wrong_world]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("does not target a Keel plugin world"),
        "{}",
        r.stderr
    );
    let text = tmp.path().join("notes.wasm");
    std::fs::write(&text, "not wasm").unwrap();
    let text = text.display().to_string();
    let r = kit(&state, &cache, tmp.path(), &["install", &text]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(files_in(&plugins).is_empty(), "{:?}", files_in(&plugins));

    // Installed: under its own name, its hash beside it, its code precompiled.
    let r = kit(
        &state,
        &cache,
        tmp.path(),
        &["install", &echo, "--sha256", &hash],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("installed echo"), "{}", r.stdout);
    assert!(r.stdout.contains("can ask for"), "{}", r.stdout);
    assert_eq!(
        std::fs::read(plugins.join("echo.wasm")).unwrap(),
        std::fs::read(&echo).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(plugins.join("echo.sha256")).unwrap(),
        format!("{hash}  echo.wasm\n")
    );
    let cached = files_in(&cache.join("plugins"))
        .into_iter()
        .chain(files_in(&cache))
        .any(|p| p.to_string_lossy().contains(&hash[..32]));
    assert!(cached, "no compiled code in {}", cache.display());
    // Now a name: callable, and again with --json showing the replaced build.
    let r = kit(&state, &cache, tmp.path(), &["call", "echo", "check"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = kit(&state, &cache, tmp.path(), &["install", &echo, "--json"]);
    assert_eq!(ok(&r)["replaced"], hash.as_str());

    let r = kit(&state, &cache, tmp.path(), &["remove", "echo", "--json"]);
    assert_eq!(ok(&r)["sha256"], hash.as_str());
    assert!(files_in(&plugins).is_empty(), "{:?}", files_in(&plugins));
    let r = kit(&state, &cache, tmp.path(), &["remove", "echo"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let r = kit(&state, &cache, tmp.path(), &["remove", "tcp"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("bundled"), "{}", r.stderr);
}

#[test]
fn an_installed_plugin_is_used_by_a_running_daemon_after_a_reload() {
    let service = r#"
[plugins]
dir = "plugins"

[services.a]
[services.a.deployment]
mode = "binary"
[services.a.deployment.binary]
binary_path = "/bin/sleep"
args = ["1000"]
"#;
    let p = Platform::new(service);
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    // Installed into the config's plugin directory while the daemon runs.
    let r = p.keel(&[
        "plugins",
        "install",
        &dist("fixtures/third-party-echo.wasm"),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(p.dir.path().join("plugins/echo.wasm").is_file());
    let list = p.keel(&["plugins", "list"]);
    let hash = std::fs::read_to_string(p.dir.path().join("plugins/echo.sha256")).unwrap();
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with("echo "))
        .unwrap();
    assert!(row.contains(&hash[..12]), "{}", list.stdout);

    let checked = format!(
        "{service}[services.a.health_check]\ntype = \"echo\"\ninterval = 1\n\
         [services.a.health_check.echo]\nmessage = \"installed echo answers\"\n"
    );
    std::fs::write(&p.config, checked).unwrap();
    let r = p.keel(&["platform", "reload"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let s = p.wait_for("a", Duration::from_secs(10), |s| {
        s["health"]["last"]["message"] == "installed echo answers"
    });
    assert_eq!(s["health"]["state"], "healthy", "{s}");
    let r = p.keel(&["services", "health", "a"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("installed echo answers"), "{}", r.stdout);
}

#[test]
fn install_refuses_to_guess_the_directory_beside_a_broken_config() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, cache) = (tmp.path().join("state"), tmp.path().join("cache"));
    std::fs::write(tmp.path().join("services.toml"), "[plugins]\ndir = 3\n").unwrap();
    let echo = dist("fixtures/third-party-echo.wasm");
    let r = kit(&state, &cache, tmp.path(), &["install", &echo]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(!state.join("plugins").exists());
    // A call needs no config, so a broken one is passed over.
    let r = kit(&state, &cache, tmp.path(), &["call", &echo, "describe"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // An explicit directory needs none either.
    let dir = tmp.path().join("elsewhere");
    let dir_arg = dir.display().to_string();
    let r = kit(
        &state,
        &cache,
        tmp.path(),
        &["install", &echo, "--dir", &dir_arg],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(dir.join("echo.wasm").is_file());
}

/// One typo, one suggestion: the host's config validation and a plugin's `validate` (the SDK
/// inside the component) use the same did-you-mean, close spellings and long shared prefixes
/// alike.
#[test]
fn a_typo_gets_the_same_suggestion_from_the_config_and_from_a_plugin() {
    let service = |name: &str, deps: &str| {
        format!(
            "[services.{name}]\ntype = \"platform\"\ndependencies = [{deps}]\n\
             [services.{name}.deployment]\nmode = \"binary\"\n\
             [services.{name}.deployment.binary]\nbinary_path = \"/bin/true\"\n"
        )
    };
    let config = [
        service("host", ""),
        service("port", ""),
        service("timeout-ms", ""),
        service("app", r#""prot", "timeout_milliseconds""#),
    ]
    .concat();
    let r = keel_e2e::run_with_config(&config, &["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let config_says = format!("{}{}", r.stdout, r.stderr);
    assert!(
        config_says.contains("`prot`, which is not defined (did you mean `port`?)"),
        "{config_says}"
    );
    assert!(
        config_says
            .contains("`timeout_milliseconds`, which is not defined (did you mean `timeout-ms`?)"),
        "{config_says}"
    );

    let r = call(&["tcp", "validate", "--settings", r#"{"prot": 6379}"#]);
    assert!(
        r.stdout
            .contains(r#"unknown setting "prot"; did you mean "port"?"#),
        "{}",
        r.stdout
    );
    let settings = r#"{"url": "http://127.0.0.1:9/", "timeout_milliseconds": 500}"#;
    let r = call(&["webhook", "validate", "--settings", settings]);
    assert!(
        r.stdout
            .contains(r#"unknown setting "timeout_milliseconds"; did you mean "timeout_ms"?"#),
        "{}",
        r.stdout
    );
}
