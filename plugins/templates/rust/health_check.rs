//! `{{NAME}}`, a Keel health check: healthy when a TCP connection to `host:port` opens.
//!
//! ```toml
//! [services.NAME.health_check.{{NAME}}]
//! host = "localhost"   # optional, the default
//! port = 8080
//! ```
//!
//! Build: `cargo build --release --target wasm32-wasip2`. Try it:
//! `keel plugins call target/wasm32-wasip2/release/{{CRATE}}.wasm check --settings '{"port": 8080}' --grant network=localhost:8080`.

use keel_plugin_sdk::tcp::{Until, exchange};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{HealthCheck, Reader, Settings, authority};

struct Check {
    host: String,
    port: u16,
}

impl Settings for Check {
    fn read(r: &mut Reader) -> Self {
        let host = r.string("host").unwrap_or_else(|| "localhost".into());
        let port = r.required_integer("port", 1, 65535).unwrap_or_default() as u16;
        Check { host, port }
    }

    // The grant matches the name written: `localhost:8080` and `127.0.0.1:8080` are different.
    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Network(authority(&self.host, self.port))]
    }
}

impl HealthCheck for Check {
    const NAME: &'static str = "{{NAME}}";
    const DESCRIPTION: &'static str = "Healthy when a TCP connection to host:port opens";

    fn check(&self, _service: &ServiceInfo, timeout_ms: u32) -> Result<String, String> {
        let target = authority(&self.host, self.port);
        // Send a request and read a reply here for a protocol check (`Until::Newline`).
        exchange(&self.host, self.port, b"", Until::Connected, 0, timeout_ms)
            .map(|_| format!("{target} accepts connections"))
            .map_err(|e| format!("{target}: {e}"))
    }
}

keel_plugin_sdk::health_check!(Check);
