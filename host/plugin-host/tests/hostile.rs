//! The hostile fixtures: each must fail cleanly within its deadline while the host keeps
//! answering other calls.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;
use keel_plugin_host::{
    Allowlist, CallOutcome, Capability, Grant, PluginError, PluginHost, Settings, Value,
};

/// How many calls of `plugin`'s `check` ended with `outcome`, as the host's metrics count.
fn checks(host: &PluginHost, plugin: &str, outcome: CallOutcome) -> u64 {
    host.stats()
        .into_iter()
        .find(|s| s.plugin == plugin)
        .and_then(|s| {
            s.functions
                .get("check")
                .map(|f| f.outcomes[outcome as usize])
        })
        .unwrap_or(0)
}

/// How many capabilities of `kind` were refused to `plugin`.
fn denials(host: &PluginHost, plugin: &str, kind: &str) -> u64 {
    host.stats()
        .into_iter()
        .find(|s| s.plugin == plugin)
        .and_then(|s| s.denied.get(kind).copied())
        .unwrap_or(0)
}

/// Runs `kind` with `settings` while a normal tcp check runs beside it, and checks that the
/// tcp check succeeds both during and after the hostile call.
async fn alongside_normal_check(
    host: &PluginHost,
    kind: &str,
    settings: Settings,
    timeout: Duration,
) -> (
    Result<keel_plugin_host::CheckOutcome, PluginError>,
    Duration,
) {
    let port = accepting_listener();
    let normal = {
        let host = host.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            host.check(
                "tcp",
                &service(),
                &tcp_settings(port),
                Duration::from_secs(2),
            )
            .await
        })
    };
    let started = Instant::now();
    let result = host.check(kind, &service(), &settings, timeout).await;
    let took = started.elapsed();
    let during = normal.await.expect("join").expect("normal check during");
    assert!(during.healthy, "{during:?}");
    let after = host
        .check(
            "tcp",
            &service(),
            &tcp_settings(port),
            Duration::from_secs(2),
        )
        .await
        .expect("normal check after");
    assert!(after.healthy, "{after:?}");
    (result, took)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_is_stopped_by_the_deadline() {
    let (host, _dir) = host_with(&["spin"], HashMap::new()).await;
    let timeout = Duration::from_millis(500);
    let (result, took) = alongside_normal_check(&host, "spin", Settings::new(), timeout).await;
    let err = result.expect_err("spin must not finish");
    eprintln!("{err} (after {took:?})");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(took < timeout * 2, "took {took:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn spin_does_not_starve_a_single_threaded_runtime() {
    let (host, _dir) = host_with(&["spin"], HashMap::new()).await;
    let timeout = Duration::from_millis(500);
    let (result, took) = alongside_normal_check(&host, "spin", Settings::new(), timeout).await;
    assert!(
        matches!(result, Err(PluginError::Timeout { .. })),
        "{result:?}"
    );
    assert!(took < timeout * 2, "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleeper_is_stopped_by_the_deadline() {
    let (host, _dir) = host_with(&["sleeper"], HashMap::new()).await;
    let timeout = Duration::from_millis(500);
    let (result, took) = alongside_normal_check(&host, "sleeper", Settings::new(), timeout).await;
    let err = result.expect_err("sleeper must not finish");
    eprintln!("{err} (after {took:?})");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    assert!(took < timeout * 2, "took {took:?}");
    assert_eq!(checks(&host, "sleeper", CallOutcome::Timeout), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membomb_hits_the_memory_limit() {
    let mut grants = HashMap::new();
    grants.insert(
        "membomb".to_string(),
        Grant {
            memory_mb: Some(32),
            ..Grant::none()
        },
    );
    let (host, _dir) = host_with(&["membomb"], grants).await;
    let (result, took) =
        alongside_normal_check(&host, "membomb", Settings::new(), Duration::from_secs(5)).await;
    let err = result.expect_err("membomb must fail");
    eprintln!("{err}");
    assert!(
        matches!(err, PluginError::MemoryLimit { limit_mb: 32, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("memory limit of 32 MiB"), "{err}");
    assert_eq!(checks(&host, "membomb", CallOutcome::Memory), 1);
    // The normal checks beside it count as answered calls of their own plugin.
    assert_eq!(checks(&host, "tcp", CallOutcome::Ok), 2);
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trap_carries_the_backtrace() {
    let (host, _dir) = host_with(&["trap"], HashMap::new()).await;
    let (result, _) =
        alongside_normal_check(&host, "trap", Settings::new(), Duration::from_secs(2)).await;
    let err = result.expect_err("trap must fail");
    eprintln!("{err}");
    let PluginError::Trap {
        message,
        diagnostics,
        ..
    } = &err
    else {
        panic!("expected a trap, got {err}");
    };
    assert!(
        message.contains("keel_fixture_deliberate_trap"),
        "{message}"
    );
    assert!(
        diagnostics.stderr.contains("deliberate panic"),
        "{diagnostics:?}"
    );
    assert!(err.to_string().contains("deliberate panic"), "{err}");
    assert_eq!(checks(&host, "trap", CallOutcome::Trap), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_escape_cannot_reach_an_ungranted_port() {
    let (host, _dir, sneaky, settings) = net_escape(false).await;
    let (result, _) =
        alongside_normal_check(&host, "net-escape", settings, Duration::from_secs(2)).await;
    let outcome = result.expect("the check runs and reports the failure");
    assert!(!outcome.healthy, "escaped: {outcome:?}");
    assert!(
        sneaky.accept().is_err(),
        "the sneaky listener must not have seen a connection"
    );
    eprintln!("net-escape message: {}", outcome.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_tcp_probe_cannot_reach_an_ungranted_port_either() {
    let (host, _dir, sneaky, settings) = net_escape(true).await;
    let sneaky_port = sneaky.local_addr().expect("addr").port();
    let (result, _) =
        alongside_normal_check(&host, "net-escape", settings, Duration::from_secs(2)).await;
    let outcome = result.expect("the check runs and reports the failure");
    assert!(!outcome.healthy, "escaped: {outcome:?}");
    assert!(
        outcome.message.starts_with("denied:")
            && outcome
                .message
                .contains(&format!("127.0.0.1:{sneaky_port}")),
        "{outcome:?}"
    );
    assert!(
        sneaky.accept().is_err(),
        "the sneaky listener must not have seen a connection"
    );
    // The call itself answered; the refusal inside it is counted by kind.
    assert_eq!(checks(&host, "net-escape", CallOutcome::Ok), 1);
    assert_eq!(denials(&host, "net-escape", "network"), 1);
}

/// The net-escape fixture granted only a closed port, and told to reach a listener of its
/// own instead (through the host's `tcp-probe` when `probe`, else through WASI sockets).
async fn net_escape(probe: bool) -> (PluginHost, tempfile::TempDir, TcpListener, Settings) {
    let granted = closed_port();
    let sneaky = TcpListener::bind("127.0.0.1:0").expect("bind");
    sneaky.set_nonblocking(true).expect("nonblocking");
    let sneaky_port = sneaky.local_addr().expect("addr").port();
    let grants = HashMap::from([(
        "net-escape".to_string(),
        Grant::explicit(Allowlist {
            network: vec![format!("127.0.0.1:{granted}")],
            ..Allowlist::default()
        }),
    )]);
    let (host, dir) = host_with(&["net-escape"], grants).await;
    let mut settings = Settings::new()
        .with("port", Value::Integer(i64::from(granted)))
        .with("sneaky", Value::Text(format!("127.0.0.1:{sneaky_port}")));
    if probe {
        settings = settings.with("probe", Value::Boolean(true));
    }
    (host, dir, sneaky, settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_request_without_a_grant_is_denied() {
    let (host, _dir) = host_with(&["net-escape"], HashMap::new()).await;
    let settings = Settings::new()
        .with("port", Value::Integer(5432))
        .with("sneaky", Value::Text("127.0.0.1:5432".into()));
    let (result, _) =
        alongside_normal_check(&host, "net-escape", settings, Duration::from_secs(2)).await;
    let err = result.expect_err("must be denied");
    eprintln!("{err}");
    let PluginError::Denied {
        plugin, capability, ..
    } = &err
    else {
        panic!("expected Denied, got {err}");
    };
    assert_eq!(plugin, "net-escape");
    assert_eq!(capability, &Capability::Network("127.0.0.1:5432".into()));
    assert_eq!(checks(&host, "net-escape", CallOutcome::Denied), 1);
    assert_eq!(denials(&host, "net-escape", "network"), 1);
    let text = err.to_string();
    assert!(
        text.contains("net-escape") && text.contains("network"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_escape_is_denied() {
    let (host, _dir) = host_with(&["file-escape"], HashMap::new()).await;
    let settings = Settings::new().with("path", Value::Text("/etc/passwd".into()));
    let (result, _) =
        alongside_normal_check(&host, "file-escape", settings, Duration::from_secs(2)).await;
    let outcome = result.expect("the check runs and reports the failure");
    assert!(!outcome.healthy, "escaped: {outcome:?}");
    assert!(outcome.message.contains("stat-path: denied"), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmd_escape_is_denied() {
    let (host, _dir) = host_with(&["cmd-escape"], HashMap::new()).await;
    let settings = Settings::new()
        .with("program", Value::Text("/bin/sh".into()))
        .with(
            "args",
            Value::Array(vec![
                keel_plugin_host::Scalar::Text("-c".into()),
                keel_plugin_host::Scalar::Text("true".into()),
            ]),
        );
    let (result, _) =
        alongside_normal_check(&host, "cmd-escape", settings, Duration::from_secs(2)).await;
    let outcome = result.expect("the check runs and reports the failure");
    assert!(!outcome.healthy, "escaped: {outcome:?}");
    assert!(outcome.message.starts_with("denied"), "{outcome:?}");
    assert_eq!(denials(&host, "cmd-escape", "command"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_answer_is_refused() {
    let (host, _dir) = host_with(&["huge-answer"], HashMap::new()).await;
    let (result, _) = alongside_normal_check(
        &host,
        "huge-answer",
        Settings::new(),
        Duration::from_secs(5),
    )
    .await;
    let err = result.expect_err("a huge answer must be refused");
    eprintln!("{err}");
    assert!(matches!(err, PluginError::Malformed { .. }), "{err}");
    assert!(
        err.to_string().len() < 4096,
        "the error itself must stay small"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stderr_chatter_is_captured_and_bounded() {
    let (host, _dir) = host_with(&["stderr-chatter"], HashMap::new()).await;
    let (result, _) = alongside_normal_check(
        &host,
        "stderr-chatter",
        Settings::new(),
        Duration::from_secs(5),
    )
    .await;
    let outcome = result.expect("chatter is not an error");
    assert!(outcome.healthy, "{outcome:?}");
    assert!(
        outcome.stderr.starts_with("stderr-chatter line 0000001"),
        "{}",
        &outcome.stderr[..100]
    );
    assert!(
        outcome.stderr.len() <= keel_plugin_host::limits::OUTPUT_CAP + 64,
        "{}",
        outcome.stderr.len()
    );
    assert!(outcome.stderr.contains("more bytes dropped"));
    assert!(
        outcome
            .logs
            .iter()
            .any(|l| l.message.contains("stderr-chatter wrote")),
        "{:?}",
        outcome.logs
    );
}
