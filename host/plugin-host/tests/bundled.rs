//! The bundled plugins against real local servers.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use keel_plugin_host::{
    CapabilityKind, HostConfig, PluginError, PluginHost, PluginKind, PluginSource, Settings,
    Started, Value,
};

#[tokio::test]
async fn bundled_plugins_are_listed() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let list = host.list();
    let kind_of = |name: &str| list.iter().find(|p| p.name == name).map(|p| p.kind);
    assert_eq!(kind_of("tcp"), Some(PluginKind::HealthCheck), "{list:?}");
    assert_eq!(kind_of("http"), Some(PluginKind::HealthCheck), "{list:?}");
    assert_eq!(kind_of("binary"), Some(PluginKind::Deployment), "{list:?}");
    // A bundled plugin is chosen (`Bundled::Only`) and reserved by its file's name: each
    // one's own name must be that.
    let mut files: Vec<String> = std::fs::read_dir(bundled("tcp").parent().expect("dir"))
        .expect("bundled dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".wasm")
                .map(str::to_string)
        })
        .collect();
    files.sort();
    let mut names: Vec<String> = list.iter().map(|p| p.name.clone()).collect();
    names.sort();
    assert_eq!(names, files);
    for p in &list {
        assert_eq!(p.source, PluginSource::Bundled);
        assert!(p.wit_version.starts_with("0.1."), "{p:?}");
        assert!(p.grant.contains("as needed"), "{p:?}");
    }
    let tcp = host.inspect("tcp").await.expect("inspect tcp");
    assert!(
        tcp.capabilities
            .iter()
            .any(|c| c.kind == CapabilityKind::Network),
        "{tcp:?}"
    );
    assert!(
        tcp.exports
            .iter()
            .any(|e| e.starts_with("keel:plugin/health-check@0.1")),
        "{tcp:?}"
    );
}

#[tokio::test]
async fn a_tcp_check_does_not_reset_a_connection_the_service_has_yet_to_accept() {
    // A slow server: it accepts only after the check is over, then answers, as a simple
    // service does. A probe that closed with a reset would make that first write fail.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let outcome = host
        .check(
            "tcp",
            &service(),
            &tcp_settings(port),
            Duration::from_secs(2),
        )
        .await
        .expect("check");
    assert!(outcome.healthy, "{outcome:?}");
    let (mut conn, _) = listener.accept().expect("the probe's connection is queued");
    use std::io::Write;
    conn.write_all(b"ok\n")
        .expect("the service's first write on the probe's connection succeeds");
}

#[tokio::test]
async fn tcp_check_against_a_listener_is_healthy() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let port = accepting_listener();
    let outcome = host
        .check(
            "tcp",
            &service(),
            &tcp_settings(port),
            Duration::from_secs(2),
        )
        .await
        .expect("check");
    assert!(outcome.healthy, "{outcome:?}");
    assert!(outcome.duration < Duration::from_secs(2));
}

#[tokio::test]
async fn tcp_check_of_a_closed_port_is_refused() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let port = closed_port();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port {port} is open"
    );
    let outcome = host
        .check(
            "tcp",
            &service(),
            &tcp_settings(port),
            Duration::from_secs(2),
        )
        .await
        .expect("check");
    assert!(!outcome.healthy, "{outcome:?}");
    assert!(outcome.message.contains("refused"), "{outcome:?}");
}

#[tokio::test]
async fn tcp_check_via_localhost_name() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let settings = Settings::new().with("port", Value::Integer(i64::from(port)));
    let outcome = host
        .check("tcp", &service(), &settings, Duration::from_secs(2))
        .await
        .expect("check");
    // localhost may resolve to ::1 first (refused) and then 127.0.0.1 (accepted).
    assert!(outcome.healthy, "{outcome:?}");
}

#[tokio::test]
async fn tcp_validate_reports_problems() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let problems = host
        .validate_check("tcp", &Settings::new())
        .await
        .expect("validate");
    assert!(
        problems.iter().any(|p| p.message.contains("port")),
        "{problems:?}"
    );
    let ok = host
        .validate_check("tcp", &tcp_settings(80))
        .await
        .expect("validate");
    assert!(ok.is_empty(), "{ok:?}");
    let err = host
        .validate_check("binary", &Settings::new())
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::WrongKind { .. }), "{err}");
    let err = host
        .validate_check("nope", &Settings::new())
        .await
        .unwrap_err();
    assert!(matches!(err, PluginError::NotFound { .. }), "{err}");
}

fn http_settings(port: u16) -> Settings {
    Settings::new().with(
        "endpoint",
        Value::Text(format!("http://127.0.0.1:{port}/health")),
    )
}

#[tokio::test]
async fn http_check_200_is_healthy() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let port = http_server(200, Duration::ZERO);
    let outcome = host
        .check(
            "http",
            &service(),
            &http_settings(port),
            Duration::from_secs(2),
        )
        .await
        .expect("check");
    assert!(outcome.healthy, "{outcome:?}");
}

#[tokio::test]
async fn http_check_503_is_unhealthy() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let port = http_server(503, Duration::ZERO);
    let outcome = host
        .check(
            "http",
            &service(),
            &http_settings(port),
            Duration::from_secs(2),
        )
        .await
        .expect("check");
    assert!(!outcome.healthy, "{outcome:?}");
    assert!(
        outcome.message.contains("HTTP status 503, expected 200"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn http_check_of_a_slow_server_times_out() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let port = http_server(200, Duration::from_secs(10));
    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    let result = host
        .check("http", &service(), &http_settings(port), timeout)
        .await;
    let took = started.elapsed();
    assert!(took < timeout + Duration::from_millis(700), "took {took:?}");
    match result {
        Ok(outcome) => {
            assert!(!outcome.healthy, "{outcome:?}");
            assert!(outcome.message.contains("timed out"), "{outcome:?}");
        }
        Err(e) => assert!(matches!(e, PluginError::Timeout { .. }), "{e}"),
    }
}

#[tokio::test]
async fn a_command_that_outlives_its_timeout_is_killed_with_its_group() {
    // A duration no other process is likely to sleep for, to find the command in /proc.
    const MARK: &str = "30.4711";
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let settings = Settings::new().with(
        "command",
        Value::Text(format!("sh -c 'sleep {MARK}; sleep {MARK}'")),
    );
    let result = host
        .check("command", &service(), &settings, Duration::from_secs(1))
        .await;
    let outcome = result.expect("check");
    assert!(!outcome.healthy, "{outcome:?}");
    assert!(outcome.message.contains("(killed)"), "{outcome:?}");
    // Gone when the check answers: neither the shell nor its sleep is left running (a zombie
    // that waits to be reaped has ended).
    let live_sleeper = std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .any(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let state = stat.rsplit_once(") ").map(|(_, rest)| &rest[..1]);
            String::from_utf8_lossy(&cmdline).contains(MARK)
                && !matches!(state, Some("Z" | "X") | None)
        });
    assert!(!live_sleeper, "the timed-out command is still running");
}

#[tokio::test]
async fn binary_preflight_and_start() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let settings = Settings::new().with("binary_path", Value::Text("/bin/sh".into()));
    let problems = host
        .validate_mode("binary", &settings)
        .await
        .expect("validate");
    assert!(problems.is_empty(), "{problems:?}");
    let preflight = host
        .preflight("binary", &service(), &settings)
        .await
        .expect("preflight");
    assert!(preflight.value.iter().all(|f| f.ok), "{preflight:?}");
    let started = host
        .start("binary", &service(), &settings)
        .await
        .expect("start");
    match started.value {
        Started::Launch(spec) => assert_eq!(spec.program, "/bin/sh"),
        other => panic!("expected a launch spec, got {other:?}"),
    }
    let missing = Settings::new().with(
        "binary_path",
        Value::Text("/nonexistent/keel-test-binary".into()),
    );
    let preflight = host
        .preflight("binary", &service(), &missing)
        .await
        .expect("preflight");
    assert!(preflight.value.iter().any(|f| !f.ok), "{preflight:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_from_many_tasks() {
    let (host, _dir) = host_with(&[], HashMap::new()).await;
    let port = accepting_listener();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let host = host.clone();
        tasks.push(tokio::spawn(async move {
            host.check(
                "tcp",
                &service(),
                &tcp_settings(port),
                Duration::from_secs(5),
            )
            .await
            .expect("check")
        }));
    }
    for t in tasks {
        assert!(t.await.expect("join").healthy);
    }
}

#[tokio::test]
async fn second_start_loads_from_the_cache() {
    let cache = tempfile::tempdir().expect("tempdir");
    let config = HostConfig {
        cache_dir: Some(cache.path().join("cache/plugins")),
        ..HostConfig::default()
    };
    let first = PluginHost::new(config.clone()).await.expect("first");
    assert!(
        first
            .list()
            .iter()
            .all(|p| p.cache == keel_plugin_host::CacheStatus::Miss),
        "{:?}",
        first.list()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cache.path().join("cache/plugins"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let second = PluginHost::new(config).await.expect("second");
    assert!(
        second
            .list()
            .iter()
            .all(|p| p.cache == keel_plugin_host::CacheStatus::Hit),
        "{:?}",
        second.list()
    );
}

#[tokio::test]
async fn an_operator_grant_replaces_the_bundled_default() {
    let mut grants = HashMap::new();
    grants.insert(
        "tcp".to_string(),
        keel_plugin_host::Grant::explicit(keel_plugin_host::Allowlist {
            network: vec!["db.internal:*".into()],
            ..Default::default()
        }),
    );
    let (host, _dir) = host_with(&[], grants).await;
    let port = accepting_listener();
    let err = host
        .check(
            "tcp",
            &service(),
            &tcp_settings(port),
            Duration::from_secs(2),
        )
        .await
        .expect_err("127.0.0.1 is not granted");
    assert!(matches!(err, PluginError::Denied { .. }), "{err}");
    let err = host
        .authorize("tcp", &tcp_settings(port), &service())
        .await
        .expect_err("authorize reports the same denial");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}
