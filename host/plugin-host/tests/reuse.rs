//! Warm instances: a call that ended cleanly leaves its instance for the next call, and
//! nothing that carries authority (an open socket, a failed or trapped state) crosses from one
//! call into another. The `stash` fixture counts the calls its instance served and can keep a
//! connection between calls.

mod common;

use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use keel_plugin_host::{Allowlist, Grant, PluginError, PluginHost, ServiceInfo, Settings, Value};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A listener that accepts connections and keeps them open until the test process ends.
fn holding_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            held.lock().unwrap().push(stream);
        }
    });
    port
}

async fn stash_host() -> (PluginHost, tempfile::TempDir) {
    let grant = Grant::explicit(Allowlist {
        network: vec!["127.0.0.1:*".into()],
        ..Allowlist::default()
    });
    host_with(&["stash"], HashMap::from([("stash".to_string(), grant)])).await
}

fn service_named(name: &str) -> ServiceInfo {
    ServiceInfo {
        name: name.into(),
        config_dir: std::env::temp_dir(),
    }
}

async fn message(host: &PluginHost, service: &str, settings: &Settings) -> String {
    let outcome = host
        .check("stash", &service_named(service), settings, TIMEOUT)
        .await
        .expect("stash check");
    assert!(outcome.healthy, "{outcome:?}");
    outcome.message
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_ended_cleanly_leaves_its_instance_for_the_next() {
    let (host, _dir) = stash_host().await;
    let plain = Settings::new();
    assert_eq!(message(&host, "a", &plain).await, "call 1; nothing stashed");
    assert_eq!(message(&host, "a", &plain).await, "call 2; nothing stashed");
    // Also for another service: its call gets a store of its own (its own authority), on the
    // same warm instance.
    assert_eq!(message(&host, "b", &plain).await, "call 3; nothing stashed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_keeps_a_socket_open_is_not_used_again() {
    let (host, _dir) = stash_host().await;
    let (first, second) = (holding_listener(), holding_listener());
    let stash = Settings::new()
        .with("port", Value::Integer(i64::from(first)))
        .with("stash", Value::Boolean(true));
    assert_eq!(
        message(&host, "a", &stash).await,
        "call 1; nothing stashed; stashed a connection"
    );
    // Service b's call is granted only its own port. Had it been given the previous instance,
    // it could write on the connection service a's call opened ("call 2; stash used").
    let other = Settings::new().with("port", Value::Integer(i64::from(second)));
    assert_eq!(message(&host, "b", &other).await, "call 1; nothing stashed");
    // That fresh instance ended cleanly and holds nothing: it is the one used next.
    assert_eq!(message(&host, "b", &other).await, "call 2; nothing stashed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_trapped_leaves_nothing_behind() {
    let (host, _dir) = stash_host().await;
    let plain = Settings::new();
    assert_eq!(message(&host, "a", &plain).await, "call 1; nothing stashed");
    let trap = Settings::new().with("trap", Value::Boolean(true));
    let err = host
        .check("stash", &service_named("a"), &trap, TIMEOUT)
        .await
        .expect_err("the fixture aborts");
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    // The trapped instance is gone; the next call starts from a fresh one.
    assert_eq!(message(&host, "a", &plain).await, "call 1; nothing stashed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_timed_out_leaves_nothing_behind() {
    let (host, _dir) = stash_host().await;
    let plain = Settings::new();
    assert_eq!(message(&host, "a", &plain).await, "call 1; nothing stashed");
    let sleep = Settings::new().with("sleep_ms", Value::Integer(5_000));
    let err = host
        .check(
            "stash",
            &service_named("a"),
            &sleep,
            Duration::from_millis(200),
        )
        .await
        .expect_err("the call overruns its deadline");
    assert!(matches!(err, PluginError::Timeout { .. }), "{err}");
    // The instance stopped midway is dropped; the next call starts from a fresh one.
    assert_eq!(message(&host, "a", &plain).await, "call 1; nothing stashed");
}
