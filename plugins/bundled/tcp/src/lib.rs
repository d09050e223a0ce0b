//! The bundled `tcp` health check:
//!
//! ```toml
//! [services.coredns.health_check.tcp]
//! host = "localhost"   # optional, the default
//! port = 5353
//! ```
//!
//! Healthy when a TCP connection to `host:port` opens within the timeout. Name lookup and the
//! connection go through `wasi:sockets`, which the host confines to the granted
//! `network("host:port")`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use exports::keel::plugin::health_check::{CheckResult, Guest as HealthCheck};
use exports::keel::plugin::plugin::{Guest as Plugin, PluginInfo};
use keel_plugin_sdk::types::{Capability, Problem, ServiceInfo, Settings};
use keel_plugin_sdk::{Reader, authority, io_error_text, problems_text};
use wasip2::clocks::monotonic_clock;
use wasip2::io::poll;
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

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
        match connect(&config, Duration::from_millis(timeout_ms.into())) {
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

/// Tries each address the host name resolves to until one connects or the time is up.
///
/// The connection is made with `wasi:sockets/tcp` directly (start-connect, wait on the socket's
/// pollable or the deadline, finish-connect) rather than through `std::net`: std's
/// `connect_timeout` on wasip2 goes through an emulated `poll` that can report a refused
/// connection as writable, which would make a closed port look healthy.
fn connect(config: &Config, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|e| {
            format!(
                "name lookup for {:?} failed: {}",
                config.host,
                io_error_text(&e)
            )
        })?
        .collect();
    let mut last_error = format!("{:?} resolved to no address", config.host);
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("timed out after {} ms", timeout.as_millis()));
        }
        match connect_one(addr, left) {
            Ok(()) => return Ok(()),
            Err(ErrorCode::Timeout) => {
                last_error = format!("timed out after {} ms", timeout.as_millis())
            }
            Err(code) => last_error = error_text(code),
        }
    }
    Err(last_error)
}

fn connect_one(addr: SocketAddr, left: Duration) -> Result<(), ErrorCode> {
    let (family, remote) = match addr {
        SocketAddr::V4(a) => {
            let o = a.ip().octets();
            (
                IpAddressFamily::Ipv4,
                IpSocketAddress::Ipv4(Ipv4SocketAddress {
                    port: a.port(),
                    address: (o[0], o[1], o[2], o[3]),
                }),
            )
        }
        SocketAddr::V6(a) => {
            let s = a.ip().segments();
            (
                IpAddressFamily::Ipv6,
                IpSocketAddress::Ipv6(Ipv6SocketAddress {
                    port: a.port(),
                    flow_info: a.flowinfo(),
                    address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                    scope_id: a.scope_id(),
                }),
            )
        }
    };
    let network = instance_network();
    let socket = create_tcp_socket(family)?;
    socket.start_connect(&network, remote)?;
    let ready = socket.subscribe();
    let timer = monotonic_clock::subscribe_duration(left.as_nanos().min(u64::MAX as u128) as u64);
    // Wait first, then finish: asking to finish a connect still in progress is answered with
    // an error (`would-block`), and errors cost the host far more than a poll.
    loop {
        let fired = poll::poll(&[&ready, &timer]);
        if !fired.contains(&0) {
            return Err(ErrorCode::Timeout);
        }
        match socket.finish_connect() {
            // The streams close with the socket when they go out of scope.
            Ok(_streams) => return Ok(()),
            Err(ErrorCode::WouldBlock) => continue,
            Err(code) => return Err(code),
        }
    }
}

fn error_text(code: ErrorCode) -> String {
    match code {
        ErrorCode::ConnectionRefused => "connection refused".into(),
        ErrorCode::ConnectionReset => "connection reset".into(),
        ErrorCode::RemoteUnreachable => "host unreachable".into(),
        ErrorCode::AccessDenied => "denied: the plugin was not granted this address".into(),
        ErrorCode::Timeout => "timed out".into(),
        other => format!("{other:?}"),
    }
}
