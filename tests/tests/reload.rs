//! Live reload with real processes: `platform reload` (and SIGHUP) re-read services.toml into
//! the running daemon. Unchanged services keep their processes; removed ones stop, added
//! auto-start ones start, changed ones restart; a file with problems changes nothing.

use std::time::{Duration, Instant};

use keel_e2e::{Platform, scrape};

/// A service running `sleep` with `secs` as its argument (so a new argument is a change of how
/// it runs), with `extra` lines in its table.
fn sleeper(name: &str, secs: u32, extra: &str) -> String {
    format!(
        r#"
[services.{name}]
{extra}
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "/bin/sleep"
args = ["{secs}"]
"#
    )
}

fn pid(p: &Platform, name: &str) -> Option<i64> {
    p.status(name)["pid"].as_i64()
}

fn running(p: &Platform, name: &str) -> bool {
    p.status(name)["status"] == "running"
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// The four kinds of change in one file, with a dependency between a changed service and an
/// unchanged one.
fn base() -> String {
    [
        sleeper("db", 1000, ""),
        sleeper("api", 1000, "dependencies = [\"db\"]"),
        sleeper("old", 1000, ""),
        sleeper("docs", 1000, "description = \"the manual\""),
    ]
    .concat()
}

fn changed() -> String {
    [
        sleeper("db", 1000, ""),
        // How it runs changed: restarted.
        sleeper("api", 2000, "dependencies = [\"db\"]"),
        // Only its description changed: updated in place.
        sleeper("docs", 1000, "description = \"the handbook\""),
        sleeper("new", 1000, ""),
        sleeper("idle", 1000, "[services.idle.startup]\nauto_start = false"),
    ]
    .concat()
}

#[test]
fn a_reload_applies_the_difference_and_leaves_unchanged_services_alone() {
    let p = Platform::new(&base());
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let before: Vec<(String, i64)> = ["db", "api", "old", "docs"]
        .iter()
        .map(|n| (n.to_string(), pid(&p, n).expect("running")))
        .collect();
    let pid_before = |n: &str| before.iter().find(|(m, _)| m == n).unwrap().1;

    std::fs::write(&p.config, changed()).unwrap();
    // A dry run says what would happen and changes nothing.
    let dry = p.keel(&["platform", "reload", "--dry-run", "--json"]);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    let plan = dry.json()["data"]["services"].clone();
    let row = |name: &str| {
        plan.as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {plan}"))
            .clone()
    };
    assert_eq!(row("db")["change"], "unchanged");
    assert_eq!(row("api")["change"], "changed");
    assert_eq!(row("api")["what"], serde_json::json!(["deployment"]));
    assert_eq!(row("api")["action"], "restart");
    assert_eq!(row("docs")["what"], serde_json::json!(["description"]));
    assert_eq!(row("docs")["action"], "update");
    assert_eq!(row("old")["change"], "removed");
    assert_eq!(row("new")["change"], "added");
    assert_eq!(row("new")["action"], "start");
    assert_eq!(row("idle")["action"], "none");
    for (name, pid) in &before {
        assert!(alive(*pid), "{name} still runs after a dry run");
    }
    assert!(
        !p.keel(&["services", "status", "new"])
            .stdout
            .contains("running")
    );

    let r = p.keel(&["platform", "reload"]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.daemon_log());
    for line in ["unchanged", "changed: deployment", "removed", "added"] {
        assert!(r.stdout.contains(line), "`{line}` in:\n{}", r.stdout);
    }
    // Unchanged, and changed only in description: the same processes.
    assert_eq!(pid(&p, "db"), Some(pid_before("db")));
    assert_eq!(pid(&p, "docs"), Some(pid_before("docs")));
    assert_eq!(p.status("docs")["description"], "the handbook");
    // Changed: a new process, with the new argument.
    let api = pid(&p, "api").expect("api runs again");
    assert_ne!(api, pid_before("api"));
    assert!(!alive(pid_before("api")));
    let cmdline = std::fs::read_to_string(format!("/proc/{api}/cmdline")).unwrap();
    assert!(cmdline.contains("2000"), "{cmdline:?}");
    // Removed: stopped, and unknown from now on.
    assert!(!alive(pid_before("old")));
    let gone = p.keel(&["services", "status", "old"]);
    assert_ne!(gone.code, 0, "{}", gone.stdout);
    // Added: started if auto-start.
    assert!(running(&p, "new"));
    assert!(!running(&p, "idle"));

    // The metrics follow the config served: the added services are there, the removed one not.
    let metrics = scrape(&p);
    assert!(
        metrics.contains("keel_service_up{service=\"new\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("service=\"idle\""), "{metrics}");
    assert!(!metrics.contains("service=\"old\""), "{metrics}");

    // The same file again: nothing to do, nothing touched.
    let again = p.keel(&["platform", "reload", "--json"]);
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    let actions = again.json()["data"]["services"].clone();
    assert!(
        actions
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["change"] == "unchanged" && s["action"] == "none"),
        "{actions}"
    );
    assert_eq!(pid(&p, "api"), Some(api));
}

#[test]
fn a_file_with_problems_is_refused_whole_and_nothing_changes() {
    let p = Platform::new(&base());
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let db = pid(&p, "db").unwrap();
    // Two problems: a dependency on nothing, and a misspelt key in a plugin's table.
    let broken = format!(
        "{}{}",
        sleeper("db", 1, "dependencies = [\"nothing\"]"),
        sleeper("api", 1, "").replace("binary_path", "binary_pth"),
    );
    std::fs::write(&p.config, &broken).unwrap();
    let r = p.keel(&["platform", "reload"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("nothing was changed"), "{out}");
    assert!(out.contains("nothing"), "{out}");
    assert!(
        out.contains("services.toml:"),
        "problems are located: {out}"
    );
    assert!(out.contains("binary_pth"), "{out}");
    let json = p.keel(&["platform", "reload", "--json"]);
    let problems = json.json()["error"]["details"]["problems"].clone();
    assert!(
        problems.as_array().is_some_and(|a| a.len() >= 2),
        "{}",
        json.stdout
    );
    // Everything still runs as before, under the old file (put back, as the CLI reads it too).
    std::fs::write(&p.config, base()).unwrap();
    assert_eq!(pid(&p, "db"), Some(db));
    assert!(running(&p, "old"));
}

#[test]
fn sighup_reloads_the_file() {
    let p = Platform::new(&sleeper("a", 1000, ""));
    // The daemon started on demand logs what it does (not only warnings).
    let r: keel_e2e::Run = p
        .cmd()
        .env("KEEL_LOG", "info")
        .args(["platform", "start"])
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let a = pid(&p, "a").unwrap();
    std::fs::write(
        &p.config,
        [sleeper("a", 1000, ""), sleeper("b", 1000, "")].concat(),
    )
    .unwrap();
    let daemon = p.daemon_pid().unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &daemon.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    // Until the daemon has read the file, `b` is unknown to it.
    while !p
        .keel(&["services", "status", "b"])
        .stdout
        .contains("running")
    {
        assert!(Instant::now() < deadline, "{}", p.daemon_log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(pid(&p, "a"), Some(a));
    let log = p.daemon_log();
    assert!(
        log.contains("SIGHUP") && log.contains("1 added, 0 removed, 0 changed, 1 unchanged"),
        "{log}"
    );
}

#[test]
fn new_platform_hooks_and_grants_apply_to_the_services_that_keep_running() {
    let p = Platform::new(&sleeper("a", 1000, ""));
    let plugins = p.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(p.dir.path().join("rec")).unwrap();
    std::fs::copy(
        keel_e2e::repo_root().join("plugins/dist/fixtures/hook-act.wasm"),
        plugins.join("hook-act.wasm"),
    )
    .unwrap();
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let a = pid(&p, "a").unwrap();
    // A platform-wide hook, and the grant it needs to write its record.
    let hooked = format!(
        r#"
[plugins]
dir = "plugins"
[plugins.grants.hook-act]
write_paths = ["rec"]
store = true

[[hooks]]
plugin = "hook-act"
phases = ["after-start"]
settings = {{ act = "record", path = "rec/started.txt" }}
{}"#,
        sleeper("a", 1000, "")
    );
    std::fs::write(&p.config, hooked).unwrap();
    let r = p.keel(&["platform", "reload", "--json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let report = r.json()["data"].clone();
    assert_eq!(report["platform_changed"], true, "{report}");
    assert_eq!(report["services"][0]["change"], "unchanged", "{report}");
    assert_eq!(pid(&p, "a"), Some(a), "the service kept running");
    // The next start of the service runs the new hook, with its new grant.
    let r = p.keel(&["services", "restart", "a"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let record = p.dir.path().join("rec/started.txt");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&record).is_ok_and(|t| t.contains("after-start")) {
        assert!(Instant::now() < deadline, "no record; log:\n{}", p.log("a"));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A service that starts reporting its own readiness (`notify`) gets what listens for it: its
/// process is restarted with the descriptor, and the newline on it makes it healthy.
#[test]
fn a_service_moved_to_a_notify_check_is_restarted_with_it() {
    let shell = |name: &str, extra: &str| {
        format!(
            r#"
[services.{name}]
[services.{name}.deployment]
mode = "binary"
[services.{name}.deployment.binary]
binary_path = "/bin/sh"
args = ["-c", "echo >&3; exec 3>&-; exec sleep 1000"]
{extra}
"#
        )
    };
    // Without a check the script's `echo >&3` fails, harmlessly: the shell goes on.
    let p = Platform::new(&shell("db", ""));
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let before = pid(&p, "db").unwrap();
    std::fs::write(
        &p.config,
        shell(
            "db",
            "[services.db.health_check]\ntype = \"notify\"\n[services.db.health_check.notify]\nnotification_fd = 3",
        ),
    )
    .unwrap();
    let r = p.keel(&["platform", "reload"]);
    assert_eq!(r.code, 0, "{}{}\n{}", r.stdout, r.stderr, p.log("db"));
    assert!(r.stdout.contains("changed: health_check"), "{}", r.stdout);
    let s = p.wait_for("db", Duration::from_secs(10), |s| {
        s["health"]["state"] == "healthy"
    });
    assert_ne!(s["pid"].as_i64(), Some(before));
}
