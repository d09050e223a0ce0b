//! The bundled `tcp` health check:
//!
//! ```toml
//! [services.coredns.health_check.tcp]
//! host = "localhost"   # optional, the default
//! port = 5353
//! ```
//!
//! Healthy when a TCP connection to `host:port` opens within the timeout. The connection is
//! made by the host's `tcp-probe` (keel:plugin 0.1.1), which the host confines to the granted
//! `network("host:port")`: one host call per check instead of a socket, two streams and two
//! pollables through `wasi:sockets`.

use exports::keel::plugin::health_check::{CheckResult, Guest as HealthCheck};
use exports::keel::plugin::plugin::{Guest as Plugin, PluginInfo};
use keel_plugin_sdk::host::{self, HostError};
use keel_plugin_sdk::types::{Capability, Problem, ServiceInfo, Settings};
use keel_plugin_sdk::{Reader, authority, problems_text};

keel_plugin_sdk::world!("health-check-plugin");

struct Tcp;
export!(Tcp);

struct Config {
    host: String,
    port: u16,
}

impl Config {
    fn read(settings: &Settings) -> Result<Config, Vec<Problem>> {
        let mut r = Reader::new(settings);
        let host = r.string("host");
        let port = r.required_integer("port", 1, 65535);
        let host = match host {
            None => "localhost".to_string(),
            // Accept `[::1]` as well as `::1`.
            Some(h) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            r.problem(
                "host",
                format!("expected a host name or IP address, found text {host:?}"),
            );
        }
        let port = port.map(|p| p as u16).unwrap_or_default();
        r.finish(Config { host, port })
    }

    fn authority(&self) -> String {
        authority(&self.host, self.port)
    }
}

impl Plugin for Tcp {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "tcp".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Healthy when a TCP connection to host:port opens".into(),
        }
    }
}

impl HealthCheck for Tcp {
    fn validate(settings: Settings) -> Vec<Problem> {
        Config::read(&settings).err().unwrap_or_default()
    }

    fn needs(settings: Settings) -> Vec<Capability> {
        match Config::read(&settings) {
            Ok(config) => vec![Capability::Network(config.authority())],
            Err(_) => Vec::new(),
        }
    }

    fn check(_service: ServiceInfo, settings: Settings, timeout_ms: u32) -> CheckResult {
        let config = match Config::read(&settings) {
            Ok(config) => config,
            Err(problems) => {
                return CheckResult {
                    healthy: false,
                    message: problems_text(&problems),
                };
            }
        };
        let target = config.authority();
        match connect(&config, timeout_ms) {
            Ok(()) => CheckResult {
                healthy: true,
                message: format!("TCP connection to {target} succeeded"),
            },
            Err(why) => CheckResult {
                healthy: false,
                message: format!("TCP connection to {target} failed: {why}"),
            },
        }
    }
}

/// Asks the host to probe `host:port`.
fn connect(config: &Config, timeout_ms: u32) -> Result<(), String> {
    host::tcp_probe(&config.host, config.port, timeout_ms).map_err(|e| match e {
        HostError::Failed(why) => why,
        HostError::TimedOut => format!("timed out after {timeout_ms} ms"),
        HostError::Denied(why) => format!("denied: {why}"),
    })
}
