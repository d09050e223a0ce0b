//! Plugin overhead: a TCP health check through the bundled `tcp` plugin against the same check
//! written natively, both against a local listener; and loading the bundled plugins with a warm
//! and a cold compiled-code cache.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use keel_plugin_host::{HostConfig, PluginHost, ServiceInfo, Settings, Value};

/// A listener that accepts and closes connections until the process ends.
fn listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_err() {
                break;
            }
        }
    });
    port
}

fn tcp_check(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let port = listener();
    let cache = tempfile::tempdir().expect("tempdir");
    let host = rt
        .block_on(PluginHost::new(HostConfig {
            cache_dir: Some(cache.path().join("plugins")),
            ..HostConfig::default()
        }))
        .expect("host");
    let service = ServiceInfo {
        name: "bench".into(),
        config_dir: std::env::temp_dir(),
    };
    let settings = Settings::new()
        .with("host", Value::Text("127.0.0.1".into()))
        .with("port", Value::Integer(i64::from(port)));
    let outcome = rt
        .block_on(host.check("tcp", &service, &settings, Duration::from_secs(2)))
        .expect("check");
    assert!(outcome.healthy, "{outcome:?}");

    let mut group = c.benchmark_group("tcp_check");
    group.bench_function("native", |b| {
        b.iter(|| {
            let stream =
                TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2));
            assert!(stream.is_ok());
        })
    });
    group.bench_function("plugin", |b| {
        b.iter(|| {
            let outcome = rt
                .block_on(host.check("tcp", &service, &settings, Duration::from_secs(2)))
                .expect("check");
            assert!(outcome.healthy);
        })
    });
    // The same on a current-thread runtime: no hand-off between threads for wasi's socket tasks.
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    group.bench_function("plugin_current_thread", |b| {
        b.iter(|| {
            let outcome = local
                .block_on(host.check("tcp", &service, &settings, Duration::from_secs(2)))
                .expect("check");
            assert!(outcome.healthy);
        })
    });
    // Instantiation plus a call that does no I/O: the fixed cost of a plugin call.
    group.bench_function("plugin_validate_only", |b| {
        b.iter(|| {
            let problems = local
                .block_on(host.validate_check("tcp", &settings))
                .expect("validate");
            assert!(problems.is_empty());
        })
    });
    group.finish();
}

fn load(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let warm = tempfile::tempdir().expect("tempdir");
    let config = HostConfig {
        cache_dir: Some(warm.path().join("plugins")),
        ..HostConfig::default()
    };
    rt.block_on(PluginHost::new(config.clone()))
        .expect("fill cache");

    let mut group = c.benchmark_group("load_bundled");
    group.bench_function("warm_cache", |b| {
        b.iter(|| rt.block_on(PluginHost::new(config.clone())).expect("host"))
    });
    group.sample_size(10);
    group.bench_function("cold_no_cache", |b| {
        b.iter(|| {
            rt.block_on(PluginHost::new(HostConfig::default()))
                .expect("host")
        })
    });
    group.finish();
}

criterion_group!(benches, tcp_check, load);
criterion_main!(benches);
