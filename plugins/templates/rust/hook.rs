//! `{{NAME}}`, a Keel lifecycle hook: logs each event of the phases it is set up for.
//!
//! ```toml
//! [[hooks]]
//! plugin = "{{NAME}}"
//! settings = { phases = ["on-failed", "on-unhealthy"] }   # optional, the default
//! ```
//!
//! Build: `cargo build --release --target wasm32-wasip2`. Try it:
//! `keel plugins call target/wasm32-wasip2/release/{{CRATE}}.wasm on-failed`.

use keel_plugin_sdk::host::{self, Level};
use keel_plugin_sdk::lifecycle::{Decision, Event, Phase};
use keel_plugin_sdk::types::ServiceInfo;
use keel_plugin_sdk::{Hook, PHASE_NAMES, Reader, Settings};

struct Logger {
    phases: Vec<Phase>,
}

impl Settings for Logger {
    fn read(r: &mut Reader) -> Self {
        let phases = r.list_of("phases", &PHASE_NAMES);
        let phases = phases.unwrap_or(vec!["on-failed", "on-unhealthy"]);
        Logger {
            phases: phases.iter().filter_map(|p| Phase::named(p)).collect(),
        }
    }
}

impl Hook for Logger {
    const NAME: &'static str = "{{NAME}}";
    const DESCRIPTION: &'static str = "Logs a service's lifecycle events";

    fn phases(&self) -> Vec<Phase> {
        self.phases.clone()
    }

    fn run(&self, service: &ServiceInfo, event: &Event) -> Result<Decision, String> {
        let line = format!("{} {}: {}", service.name, event.phase.name(), event.reason);
        host::log(Level::Info, &line);
        // A blocking phase (before-start, before-stop, ...) could veto, skip or delay here.
        Ok(Decision::proceed())
    }
}

keel_plugin_sdk::lifecycle_hook!(Logger);
