//! Shared helpers: the real components from `plugins/dist`, a shared compiled-code cache, and
//! small local servers.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use keel_plugin_host::{Grant, HostConfig, PluginHost, ServiceInfo, Settings, Value};

/// The path of a fixture component.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/dist/fixtures")
        .join(format!("{name}.wasm"))
}

/// The path of a bundled component.
pub fn bundled(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins/dist/bundled")
        .join(format!("{name}.wasm"))
}

/// A compiled-code cache shared by the tests, so each test does not recompile everything.
pub fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("keel-plugin-cache")
}

/// A plugins directory holding copies of `files`.
pub fn plugin_dir(files: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for file in files {
        std::fs::copy(file, dir.path().join(file.file_name().expect("file name")))
            .expect("copy plugin");
    }
    dir
}

/// A host with the bundled plugins and the named fixtures, with these grants.
pub async fn host_with(
    fixtures: &[&str],
    grants: HashMap<String, Grant>,
) -> (PluginHost, tempfile::TempDir) {
    let files: Vec<PathBuf> = fixtures.iter().map(|f| fixture(f)).collect();
    let dir = plugin_dir(&files);
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(shared_cache()),
        plugin_dir: Some(dir.path().to_path_buf()),
        grants,
        ..HostConfig::default()
    })
    .await
    .expect("plugin host");
    assert!(
        host.load_errors().is_empty(),
        "load errors: {:?}",
        host.load_errors()
    );
    (host, dir)
}

pub fn service() -> ServiceInfo {
    ServiceInfo {
        name: "web".into(),
        config_dir: std::env::temp_dir(),
    }
}

pub fn tcp_settings(port: u16) -> Settings {
    Settings::new()
        .with("host", Value::Text("127.0.0.1".into()))
        .with("port", Value::Integer(i64::from(port)))
}

/// A listener that accepts connections and closes them, until the test process ends.
pub fn accepting_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    port
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A tiny HTTP server answering every request with `status` after `delay`.
pub fn http_server(status: u16, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                std::thread::sleep(delay);
                let reason = if status == 200 {
                    "OK"
                } else {
                    "Service Unavailable"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} {reason}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            });
        }
    });
    port
}
