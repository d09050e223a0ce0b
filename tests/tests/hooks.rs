//! Lifecycle hooks with real processes and a real hook plugin (the `hook-act` fixture, a
//! third-party component built from plugins/fixtures): verdicts, order, environment, the event
//! stream, and a hook built for 0.1.0 adapted. Hostile hooks are in hostile_hooks.rs.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use keel_e2e::hooks::{hook, pid, platform, svc};
use keel_e2e::{Platform, repo_root};

#[test]
fn a_veto_fails_the_start_with_its_reason_and_the_other_services_start() {
    let p = platform(
        &[
            svc("gated", "exec sleep 321", ""),
            hook(
                "gated",
                &["before-start"],
                r#"act = "veto", reason = "maintenance window""#,
                "",
            ),
            svc("free", "exec sleep 322", ""),
        ]
        .concat(),
        "",
    );
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("gated: vetoed by hook `hook-act`: maintenance window"),
        "{}",
        r.stderr
    );
    let gated = p.status("gated");
    assert_eq!(gated["status"], "failed", "{gated}");
    assert_eq!(gated["pid"], serde_json::Value::Null);
    assert_eq!(gated["last_hook"]["outcome"], "veto");
    assert_eq!(gated["last_hook"]["phase"], "before-start");
    assert_eq!(gated["last_hook"]["reason"], "maintenance window");
    let log = p.log("gated");
    assert!(
        log.contains("[hook hook-act] before-start: veto \"maintenance window\" in "),
        "{log}"
    );
    assert!(!log.contains("started pid"), "{log}");
    assert_eq!(p.status("free")["status"], "running");
    let text = p.keel(&["services", "status", "gated"]).stdout;
    assert!(
        text.contains("Last hook refusal: veto by hook-act in before-start: maintenance window"),
        "{text}"
    );
}

#[test]
fn a_skip_leaves_the_service_and_what_depends_on_it_stopped_without_failing() {
    let p = platform(
        &[
            svc("maybe", "exec sleep 323", ""),
            hook(
                "maybe",
                &["before-start"],
                r#"act = "skip", reason = "not on this host""#,
                "",
            ),
            svc("user", "exec sleep 324", r#"dependencies = ["maybe"]"#),
            svc("other", "exec sleep 325", ""),
        ]
        .concat(),
        "",
    );
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("maybe not started: skipped by hook `hook-act`: not on this host"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("user not started: its dependency maybe was skipped"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Platform started: 1 service ready (2 not started)"),
        "{}",
        r.stdout
    );
    let maybe = p.status("maybe");
    assert_eq!(maybe["status"], "stopped", "{maybe}");
    assert_eq!(maybe["last_hook"]["outcome"], "skip");
    assert_eq!(p.status("user")["status"], "stopped");
    assert_eq!(p.status("other")["status"], "running");
    assert!(!p.log("user").contains("started pid"));
}

#[test]
fn a_vetoed_stop_keeps_the_service_running_until_forced() {
    let p = platform(
        &[
            svc("db", "exec sleep 326", ""),
            hook(
                "db",
                &["before-stop"],
                r#"act = "veto", reason = "backup running""#,
                "",
            ),
        ]
        .concat(),
        "",
    );
    let r = p.keel(&["services", "start", "db"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let first = pid(&p.status("db"));
    let r = p.keel(&["services", "stop", "db"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "the stop of db was vetoed by hook `hook-act`: backup running; use --force to override"
        ),
        "{}",
        r.stderr
    );
    let db = p.status("db");
    assert_eq!(db["status"], "running");
    assert_eq!(pid(&db), first, "the same process keeps running");
    // The platform's stop is refused the same way, and says so.
    let r = p.keel(&["platform", "stop"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("db")["status"], "running");
    // --force asks no hook.
    let r = p.keel(&["services", "stop", "db", "--force"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("db")["status"], "stopped");
    assert!(
        !std::path::Path::new(&format!("/proc/{first}/stat")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{first}/stat")).unwrap_or_default();
            stat.contains(") Z ")
        }
    );
}

#[test]
fn before_start_variables_reach_the_process_after_the_deployments_own() {
    let p = platform(
        &[
            svc("env", "echo REGION=$REGION TIER=$TIER; exec sleep 327", ""),
            hook(
                "env",
                &["before-start"],
                r#"act = "env", env = { REGION = "eu-west", TIER = "gold" }"#,
                "",
            ),
        ]
        .concat(),
        "",
    );
    let r = p.keel(&["services", "start", "env"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !p.log("env").contains("REGION=eu-west TIER=gold") {
        assert!(Instant::now() < deadline, "{}", p.log("env"));
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn platform_hooks_come_first_and_notifications_arrive_in_order() {
    let services = [
        r#"
[[hooks]]
plugin = "hook-act"
phases = ["before-start"]
settings = { act = "veto", reason = "the platform's" }
"#
        .to_string(),
        svc("first", "exec sleep 328", ""),
        hook(
            "first",
            &["before-start"],
            r#"act = "veto", reason = "the service's""#,
            "",
        ),
    ]
    .concat();
    let p = platform(&services, "");
    let r = p.keel(&["services", "start", "first"]);
    assert_eq!(r.code, 1);
    assert_eq!(p.status("first")["last_hook"]["reason"], "the platform's");
    // The service's own hook was not asked after the platform's refused.
    let log = p.log("first");
    assert_eq!(
        log.matches("[hook hook-act] before-start").count(),
        1,
        "{log}"
    );

    // A lifecycle recorded by a notification hook: every phase it asked for, in order. The
    // check's file and the record are relative to services.toml.
    let services = [
        svc("web", "exec sleep 329", ""),
        r#"
[services.web.health_check]
type = "file"
interval = 1
[services.web.health_check.file]
path = "ready"
"#
        .to_string(),
        hook(
            "web",
            &[
                "before-start",
                "after-start",
                "on-healthy",
                "before-stop",
                "after-stop",
            ],
            r#"act = "record", path = "rec/order.txt""#,
            "",
        ),
    ]
    .concat();
    let p = platform(&services, "");
    std::fs::write(p.dir.path().join("ready"), "").unwrap();
    let record = p.dir.path().join("rec/order.txt");
    let r = p.keel(&["services", "start", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let web = pid(&p.status("web"));
    // A stop does not wait for notifications on their way (README): let them arrive first.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&record)
        .unwrap_or_default()
        .contains("on-healthy")
    {
        assert!(Instant::now() < deadline, "{}", p.log("web"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = p.keel(&["services", "stop", "web"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let want = format!(
        "before-start operator -\nafter-start operator {web}\non-healthy health {web}\nbefore-stop operator {web}\nafter-stop operator {web}\n"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = std::fs::read_to_string(&record).unwrap_or_default();
        if got == want {
            break;
        }
        assert!(
            Instant::now() < deadline && want.starts_with(&got),
            "recorded:\n{got}\nwanted:\n{want}\nlog:\n{}",
            p.log("web")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn hook_runs_are_on_the_event_stream() {
    let p = platform(
        &[
            svc("ev", "exec sleep 335", ""),
            hook("ev", &["after-start"], r#"act = "proceed""#, ""),
        ]
        .concat(),
        "",
    );
    // A status request starts the daemon; then follow only hook events.
    p.status("ev");
    let mut s = std::os::unix::net::UnixStream::connect(p.state.join("keel.sock")).unwrap();
    s.write_all(b"GET /api/v1/events?events=hook HTTP/1.1\r\nHost: keel\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let r = p.keel(&["services", "start", "ev"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains("\"event\":\"hook\"") {
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&got)
        );
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let line = text
        .lines()
        .find(|l| l.contains("\"event\":\"hook\""))
        .unwrap();
    let start = line.find('{').unwrap();
    let v: serde_json::Value = serde_json::from_str(&line[start..]).unwrap();
    assert_eq!(v["service"], "ev");
    assert_eq!(v["run"]["hook"], "hook-act");
    assert_eq!(v["run"]["phase"], "after-start");
    assert_eq!(v["run"]["outcome"], "proceed");
}

/// A hook built for 0.1.0's `hook` interface (the `hook-0-1-0` fixture, named `old-hook`) still
/// loads and is adapted: it runs at the phases that interface has, in order, told the daemon's
/// reason as its `detail`, and an error it returns before a start is a veto.
#[test]
fn a_hook_built_for_0_1_0_runs_at_its_phases_and_its_error_is_a_veto() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("old.txt");
    let services = [
        svc("old", "exec sleep 336", ""),
        r#"
[services.old.health_check]
type = "file"
interval = 0.2
[services.old.health_check.file]
path = "ready"
"#
        .to_string(),
        format!(
            "[[services.old.hooks]]\nplugin = \"old-hook\"\nsettings = {{ record = {:?} }}\n",
            record.display().to_string()
        ),
        svc("refused", "exec sleep 337", ""),
        "[[services.refused.hooks]]\nplugin = \"old-hook\"\nsettings = { refuse = [\"before-start\"] }\n"
            .to_string(),
    ]
    .concat();
    let p = Platform::new(&format!(
        "[plugins]\ndir = \"plugins\"\n[plugins.grants.old-hook]\ncommands = [\"/bin/sh\"]\n{services}"
    ));
    let plugins = p.dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(
        repo_root().join("plugins/dist/fixtures/hook-0-1-0.wasm"),
        plugins.join("old-hook.wasm"),
    )
    .unwrap();
    std::fs::write(p.dir.path().join("ready"), "").unwrap();

    let r = p.keel(&["plugins", "inspect", "old-hook"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("World: hook-plugin (keel:plugin@0.1.0)"),
        "{}",
        r.stdout
    );
    let r = p.keel(&["plugins", "inspect", "etcd-register"]);
    assert!(
        r.stdout
            .contains("World: lifecycle-plugin (keel:plugin@0.1.2)"),
        "{}",
        r.stdout
    );

    // The recorded lines once there are `n`.
    let recorded = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(&record).unwrap_or_default();
            let lines: Vec<String> = got.lines().map(str::to_string).collect();
            if lines.len() >= n {
                return lines;
            }
            assert!(
                Instant::now() < deadline,
                "recorded:\n{got}\nlog:\n{}",
                p.log("old")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let r = p.keel(&["services", "start", "old"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // A stop does not wait for notifications on their way (README), so let them arrive first.
    recorded(3);
    let r = p.keel(&["services", "stop", "old"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let want = [
        "before-start",
        "after-start",
        "on-healthy",
        "before-stop",
        "after-stop",
    ];
    let lines = recorded(want.len());
    let events: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(events, want, "{lines:?}");
    // The detail is the daemon's reason in words.
    assert!(lines[4].starts_with("after-stop stopped"), "{lines:?}");

    let r = p.keel(&["services", "start", "refused"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("vetoed by hook `old-hook`: old-hook refuses before-start"),
        "{}",
        r.stderr
    );
    assert_eq!(p.status("refused")["status"], "failed");
}
