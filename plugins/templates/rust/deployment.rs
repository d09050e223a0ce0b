//! `{{NAME}}`, a Keel deployment mode: runs `program` with `args` under Keel's supervisor.
//!
//! ```toml
//! [services.NAME.deployment.{{NAME}}]
//! program = "/usr/bin/python3"   # absolute, or relative to the config file's directory
//! args = ["-m", "http.server"]   # optional
//! ```
//!
//! Build: `cargo build --release --target wasm32-wasip2`. Try it:
//! `keel plugins call target/wasm32-wasip2/release/{{CRATE}}.wasm preflight --settings '{"program": "/bin/sleep"}' --grant path=/bin/sleep`.

use keel_plugin_sdk::deployment::{Finding, Findings, LaunchSpec, Started, Want, resolve};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{Deployment, Reader, Settings};

struct Mode {
    program: String,
    args: Vec<String>,
}

impl Settings for Mode {
    fn read(r: &mut Reader) -> Self {
        let program = r.required_string("program").unwrap_or_default();
        let args = r.string_array("args").unwrap_or_default();
        Mode { program, args }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![Capability::Path(self.program.clone())]
    }
}

impl Deployment for Mode {
    const NAME: &'static str = "{{NAME}}";
    const DESCRIPTION: &'static str = "Runs a program under Keel's supervisor";

    fn preflight(&self, service: &ServiceInfo) -> Vec<Finding> {
        let mut findings = Findings::new();
        findings.path(&resolve(service, &self.program), Want::Executable, "Program");
        findings.into_vec()
    }

    fn start(&self, service: &ServiceInfo) -> Result<Started, String> {
        Ok(Started::Launch(LaunchSpec {
            program: resolve(service, &self.program),
            args: self.args.clone(),
            env: Vec::new(),
            working_dir: Some(service.config_dir.clone()),
            stop_signal: None,
            stop_command: None,
        }))
    }
}

keel_plugin_sdk::deployment!(Mode);
