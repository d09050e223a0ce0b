//! Plugin overhead: a TCP health check through the bundled `tcp` plugin against the same check
//! written natively, both against a local listener; and loading the bundled plugins with a warm
//! and a cold compiled-code cache.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use criterion::{Criterion, criterion_group};
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

/// Runs `iters` calls of `call` inside one task, as the daemon's monitor tasks do, and returns
/// the time they took: on a current-thread runtime on this thread, or on a multi-thread
/// runtime's worker.
fn timed<F, Fut>(rt: &tokio::runtime::Runtime, on_worker: bool, iters: u64, call: F) -> Duration
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let work = async move {
        let t0 = Instant::now();
        for _ in 0..iters {
            call().await;
        }
        t0.elapsed()
    };
    if on_worker {
        rt.block_on(async { tokio::spawn(work).await.expect("bench task") })
    } else {
        rt.block_on(work)
    }
}

fn tcp_check(c: &mut Criterion) {
    let port = listener();
    let cache = tempfile::tempdir().expect("tempdir");
    let local = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let host = local
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
    let timeout = Duration::from_secs(2);

    // The same check written natively: what a host without plugins would run in its monitor
    // task (tokio's connect under a timeout).
    let native = move || async move {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(("127.0.0.1", port))).await;
        assert!(matches!(stream, Ok(Ok(_))));
    };
    let plugin = {
        let (host, service, settings) = (host.clone(), service.clone(), settings.clone());
        move || {
            let (host, service, settings) = (host.clone(), service.clone(), settings.clone());
            async move {
                let outcome = host
                    .check("tcp", &service, &settings, timeout)
                    .await
                    .expect("check");
                assert!(outcome.healthy, "{outcome:?}");
            }
        }
    };
    local.block_on(plugin());

    let mut group = c.benchmark_group("tcp_check");
    for (name, on_worker, rt) in [("", false, &local), ("_on_worker", true, &multi)] {
        let f = native;
        group.bench_function(format!("native{name}"), |b| {
            b.iter_custom(|iters| timed(rt, on_worker, iters, f))
        });
        let f = plugin.clone();
        group.bench_function(format!("plugin{name}"), |b| {
            b.iter_custom(|iters| timed(rt, on_worker, iters, f.clone()))
        });
    }
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

fn main() {
    // As the `keel` binary does, so that `RUST_BACKTRACE=1` in the environment does not make
    // every error inside wasmtime-wasi capture a stack trace.
    keel_plugin_host::quiet_library_backtraces();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
