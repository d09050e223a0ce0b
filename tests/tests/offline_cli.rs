//! The commands that need no running service, run as a user runs them: the real binary on real
//! config files, asserting on text, JSON and exit status.

use keel_e2e::{keel, repo_root, run, run_with_config};

fn guide() -> String {
    repo_root()
        .join("tests/fixtures/guide-platform.toml")
        .display()
        .to_string()
}

fn demo() -> String {
    repo_root()
        .join("config/services.toml")
        .display()
        .to_string()
}

#[test]
fn validate_accepts_the_demo_and_the_guides_platform() {
    let r = run(&["--config", &demo(), "services", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Total services: 6\nValid: 6\nInvalid: 0"),
        "{}",
        r.stdout
    );

    // The guide's platform is valid as configuration, but its programs are not on this
    // machine and its docker services want Docker's restart policy: the plugins say so.
    let r = run(&["--config", &guide(), "services", "validate", "--json"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["success"], true);
    assert_eq!(j["data"]["total"], 7);
    let invalid = &j["data"]["invalid_services"];
    let problems = |name: &str| -> Vec<String> {
        invalid
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["service"] == name)
            .flat_map(|i| {
                i["problems"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["message"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let home = std::env::var("HOME").unwrap();
    assert_eq!(
        problems("orchestrator"),
        vec![format!(
            "Binary not found: {home}/.provisioning/bin/provisioning-orchestrator"
        )]
    );
    // The guide's `restart_policy = "unless-stopped"` is refused: Keel restarts containers.
    assert!(
        problems("coredns")[0].contains("Docker's restart policy must stay \"no\""),
        "{:?}",
        problems("coredns")
    );
}

#[test]
fn list_shows_the_guides_columns_and_filters() {
    let r = run(&["--config", &guide(), "services", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "name",
            "type",
            "category",
            "status",
            "deployment_mode",
            "auto_start"
        ]
    );
    let orch: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        orch,
        [
            "orchestrator",
            "platform",
            "orchestration",
            "stopped",
            "binary",
            "true"
        ]
    );
    assert_eq!(lines.len(), 8);

    let r = run(&[
        "--config",
        &guide(),
        "services",
        "list",
        "--category",
        "api",
        "--json",
    ]);
    let names: Vec<String> = r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["mcp-server", "api-gateway"]);

    let r = run(&["--config", &guide(), "services", "list", "--running"]);
    assert_eq!((r.code, r.stdout.trim()), (0, "No services running."));

    let r = run(&[
        "--config",
        &guide(),
        "services",
        "list",
        "--category",
        "dsn",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("no service has category `dsn` (did you mean `dns`?)"),
        "{}",
        r.stderr
    );
}

#[test]
fn dependencies_show_the_tree_and_who_requires_a_service() {
    let r = run(&[
        "--config",
        &guide(),
        "services",
        "dependencies",
        "orchestrator",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("## orchestrator\n- Type: platform\n- Category: orchestration\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("- Required by:\n  - control-center\n  - mcp-server\n  - api-gateway\n"),
        "{}",
        r.stdout
    );

    let r = run(&[
        "--config",
        &guide(),
        "services",
        "dependencies",
        "api-gateway",
        "--json",
    ]);
    let d = &r.json()["data"];
    assert_eq!(
        d["dependencies"],
        serde_json::json!(["orchestrator", "control-center", "mcp-server"])
    );
    assert_eq!(
        d["start_order"],
        serde_json::json!([
            "orchestrator",
            "control-center",
            "mcp-server",
            "api-gateway"
        ])
    );

    let r = run(&["--config", &guide(), "services", "dependencies"]);
    assert!(r.stdout.contains("orchestrator (order: 10)\n├─> control-center (order: 20)\n│   └─> api-gateway (order: 45)\n"), "{}", r.stdout);

    let r = run(&[
        "--config",
        &guide(),
        "services",
        "dependencies",
        "orchestrater",
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("unknown service `orchestrater` (did you mean `orchestrator`?)"),
        "{}",
        r.stderr
    );
}

#[test]
fn check_lists_the_services_an_operation_requires() {
    let r = run(&["--config", &guide(), "services", "check", "server"]);
    assert_eq!(
        r.stdout,
        "Operation: server\nRequired services: orchestrator, api-gateway\nAll running: false\n"
    );
    // Not everything runs, so a script's `&&` must not go on.
    assert_eq!(r.code, 1);

    let r = run(&[
        "--config",
        &guide(),
        "services",
        "check",
        "workflow",
        "--json",
    ]);
    let d = &r.json()["data"];
    assert_eq!(
        d["required_services"],
        serde_json::json!(["orchestrator", "gitea"])
    );
    assert_eq!(d["all_running"], false);

    let r = run(&["--config", &guide(), "services", "check", "sever"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("(did you mean `server`?)"),
        "{}",
        r.stderr
    );
}

#[test]
fn dry_run_prints_the_plan_level_by_level() {
    let r = run(&["--config", &demo(), "platform", "start", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("Start plan: 5 services in 3 levels (dry run, nothing started)\n"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("admin"),
        "admin has auto_start = false: {}",
        r.stdout
    );

    // Named services bring their dependencies, even ones that are not auto-started.
    let r = run(&[
        "--config",
        &guide(),
        "platform",
        "start",
        "--dry-run",
        "api-gateway",
        "--json",
    ]);
    let levels: Vec<Vec<String>> = r.json()["data"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            l.as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    assert_eq!(
        levels,
        vec![
            vec!["orchestrator"],
            vec!["control-center", "mcp-server"],
            vec!["api-gateway"]
        ]
    );
}

const BASE: &str = r#"
[services.alpha]
type = "platform"
dependencies = ["beta"]
[services.alpha.deployment]
mode = "binary"
[services.alpha.deployment.binary]
binary_path = "/bin/true"

[services.beta]
type = "platform"
[services.beta.deployment]
mode = "binary"
[services.beta.deployment.binary]
binary_path = "/bin/true"
[services.beta.startup]
start_order = 5
"#;

fn assert_precise(r: &keel_e2e::Run, expected: &str) {
    assert_eq!(r.code, 3, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(expected),
        "expected {expected:?} in:\n{}",
        r.stderr
    );
}

#[test]
fn a_cycle_is_a_precise_error() {
    let text = BASE.replace(
        "[services.beta]\ntype = \"platform\"",
        "[services.beta]\ntype = \"platform\"\ndependencies = [\"alpha\"]",
    );
    let r = run_with_config(&text, &["services", "list"]);
    assert_precise(
        &r,
        "services.toml:4:17: services.alpha.dependencies[0]: dependency cycle: alpha -> beta -> alpha",
    );
}

#[test]
fn an_unknown_dependency_is_a_precise_error() {
    let text = BASE.replace("dependencies = [\"beta\"]", "dependencies = [\"betta\"]");
    let r = run_with_config(&text, &["services", "dependencies"]);
    assert_precise(
        &r,
        "services.toml:4:17: services.alpha.dependencies[0]: service `alpha` depends on `betta`, which is not defined (did you mean `beta`?)",
    );
}

#[test]
fn a_misspelt_key_is_a_precise_error() {
    let text = BASE.replace("start_order = 5", "start_ordre = 5");
    let r = run_with_config(&text, &["platform", "start", "--dry-run"]);
    assert_precise(
        &r,
        "services.toml:17:1: services.beta.startup.start_ordre: unknown key (did you mean `start_order`?)",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_a_precise_error() {
    let text = BASE.replace("start_order = 5", "start_order = \"5\"");
    let r = run_with_config(&text, &["services", "list", "--json"]);
    assert_eq!(r.code, 3);
    let j = r.json();
    assert_eq!(j["success"], false);
    let d = &j["error"]["details"][0];
    assert_eq!(d["location"]["line"], 17);
    assert_eq!(d["location"]["column"], 15);
    assert_eq!(d["key"], "services.beta.startup.start_order");
    assert_eq!(
        d["message"],
        "expected an integer between -1000000 and 1000000, found a string"
    );
}

#[test]
fn validate_reports_every_problem_grouped_by_service() {
    let text = BASE
        .replace("start_order = 5", "start_order = 5\nauto_strat = true")
        .replace(
            "[services.alpha]\ntype = \"platform\"",
            "[services.alpha]\ntype = \"platfrom\"",
        );
    let r = run_with_config(&text, &["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .starts_with("Total services: 2\nValid: 0\nInvalid: 2\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("❌ alpha:\n  - "), "{}", r.stdout);
    assert!(
        r.stdout.contains("unknown service type \"platfrom\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("❌ beta:\n  - "), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("services.beta.startup.auto_strat: unknown key (did you mean `auto_start`?)"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_config_is_found_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let r: keel_e2e::Run = keel()
        .args(["services", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("no services.toml found; looked for --config, then $KEEL_CONFIG, then ./services.toml, then ./config/services.toml"),
        "{}",
        r.stderr
    );

    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/services.toml"), BASE).unwrap();
    let r: keel_e2e::Run = keel()
        .args(["services", "list", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 2);

    // ./services.toml wins over ./config/services.toml, and $KEEL_CONFIG over both.
    std::fs::write(
        dir.path().join("services.toml"),
        BASE.replace("alpha", "gamma"),
    )
    .unwrap();
    let r: keel_e2e::Run = keel()
        .args(["services", "list", "--json"])
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.json()["data"][0]["name"], "gamma");
    let r: keel_e2e::Run = keel()
        .args(["services", "list", "--json"])
        .env("KEEL_CONFIG", dir.path().join("config/services.toml"))
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.json()["data"][0]["name"], "alpha");

    let r: keel_e2e::Run = keel()
        .args(["--config", "nope.toml", "services", "list"])
        .current_dir(dir.path())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("cannot read nope.toml"), "{}", r.stderr);
}

#[test]
fn an_unset_variable_is_named() {
    let text = BASE.replace(
        "binary_path = \"/bin/true\"\n\n",
        "binary_path = \"${KEEL_TEST_SURELY_UNSET}/x\"\n\n",
    );
    let r = run_with_config(&text, &["services", "list"]);
    assert_precise(
        &r,
        "services.toml:8:15: services.alpha.deployment.binary.binary_path: environment variable `KEEL_TEST_SURELY_UNSET` is not set",
    );
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    // `script` gives the command a real terminal, where colour is on unless NO_COLOR is set.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("`script` (util-linux) is needed for this test");
    }
    let cmd = format!(
        "{} --config {} services validate",
        keel_e2e::keel_bin().display(),
        demo()
    );
    let on_tty = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        String::from_utf8(c.output().unwrap().stdout).unwrap()
    };
    assert!(
        on_tty(false).contains('\u{1b}'),
        "colour expected on a terminal"
    );
    assert!(
        !on_tty(true).contains('\u{1b}'),
        "NO_COLOR must turn colour off"
    );
    assert!(
        !run(&["--config", &demo(), "services", "validate"])
            .stdout
            .contains('\u{1b}')
    );
}

#[test]
fn an_unknown_mode_lists_every_mode_though_only_the_named_ones_are_loaded() {
    let text = BASE.replacen("mode = \"binary\"", "mode = \"dockr\"", 1);
    let r = run_with_config(&text, &["services", "validate"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let line = r
        .stdout
        .lines()
        .find(|l| l.contains("dockr"))
        .unwrap_or_else(|| panic!("no line names the mode:\n{}", r.stdout));
    // This config names only `binary`, so the host did not load the other bundled modes; the
    // message still offers them.
    for mode in ["binary", "docker", "docker-compose"] {
        assert!(line.contains(mode), "{line}");
    }
    assert!(!line.contains("tcp"), "check types are not modes: {line}");
}

/// Compiled plugin code is the user's, not the state directory's: a second state directory
/// finds the bundled plugins compiled by the first, in `~/.cache/keel/plugins`.
#[test]
fn a_new_state_directory_reuses_the_users_compiled_plugins() {
    let home = tempfile::tempdir().unwrap();
    let list = |state: &str| {
        let out = keel_e2e::keel()
            .env_remove("KEEL_CACHE_DIR")
            .env_remove("XDG_CACHE_HOME")
            .env("HOME", home.path())
            .args([
                "--config",
                repo_root().join("config/services.toml").to_str().unwrap(),
            ])
            .args(["--state-dir", home.path().join(state).to_str().unwrap()])
            .args(["plugins", "list", "--json"])
            .output()
            .unwrap();
        let run = keel_e2e::Run::from(out);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        run.json()["data"]["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].as_str().unwrap().to_string(), p["cache"].clone()))
            .collect::<Vec<_>>()
    };
    let first = list("one");
    assert!(first.iter().all(|(_, c)| c == "Miss"), "{first:?}");
    let second = list("two");
    assert!(second.iter().all(|(_, c)| c == "Hit"), "{second:?}");
    let cache = home.path().join(".cache/keel/plugins");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&cache).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    assert!(!home.path().join("one/cache").exists());
}
