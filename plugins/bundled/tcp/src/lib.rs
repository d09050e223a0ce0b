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

use keel_plugin_sdk::host::{self, HostError};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{HealthCheck, Reader, Settings, authority};

struct Tcp {
    host: String,
    port: u16,
}

impl Settings for Tcp {
    fn read(r: &mut Reader) -> Tcp {
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
        Tcp { host, port }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Network(authority(&self.host, self.port))]
    }
}

impl HealthCheck for Tcp {
    const NAME: &'static str = "tcp";
    const DESCRIPTION: &'static str = "Healthy when a TCP connection to host:port opens";

    fn check(&self, _service: &ServiceInfo, timeout_ms: u32) -> Result<String, String> {
        let target = authority(&self.host, self.port);
        // Asks the host to probe `host:port`.
        match host::tcp_probe(&self.host, self.port, timeout_ms) {
            Ok(()) => Ok(format!("TCP connection to {target} succeeded")),
            Err(e) => {
                let why = match e {
                    HostError::Failed(why) => why,
                    HostError::TimedOut => format!("timed out after {timeout_ms} ms"),
                    HostError::Denied(why) => format!("denied: {why}"),
                };
                Err(format!("TCP connection to {target} failed: {why}"))
            }
        }
    }
}

keel_plugin_sdk::health_check!(Tcp);
