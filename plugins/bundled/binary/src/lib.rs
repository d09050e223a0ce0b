//! The bundled `binary` deployment mode: a native process that the host's own supervisor spawns,
//! watches and stops.
//!
//! ```toml
//! [services.orchestrator.deployment.binary]
//! binary_path = "${HOME}/.provisioning/bin/provisioning-orchestrator"
//! args = ["--port", "8080"]                              # optional
//! working_dir = "${HOME}/.provisioning/orchestrator"     # optional
//! env = { RUST_LOG = "info" }                            # optional
//! stop_signal = "SIGTERM"                                # optional ("TERM" works too)
//! stop_command = ["/usr/bin/orchestrator-ctl", "drain"]  # optional
//! ```
//!
//! Paths: `binary_path` must be a path, absolute or relative to the directory of the service's
//! config file (`service-info.config-dir`). A bare program name is refused rather than looked up
//! on PATH: the plugin could only check it by probing every PATH directory through `stat-path`,
//! which would need a `path` grant for each, and the process the host spawns would then depend on
//! the PATH of the host rather than on what the operator wrote and granted. `needs` asks for the
//! paths as written; the host resolves relative ones against the config dir too.

use keel_plugin_sdk::deployment::{Finding, Findings, LaunchSpec, Started, Want, resolve};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{Deployment, Reader, Settings};

/// Signals a process may be asked to stop with, without the `SIG` prefix.
const SIGNALS: [&str; 11] = [
    "TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2", "ABRT", "ALRM", "WINCH", "PWR",
];

struct Binary {
    binary_path: String,
    args: Vec<String>,
    working_dir: Option<String>,
    env: Vec<(String, String)>,
    stop_signal: Option<String>,
    stop_command: Option<Vec<String>>,
}

impl Settings for Binary {
    fn read(r: &mut Reader) -> Binary {
        let binary_path = r.required_string("binary_path").unwrap_or_default();
        let args = r.string_array("args").unwrap_or_default();
        let working_dir = r.string("working_dir");
        let env = r.string_table("env").unwrap_or_default();
        let stop_signal = r.string("stop_signal");
        let stop_command = r.string_array("stop_command");

        if !binary_path.is_empty() && !binary_path.contains('/') {
            r.problem(
                "binary_path",
                format!(
                    "expected a path to the binary (absolute, or relative to the config file's \
                     directory), found the bare name {binary_path:?}; write its full path \
                     (`command -v {binary_path}` prints it)"
                ),
            );
        }
        if working_dir.as_deref() == Some("") {
            r.problem("working_dir", "expected a directory path, found text \"\"");
        }
        for (name, _) in &env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                r.problem(
                    "env",
                    format!("{name:?} is not a valid environment variable name"),
                );
            }
        }
        let stop_signal = stop_signal.and_then(|s| match signal_name(&s) {
            Some(name) => Some(name),
            None => {
                let known = SIGNALS.map(|s| format!("SIG{s}")).join(", ");
                r.problem(
                    "stop_signal",
                    format!("expected a signal name ({known}), found text {s:?}"),
                );
                None
            }
        });
        if stop_command
            .as_ref()
            .is_some_and(|c| c.first().is_none_or(|p| p.is_empty()))
        {
            r.problem(
                "stop_command",
                "expected a program and its arguments, found an empty command",
            );
        }
        Binary {
            binary_path,
            args,
            working_dir,
            env,
            stop_signal,
            stop_command,
        }
    }

    fn needs(&self) -> Vec<Capability> {
        let mut needs = vec![Capability::Path(self.binary_path.clone())];
        needs.extend(self.working_dir.clone().map(Capability::Path));
        needs
    }
}

/// `SIGTERM` for "SIGTERM", "TERM", "sigterm" or "term"; None for anything else.
fn signal_name(s: &str) -> Option<String> {
    let upper = s.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.contains(&bare).then(|| format!("SIG{bare}"))
}

impl Deployment for Binary {
    const NAME: &'static str = "binary";
    const DESCRIPTION: &'static str = "Runs a native binary under the host's supervisor";

    fn preflight(&self, service: &ServiceInfo) -> Vec<Finding> {
        let mut findings = Findings::new();
        findings.path(
            &resolve(service, &self.binary_path),
            Want::Executable,
            "Binary",
        );
        if let Some(dir) = &self.working_dir {
            findings.path(&resolve(service, dir), Want::Directory, "Working directory");
        }
        findings.into_vec()
    }

    fn start(&self, service: &ServiceInfo) -> Result<Started, String> {
        Ok(Started::Launch(LaunchSpec {
            program: resolve(service, &self.binary_path),
            args: self.args.clone(),
            env: self.env.clone(),
            working_dir: self.working_dir.as_ref().map(|dir| resolve(service, dir)),
            stop_signal: self.stop_signal.clone(),
            stop_command: self.stop_command.clone(),
        }))
    }
}

keel_plugin_sdk::deployment!(Binary);
