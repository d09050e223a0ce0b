//! The bundled `unix` health check:
//!
//! ```toml
//! [services.auth.health_check.unix]
//! path = "/tmp/auth-service.sock"
//! send = "PING"        # optional: a line to send (a newline is added when missing)
//! expect = "PONG"      # optional: text the first reply line must contain
//! ```
//!
//! Without `send` and `expect`, healthy when a connection to the socket opens. With `send`, the
//! line is sent and the first line of the reply is read: healthy when it contains `expect`, or,
//! without `expect`, when any reply arrives. With `expect` alone, the peer's first line is read
//! (a greeting). All within the check's `timeout`. The registry README's
//! `health_check = "unix:/path"` is the connect-only form.
//!
//! The exchange goes through the host's `unix-exchange`, and `needs` asks for exactly the
//! socket's path (absolute, or relative to the config file's directory).

use keel_plugin_sdk::host::{self, HostError};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{HealthCheck, Reader, Settings, host_error_text};

/// The longest reply line read.
const MAX_REPLY: u32 = 4096;

struct Unix {
    path: String,
    send: Option<String>,
    expect: Option<String>,
}

impl Settings for Unix {
    fn read(r: &mut Reader) -> Unix {
        let path = r.required_string("path").unwrap_or_default();
        let send = r.string("send");
        let expect = r.string("expect");
        if expect.as_deref() == Some("") {
            r.problem(
                "expect",
                "expected the text a reply must contain, found text \"\"",
            );
        }
        if send
            .as_deref()
            .is_some_and(|s| s.trim_end_matches('\n').contains('\n'))
        {
            r.problem("send", "expected one line, found several");
        }
        Unix { path, send, expect }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::UnixSocket(self.path.clone())]
    }
}

fn shown(reply: &str) -> String {
    let line = reply.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{:?}...", &line[..cut]),
        None => format!("{line:?}"),
    }
}

impl HealthCheck for Unix {
    const NAME: &'static str = "unix";
    const DESCRIPTION: &'static str =
        "Healthy when a Unix socket accepts a connection (and answers)";

    fn check(&self, _service: &ServiceInfo, timeout_ms: u32) -> Result<String, String> {
        let config = self;
        let path = &config.path;
        let request = config.send.as_ref().map(|line| {
            let mut bytes = line.clone().into_bytes();
            if !line.ends_with('\n') {
                bytes.push(b'\n');
            }
            bytes
        });
        let wants_reply = config.send.is_some() || config.expect.is_some();
        let max_reply = if wants_reply { MAX_REPLY } else { 0 };
        let reply = match host::unix_exchange(path, request.as_deref(), max_reply, true, timeout_ms)
        {
            Ok(reply) => String::from_utf8_lossy(&reply).into_owned(),
            Err(HostError::TimedOut) if wants_reply => {
                return Err(format!("no reply line from {path} within {timeout_ms} ms"));
            }
            Err(HostError::TimedOut) => {
                return Err(format!(
                    "connecting to {path} timed out after {timeout_ms} ms"
                ));
            }
            Err(e) => {
                return Err(format!("cannot connect to {path}: {}", host_error_text(&e)));
            }
        };
        let (healthy, message) = match (&config.expect, wants_reply) {
            (_, false) => (true, format!("connected to {path}")),
            (Some(expect), _) if reply.lines().next().unwrap_or("").contains(expect.as_str()) => {
                (true, format!("{path} answered {}", shown(&reply)))
            }
            (Some(expect), _) if reply.is_empty() => (
                false,
                format!("{path} closed the connection without a reply (expected {expect:?})"),
            ),
            (Some(expect), _) => (
                false,
                format!("{path} answered {}, expected {expect:?}", shown(&reply)),
            ),
            (None, _) if reply.is_empty() => (
                false,
                format!("{path} closed the connection without a reply"),
            ),
            (None, _) => (true, format!("{path} answered {}", shown(&reply))),
        };
        if healthy { Ok(message) } else { Err(message) }
    }
}

keel_plugin_sdk::health_check!(Unix);
