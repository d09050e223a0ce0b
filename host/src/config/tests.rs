use std::path::Path;
use std::time::Duration;

use super::*;

fn env(name: &str) -> Option<String> {
    (name == "HOME").then(|| "/home/op".to_string())
}

fn parse(text: &str) -> Result<Config, Diagnostics> {
    parse_str(Path::new("s.toml"), text, &env)
}

fn errors(text: &str) -> Vec<String> {
    parse(text)
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect()
}

const WEB: &str = r#"
[services.web]
type = "platform"
category = "ui"
dependencies = ["db"]

[services.web.deployment]
mode = "binary"

[services.web.deployment.binary]
binary_path = "${HOME}/bin/web"
args = ["--port", "${PORT:-8080}"]

[services.web.health_check]
type = "http"

[services.web.health_check.http]
endpoint = "http://localhost:8080/health"

[services.web.startup]
auto_start = false
start_order = 20
restart_on_failure = false
"#;

#[test]
fn full_form_with_defaults_and_expansion() {
    let c = parse(WEB).unwrap();
    let s = c.service("web").unwrap();
    assert_eq!(s.service_type, ServiceType::Platform);
    assert_eq!(s.category, "ui");
    assert_eq!(s.dependencies[0].name, "db");
    assert_eq!(s.deployment.mode, "binary");
    let Value::Table(t) = &s.deployment.settings.node.value else {
        panic!()
    };
    assert_eq!(
        t.get("binary_path").unwrap().node.value,
        Value::String("/home/op/bin/web".into())
    );
    let Value::Array(args) = &t.get("args").unwrap().node.value else {
        panic!()
    };
    assert_eq!(args[1].value, Value::String("8080".into()));
    let hc = s.health_check.as_ref().unwrap();
    assert_eq!(hc.check_type, "http");
    assert_eq!(
        (hc.interval, hc.retries, hc.timeout),
        (Duration::from_secs(10), 3, Duration::from_secs(5))
    );
    assert_eq!(hc.settings.key_path, "services.web.health_check.http");
    assert!(!s.startup.auto_start);
    assert_eq!(s.startup.start_order, 20);
    assert_eq!(s.startup.restart, RestartPolicy::Never);
    assert_eq!(s.startup.start_timeout, Duration::from_secs(30));
}

#[test]
fn unknown_key_names_line_column_path_and_suggestion() {
    let text = WEB.replace("auto_start = false", "auto_strat = false");
    let e = errors(&text);
    assert_eq!(
        e,
        vec![
            "s.toml:21:1: services.web.startup.auto_strat: unknown key (did you mean `auto_start`?)"
        ]
    );
}

#[test]
fn wrong_type_names_expected_and_found() {
    let text = WEB.replace("start_order = 20", "start_order = \"first\"");
    let e = errors(&text);
    assert_eq!(
        e,
        vec![
            "s.toml:22:15: services.web.startup.start_order: expected an integer between -1000000 and 1000000, found a string"
        ]
    );
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let text = WEB
        .replace("category = \"ui\"", "categroy = \"ui\"")
        .replace("type = \"http\"", "type = \"http\"\nintervall = 5")
        .replace("restart_on_failure = false", "restart_on_failure = \"no\"")
        .replace("${HOME}/bin", "${NOT_SET}/bin");
    let e = errors(&text);
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].contains("services.web.categroy: unknown key (did you mean `category`?)"));
    assert!(e[1].contains("environment variable `NOT_SET` is not set"));
    assert!(
        e[2].contains(
            "services.web.health_check.intervall: unknown key (did you mean `interval`?)"
        )
    );
    assert!(e[3].contains("restart_on_failure: expected a boolean"));
}

#[test]
fn invalid_toml_is_located() {
    let e = errors("[services.web]\ntype = \n");
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("s.toml:2:"), "{e:?}");
    assert!(e[0].contains("invalid TOML"), "{e:?}");
}

#[test]
fn missing_deployment_and_bad_values() {
    let e = errors(
        "[services.a]\ntype = \"platfrom\"\n[services.a.health_check]\ntype = \"tcp\"\nretries = 0\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].contains("missing `[services.a.deployment]`"));
    assert!(
        e[1].contains("unknown service type \"platfrom\"")
            && e[1].contains("did you mean `platform`?")
    );
    assert!(e[2].contains("retries: expected an integer between 1 and 1000, found 0"));
}

#[test]
fn other_standard_mode_tables_may_stay_but_unknown_ones_may_not() {
    let ok = WEB.replace(
        "[services.web.health_check]",
        "[services.web.deployment.docker]\nimage = \"web:1\"\n\n[services.web.health_check]",
    );
    assert!(parse(&ok).is_ok());
    let typo = WEB.replace(
        "[services.web.deployment.binary]",
        "[services.web.deployment.binray]",
    );
    let e = errors(&typo);
    assert!(
        e[0].contains("services.web.deployment.binray: unknown key (did you mean `binary`?)"),
        "{e:?}"
    );
}

#[test]
fn short_form_is_normalised_into_the_same_model() {
    let c = parse(
        r#"
[[service]]
name = "auth-service"
cmd = ["./auth-service", "--verbose"]
restart = "Always"
health_check = "unix:/tmp/auth-service.sock"

[[service]]
name = "plugin-manager"
cmd = ["./plugin-manager"]
restart = "OnFailure"
health_check = "http://localhost:8000/health"
dependencies = ["auth-service"]

[[service]]
name = "checker"
cmd = ["./checker"]
restart = "Never"
health_check = "cmd:./scripts/check_auth.sh"
"#,
    )
    .unwrap();
    let auth = c.service("auth-service").unwrap();
    assert_eq!(auth.startup.restart, RestartPolicy::Always);
    assert_eq!(auth.deployment.mode, "binary");
    let Value::Table(t) = &auth.deployment.settings.node.value else {
        panic!()
    };
    assert_eq!(
        t.get("binary_path").unwrap().node.value,
        Value::String("./auth-service".into())
    );
    let hc = auth.health_check.as_ref().unwrap();
    assert_eq!(hc.check_type, "unix");
    let pm = c.service("plugin-manager").unwrap();
    assert_eq!(pm.startup.restart, RestartPolicy::OnFailure);
    assert_eq!(pm.health_check.as_ref().unwrap().check_type, "http");
    assert_eq!(pm.dependencies[0].name, "auth-service");
    let checker = c.service("checker").unwrap();
    assert_eq!(checker.startup.restart, RestartPolicy::Never);
    assert_eq!(checker.health_check.as_ref().unwrap().check_type, "command");
}

#[test]
fn short_form_errors_are_precise() {
    let e = errors(
        "[[service]]\nname = \"x\"\ncmd = []\nrestart = \"Sometimes\"\nhealth_check = \"ftp://x\"\n",
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].contains("s.toml:3:7: service[0].cmd: expected a non-empty array of strings"));
    assert!(e[1].contains("unknown restart policy \"Sometimes\""));
    assert!(e[2].contains("unknown health check \"ftp://x\""));
}

#[test]
fn duplicate_names_across_forms_are_refused() {
    let text = format!("{WEB}\n[[service]]\nname = \"web\"\ncmd = [\"x\"]\n");
    let e = errors(&text);
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("service `web` is defined twice"), "{e:?}");
}

#[test]
fn restart_and_restart_on_failure_together_are_refused() {
    let text = WEB.replace(
        "restart_on_failure = false",
        "restart_on_failure = false\nrestart = \"always\"",
    );
    assert!(errors(&text)[0].contains("either `restart` or `restart_on_failure`"));
}

#[test]
fn locate_prefers_flag_then_env_and_reports_where_it_looked() {
    assert_eq!(
        locate(Some(Path::new("a.toml")), Some("b.toml")).unwrap(),
        Path::new("a.toml")
    );
    assert_eq!(locate(None, Some("b.toml")).unwrap(), Path::new("b.toml"));
    // The search of the working directory is covered end to end; here only the error text.
    let err = ConfigError::NotFound {
        searched: vec!["--config".into(), "./services.toml".into()],
    };
    assert_eq!(
        err.to_string(),
        "no services.toml found; looked for --config, then ./services.toml"
    );
}

#[test]
fn grants_and_orchestrator_settings() {
    let text = format!(
        "{WEB}\n[orchestrator.services]\nauto_start_dependencies = false\n[plugins]\ndir = \"plug\"\n[plugins.grants.echo]\nnetwork = [\"127.0.0.1:*\"]\nmemory_mb = 32\n"
    );
    let c = parse(&text).unwrap();
    assert!(!c.orchestrator.auto_start_dependencies);
    // A relative plugin directory is taken from the config file's directory and made absolute,
    // so that the daemon finds it whatever its working directory.
    assert_eq!(
        c.plugins.dir.as_deref(),
        Some(std::path::absolute("plug").unwrap().as_path())
    );
    assert_eq!(c.plugins.grants["echo"].network, vec!["127.0.0.1:*"]);
    assert_eq!(c.plugins.grants["echo"].memory_mb, Some(32));
}

#[test]
fn restart_timing_defaults_and_settings_in_both_forms() {
    let s = parse(WEB).unwrap();
    let d = &s.service("web").unwrap().startup;
    assert_eq!(
        (d.restart_delay, d.max_restart_delay, d.stable_run),
        (
            Duration::from_millis(100),
            Duration::from_secs(10),
            Duration::from_secs(5)
        )
    );
    let text = WEB.replace(
        "start_order = 20",
        "start_order = 20\nrestart_delay = 0.1\nmax_restart_delay = 2.5\nstable_run = 1",
    );
    let c = parse(&text).unwrap();
    let st = &c.service("web").unwrap().startup;
    assert_eq!(st.restart_delay, Duration::from_millis(100));
    assert_eq!(st.max_restart_delay, Duration::from_millis(2500));
    assert_eq!(st.stable_run, Duration::from_secs(1));
    // Zero is allowed: no wait, or every run counts as stable.
    let text = WEB.replace(
        "start_order = 20",
        "start_order = 20\nrestart_delay = 0\nmax_restart_delay = 0\nstable_run = 0",
    );
    let st = parse(&text).unwrap().services[0].startup.clone();
    assert_eq!(
        (st.restart_delay, st.max_restart_delay, st.stable_run),
        (Duration::ZERO, Duration::ZERO, Duration::ZERO)
    );

    let c = parse(
        "[[service]]\nname = \"x\"\ncmd = [\"./x\"]\nrestart = \"Always\"\nrestart_delay = 0.5\nmax_restart_delay = 4\nstable_run = 30\n",
    )
    .unwrap();
    let st = &c.service("x").unwrap().startup;
    assert_eq!(st.restart, RestartPolicy::Always);
    assert_eq!(st.restart_delay, Duration::from_millis(500));
    assert_eq!(st.max_restart_delay, Duration::from_secs(4));
    assert_eq!(st.stable_run, Duration::from_secs(30));
}

#[test]
fn restart_timing_errors_are_located() {
    let text = WEB.replace(
        "start_order = 20",
        "start_order = 20\nrestart_delay = -0.5\nmax_restart_delay = \"10s\"\nstable_run = -1",
    );
    assert_eq!(
        errors(&text),
        vec![
            "s.toml:23:17: services.web.startup.restart_delay: expected a non-negative number of seconds, found -0.5",
            "s.toml:24:21: services.web.startup.max_restart_delay: expected a number of seconds, found a string",
            "s.toml:25:14: services.web.startup.stable_run: expected a non-negative number of seconds, found -1",
        ]
    );

    // A maximum below the first delay: reported at the maximum when it is written...
    let text = WEB.replace(
        "start_order = 20",
        "start_order = 20\nrestart_delay = 0.5\nmax_restart_delay = 0.2",
    );
    assert_eq!(
        errors(&text),
        vec![
            "s.toml:24:21: services.web.startup.max_restart_delay: expected at least `restart_delay` (0.5 seconds), found 0.2"
        ]
    );
    // ... and at the first delay when it exceeds the default maximum.
    let text = WEB.replace("start_order = 20", "start_order = 20\nrestart_delay = 20");
    assert_eq!(
        errors(&text),
        vec![
            "s.toml:23:17: services.web.startup.restart_delay: expected at most `max_restart_delay` (10 seconds, its default), found 20"
        ]
    );
    // A bad first delay is not compared with the maximum as well.
    let text = WEB.replace(
        "start_order = 20",
        "start_order = 20\nrestart_delay = -1\nmax_restart_delay = 0.05",
    );
    assert_eq!(errors(&text).len(), 1, "{:?}", errors(&text));

    // The short form says the same, at its own keys.
    let e = errors(
        "[[service]]\nname = \"x\"\ncmd = [\"./x\"]\nrestart_delay = 3\nmax_restart_delay = 1\nstable_run = true\n",
    );
    assert_eq!(
        e,
        vec![
            "s.toml:5:21: service[0].max_restart_delay: expected at least `restart_delay` (3 seconds), found 1",
            "s.toml:6:14: service[0].stable_run: expected a number of seconds, found a boolean",
        ]
    );
}

/// A config in a directory of its own with the given env files beside it.
fn with_env_files(config: &str, files: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = dir.path().join("services.toml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

const WITH_ENV_FILE: &str = r#"
[services.web]
env_file = ["base.env", "local.env"]
[services.web.deployment]
mode = "binary"
[services.web.deployment.binary]
binary_path = "/bin/true"

[[service]]
name = "short"
cmd = ["/bin/true"]
env_file = "base.env"
"#;

#[test]
fn env_files_are_read_expanded_and_merged_in_order() {
    let (_dir, path) = with_env_files(
        WITH_ENV_FILE,
        &[
            (
                "base.env",
                "# a comment\nexport NAME=base\nDATA=\"${HOME}/data\"\nURL=http://$NAME:${PORT:-80}\nQUOTED='$HOME stays'\n",
            ),
            ("local.env", "NAME=local\nEXTRA=\"two\nlines\"\n"),
        ],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let c = parse_str(&path, &text, &env).unwrap();
    let get = |service: &str| c.service(service).unwrap().env_from_files.clone();
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // The later file's NAME replaces the earlier one's, also inside the earlier file's URL.
    assert_eq!(
        get("web"),
        pairs(&[
            ("NAME", "local"),
            ("DATA", "/home/op/data"),
            ("URL", "http://local:80"),
            ("QUOTED", "$HOME stays"),
            ("EXTRA", "two\nlines"),
        ])
    );
    assert_eq!(
        get("short"),
        pairs(&[
            ("NAME", "base"),
            ("DATA", "/home/op/data"),
            ("URL", "http://base:80"),
            ("QUOTED", "$HOME stays"),
        ])
    );
}

#[test]
fn a_missing_env_file_is_located_at_its_entry() {
    let (dir, path) = with_env_files(WITH_ENV_FILE, &[("base.env", "A=1\n")]);
    let text = std::fs::read_to_string(&path).unwrap();
    let e: Vec<String> = parse_str(&path, &text, &env)
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect();
    let local = dir.path().join("local.env");
    assert_eq!(
        e,
        vec![format!(
            "{}:3:25: services.web.env_file[1]: cannot read env file {}: No such file or directory (os error 2)",
            path.display(),
            local.display()
        )]
    );
}

#[test]
fn a_bad_line_names_both_files_lines_and_columns() {
    let (dir, path) = with_env_files(
        WITH_ENV_FILE,
        &[
            ("base.env", "A=1\n\nB=\"unterminated\n"),
            ("local.env", "GOOD=1\n9BAD KEY=2\n"),
        ],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let diags = parse_str(&path, &text, &env).unwrap_err();
    let e: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    let (base, local) = (dir.path().join("base.env"), dir.path().join("local.env"));
    let at = |line: usize, col: usize| format!("{}:{line}:{col}", path.display());
    assert_eq!(
        e,
        vec![
            format!(
                "{}: services.web.env_file[0]: {}:3:3: unterminated quote in env file",
                at(3, 13),
                base.display()
            ),
            format!(
                "{}: services.web.env_file[1]: {}:2:1: invalid key in env file",
                at(3, 25),
                local.display()
            ),
            format!(
                "{}: service[0].env_file: {}:3:3: unterminated quote in env file",
                at(12, 12),
                base.display()
            ),
        ]
    );
    // Each problem belongs to its service, for `services validate`.
    let services: Vec<_> = diags.iter().map(|d| d.service.as_deref()).collect();
    assert_eq!(services, [Some("web"), Some("web"), Some("short")]);
}

#[test]
fn env_file_must_be_paths() {
    let e = errors(&WEB.replace(
        "category = \"ui\"",
        "category = \"ui\"\nenv_file = [\"\", 3]",
    ));
    assert_eq!(
        e,
        vec![
            "s.toml:5:13: services.web.env_file[0]: must not be empty",
            "s.toml:5:17: services.web.env_file[1]: expected a path (a string), found an integer",
        ]
    );
    let e = errors(&WEB.replace("category = \"ui\"", "env_file = true"));
    assert_eq!(
        e,
        vec![
            "s.toml:4:12: services.web.env_file: expected a path or an array of paths, found a boolean"
        ]
    );
}

#[test]
fn hooks_platform_wide_and_per_service_in_file_order() {
    let text = format!(
        r#"{WEB}
[[services.web.hooks]]
plugin = "etcd-register"
[services.web.hooks.settings]
endpoint = "http://127.0.0.1:2379"

[[services.web.hooks]]
plugin = "gate"
phases = ["before-start", "on-unhealthy"]
timeout = 0.5
on_error = "ignore"

[[hooks]]
plugin = "webhook"
settings = {{ url = "http://127.0.0.1:9/x" }}
"#
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.hooks.len(), 1);
    assert_eq!(c.hooks[0].plugin, "webhook");
    assert_eq!(c.hooks[0].phases, None);
    assert_eq!(c.hooks[0].timeout, DEFAULT_HOOK_TIMEOUT);
    assert_eq!(c.hooks[0].on_error, OnError::Fail);
    assert_eq!(c.hooks[0].settings.key_path, "hooks[0].settings");
    let s = c.service("web").unwrap();
    let names: Vec<&str> = s.hooks.iter().map(|h| h.plugin.as_str()).collect();
    assert_eq!(names, ["etcd-register", "gate"]);
    let gate = &s.hooks[1];
    assert_eq!(
        gate.phases,
        Some(vec![
            keel_api::HookPhase::BeforeStart,
            keel_api::HookPhase::OnUnhealthy
        ])
    );
    assert_eq!(gate.timeout, Duration::from_millis(500));
    assert_eq!(gate.on_error, OnError::Ignore);
    let Value::Table(t) = &s.hooks[0].settings.node.value else {
        panic!()
    };
    assert!(t.get("endpoint").is_some());
    assert_eq!(
        s.hooks[0].settings.key_path,
        "services.web.hooks[0].settings"
    );
}

#[test]
fn hook_errors_are_located_with_their_key_path() {
    let text = format!(
        r#"{WEB}
[[services.web.hooks]]
phases = ["before-strat"]
on_error = "panic"
timout = 3

[[hooks]]
plugin = "x"
settings = 3
"#
    );
    let e = errors(&text).join("\n");
    assert!(
        e.contains("services.web.hooks[0]: missing `plugin` (the hook plugin's name)"),
        "{e}"
    );
    assert!(
        e.contains(
            "services.web.hooks[0].phases[0]: unknown phase \"before-strat\" (did you mean `before-start`?)"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "services.web.hooks[0].on_error: expected \"fail\" or \"ignore\", found \"panic\""
        ),
        "{e}"
    );
    assert!(
        e.contains("services.web.hooks[0].timout: unknown key (did you mean `timeout`?)"),
        "{e}"
    );
    assert!(
        e.contains("hooks[0].settings: expected a table, found an integer"),
        "{e}"
    );
    // Every message has a line and column.
    assert!(e.lines().all(|l| l.starts_with("s.toml:")), "{e}");
}

#[test]
fn plugin_table_key_paths_keep_the_name_as_written() {
    let table = |key: &str| {
        let text = format!(
            "[services.c.deployment]\nmode = \"my-mode\"\n[services.c.deployment.{key}]\nx = 1\n"
        );
        parse(&text).unwrap().services[0]
            .deployment
            .settings
            .key_path
            .clone()
    };
    assert_eq!(table("my-mode"), "services.c.deployment.my-mode");
    assert_eq!(table("my_mode"), "services.c.deployment.my_mode");
}
