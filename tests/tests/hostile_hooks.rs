//! Hostile lifecycle hooks (the `hook-act` fixture doing what its settings say): hooks that
//! hang, trap, eat memory, delay past their time limit, reach for an ungranted address, call
//! Keel's API about their own service, or misbehave in the stop and notification phases. Each
//! costs its one call, with the result its entry's `on_error` says; the service is left as the
//! README's rules say, the daemon carries on, and other services are untouched.

use std::time::{Duration, Instant};

use keel_e2e::hooks::{hook, pid, platform, svc};
use keel_e2e::scrape;

/// Misbehaving hooks, one per service, all at once: each costs its one call and the start of
/// its own service (`on_error = "fail"`), or nothing (`"ignore"`); the daemon and the
/// well-behaved service carry on.
#[test]
fn hostile_hooks_cost_their_call_and_nothing_else() {
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let address = trap.local_addr().unwrap().to_string();
    let hostile = [
        ("hang", r#"act = "hang""#.to_string()),
        ("trap", r#"act = "trap""#.to_string()),
        ("membomb", r#"act = "membomb""#.to_string()),
        ("delay", r#"act = "delay", delay_ms = 600000"#.to_string()),
        ("net", format!("act = \"net\", address = {address:?}")),
    ];
    let mut services = Vec::new();
    for (name, settings) in &hostile {
        services.push(svc(name, "exec sleep 330", ""));
        services.push(hook(name, &["before-start"], settings, "timeout = 2"));
    }
    services.push(svc("lenient", "exec sleep 331", ""));
    services.push(hook(
        "lenient",
        &["before-start"],
        r#"act = "trap""#,
        "on_error = \"ignore\"",
    ));
    services.push(svc("bystander", "exec sleep 332", ""));
    let p = platform(&services.concat(), "memory_mb = 32");
    let began = Instant::now();
    let r = p.keel(&["platform", "start"]);
    let took = began.elapsed();
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let daemon = p.daemon_pid().expect("a daemon");
    assert!(took < Duration::from_secs(30), "the start took {took:?}");
    let reason = |name: &str| {
        p.status(name)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    for (name, _) in &hostile {
        let s = p.status(name);
        assert_eq!(s["status"], "failed", "{name}: {s}");
        assert_eq!(
            s["last_hook"]["outcome"],
            if *name == "net" { "veto" } else { "failed" },
            "{name}: {s}"
        );
    }
    assert!(reason("hang").contains("time"), "{}", reason("hang"));
    assert!(
        reason("trap").contains("trap") || reason("trap").contains("unreachable"),
        "{}",
        reason("trap")
    );
    assert!(
        reason("membomb").contains("memory"),
        "{}",
        reason("membomb")
    );
    assert!(
        reason("delay").contains("past the phase's time limit"),
        "{}",
        reason("delay")
    );
    // The connection never reached the listener.
    assert!(
        matches!(trap.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the hook reached an address it was not granted"
    );
    // `ignore` lets the trapping hook's service start; the bystander was never involved.
    assert_eq!(p.status("lenient")["status"], "running");
    assert!(
        p.log("lenient").contains("before-start: ignored"),
        "{}",
        p.log("lenient")
    );
    assert_eq!(p.status("bystander")["status"], "running");
    assert!(!p.log("bystander").contains("[hook"));
    // The daemon that ran them all is the one that answers.
    assert_eq!(p.daemon_pid(), Some(daemon));
    assert_eq!(p.keel(&["daemon", "status"]).code, 0);
    // The metrics count each hostile call by how it ended, and each run by its verdict.
    let metrics = scrape(&p);
    let calls = |outcome: &str| {
        let series = format!(
            "keel_plugin_calls_total{{plugin=\"hook-act\",function=\"run\",outcome=\"{outcome}\"}}"
        );
        value(&metrics, &series)
    };
    assert_eq!(calls("trap"), Some(2.0), "{metrics}"); // trap, and lenient's
    assert_eq!(calls("memory"), Some(1.0), "{metrics}");
    assert_eq!(calls("timeout"), Some(1.0), "{metrics}");
    let runs = |service: &str, verdict: &str| {
        let series = format!(
            "keel_hook_runs_total{{service=\"{service}\",hook=\"hook-act\",phase=\"before-start\",verdict=\"{verdict}\"}}"
        );
        value(&metrics, &series)
    };
    assert_eq!(runs("trap", "failed"), Some(1.0), "{metrics}");
    assert_eq!(runs("lenient", "ignored"), Some(1.0), "{metrics}");
    assert_eq!(runs("net", "veto"), Some(1.0), "{metrics}");
}

/// The value of the sample `series` (name and labels exactly) in a scrape.
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A hook that calls Keel's own API to stop its own service, while the service's task waits for
/// the hook: the call cannot be answered in time, the hook's run fails at its time limit, and
/// its rule decides; the stop it asked for is then carried out.
#[test]
fn a_hook_that_stops_its_own_service_through_the_api_costs_its_call() {
    let services = [
        svc("selfish", "exec sleep 333", ""),
        svc("bystander", "exec sleep 334", ""),
    ]
    .concat();
    let p = platform(&services, "");
    let socket = p.state.join("keel.sock");
    let entry = hook(
        "selfish",
        &["before-start"],
        &format!(
            "act = \"stop-self\", socket = {:?}",
            socket.display().to_string()
        ),
        "timeout = 2\non_error = \"ignore\"",
    );
    std::fs::write(
        &p.config,
        std::fs::read_to_string(&p.config).unwrap().replace(
            "write_paths = [\"rec\"]",
            &format!(
                "write_paths = [\"rec\"]\nunix_sockets = [{:?}]",
                socket.display().to_string()
            ),
        ) + &entry,
    )
    .unwrap();
    let r = p.keel(&["services", "start", "bystander"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let bystander = pid(&p.status("bystander"));
    let began = Instant::now();
    let _ = p.keel(&["services", "start", "selfish"]);
    assert!(began.elapsed() < Duration::from_secs(15));
    let log = p.log("selfish");
    assert!(
        log.contains("[hook hook-act] before-start: ignored"),
        "{log}"
    );
    // The stop it asked for was carried out once the task was free: it is not running.
    p.wait_for("selfish", Duration::from_secs(10), |s| {
        s["status"] == "stopped"
    });
    // The daemon answers, and the other service is the same process.
    assert_eq!(pid(&p.status("bystander")), bystander);
}

/// Hooks that misbehave where the service is stopped or only told: a `before-stop` that hangs
/// costs its time limit and (`on_error = "fail"`) refuses the stop until `--force`; one that
/// traps under `"ignore"` lets the stop go on; a notification that hangs delays neither the
/// start nor the stop of its service.
#[test]
fn hostile_hooks_in_stop_and_notification_phases_hold_up_nothing_else() {
    let services = [
        svc("stuck", "exec sleep 338", ""),
        hook("stuck", &["before-stop"], r#"act = "hang""#, "timeout = 1"),
        svc("loose", "exec sleep 339", ""),
        hook(
            "loose",
            &["before-stop"],
            r#"act = "trap""#,
            "timeout = 1\non_error = \"ignore\"",
        ),
        svc("noisy", "exec sleep 340", ""),
        hook(
            "noisy",
            &["after-start", "after-stop"],
            r#"act = "sleep", delay_ms = 600000"#,
            "timeout = 10",
        ),
        svc("bystander", "exec sleep 341", ""),
    ]
    .concat();
    let p = platform(&services, "");
    let r = p.keel(&["platform", "start"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let daemon = p.daemon_pid().expect("a daemon");
    let bystander = pid(&p.status("bystander"));

    let stuck = pid(&p.status("stuck"));
    let began = Instant::now();
    let r = p.keel(&["services", "stop", "stuck"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert!(
        r.stderr.contains("hook `hook-act`") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    let s = p.status("stuck");
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(pid(&s), stuck, "the same process keeps running");
    assert_eq!(s["last_hook"]["outcome"], "failed", "{s}");
    let r = p.keel(&["services", "stop", "stuck", "--force"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("stuck")["status"], "stopped");

    let r = p.keel(&["services", "stop", "loose"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(p.status("loose")["status"], "stopped");
    assert!(
        p.log("loose").contains("before-stop: ignored"),
        "{}",
        p.log("loose")
    );

    // `noisy` started although its after-start hook is still asleep; it stops at once too.
    assert_eq!(p.status("noisy")["status"], "running");
    let began = Instant::now();
    let r = p.keel(&["services", "stop", "noisy"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(p.status("noisy")["status"], "stopped");

    assert_eq!(pid(&p.status("bystander")), bystander);
    assert!(!p.log("bystander").contains("[hook"));
    assert_eq!(p.daemon_pid(), Some(daemon));
}
