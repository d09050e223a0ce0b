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

use exports::keel::plugin::deployment::{
    Finding, Guest as Deployment, LaunchSpec, Started, WorkloadStatus,
};
use exports::keel::plugin::plugin::{Guest as Plugin, PluginInfo};
use keel_plugin_sdk::host::{self, PathInfo};
use keel_plugin_sdk::types::{Capability, Problem, ServiceInfo, Settings};
use keel_plugin_sdk::{Reader, host_error_text, problems_text};

keel_plugin_sdk::world!("deployment-plugin");

struct Binary;
export!(Binary);

/// Signals a process may be asked to stop with, without the `SIG` prefix.
const SIGNALS: [&str; 11] = [
    "TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2", "ABRT", "ALRM", "WINCH", "PWR",
];

struct Config {
    binary_path: String,
    args: Vec<String>,
    working_dir: Option<String>,
    env: Vec<(String, String)>,
    stop_signal: Option<String>,
    stop_command: Option<Vec<String>>,
}

impl Config {
    fn read(settings: &Settings) -> Result<Config, Vec<Problem>> {
        let mut r = Reader::new(settings);
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
        r.finish(Config {
            binary_path,
            args,
            working_dir,
            env,
            stop_signal,
            stop_command,
        })
    }
}

/// `SIGTERM` for "SIGTERM", "TERM", "sigterm" or "term"; None for anything else.
fn signal_name(s: &str) -> Option<String> {
    let upper = s.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS.contains(&bare).then(|| format!("SIG{bare}"))
}

/// A settings path made absolute against the service's config dir.
fn resolve(service: &ServiceInfo, path: &str) -> String {
    if path.starts_with('/') {
        return path.to_string();
    }
    let dir = service.config_dir.trim_end_matches('/');
    match path.trim_start_matches("./") {
        "" | "." => dir.to_string(),
        relative => format!("{dir}/{relative}"),
    }
}

/// What `stat-path` says about `path`, as a pre-flight finding. `what` is "Binary" or
/// "Working directory".
fn stat_finding(path: &str, want_dir: bool, what: &str) -> Finding {
    let (ok, message) = match host::stat_path(path) {
        Ok(Some(PathInfo { is_dir: true, .. })) if want_dir => {
            (true, format!("{what} found: {path}"))
        }
        Ok(Some(PathInfo {
            is_file: true,
            executable: true,
            ..
        })) if !want_dir => (true, format!("{what} found: {path}")),
        Ok(Some(PathInfo { is_file: true, .. })) if !want_dir => {
            (false, format!("Not executable: {path}"))
        }
        Ok(Some(PathInfo { is_dir: true, .. })) => {
            (false, format!("Not a file: {path} is a directory"))
        }
        Ok(Some(_)) if want_dir => (false, format!("Not a directory: {path}")),
        Ok(Some(_)) => (false, format!("Not a regular file: {path}")),
        Ok(None) => (false, format!("{what} not found: {path}")),
        Err(e) => (
            false,
            format!("Cannot check {path}: {}", host_error_text(&e)),
        ),
    };
    Finding { ok, message }
}

const NO_HANDLES: &str =
    "the binary deployment mode has no handles: the host supervises its process itself";

impl Plugin for Binary {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "binary".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Runs a native binary under the host's supervisor".into(),
        }
    }
}

impl Deployment for Binary {
    fn validate(settings: Settings) -> Vec<Problem> {
        Config::read(&settings).err().unwrap_or_default()
    }

    fn needs(settings: Settings) -> Vec<Capability> {
        let Ok(config) = Config::read(&settings) else {
            return Vec::new();
        };
        let mut needs = vec![Capability::Path(config.binary_path)];
        needs.extend(config.working_dir.map(Capability::Path));
        needs
    }

    fn preflight(service: ServiceInfo, settings: Settings) -> Vec<Finding> {
        let config = match Config::read(&settings) {
            Ok(config) => config,
            Err(problems) => {
                return problems
                    .iter()
                    .map(|p| Finding {
                        ok: false,
                        message: problems_text(std::slice::from_ref(p)),
                    })
                    .collect();
            }
        };
        let mut findings = vec![stat_finding(
            &resolve(&service, &config.binary_path),
            false,
            "Binary",
        )];
        if let Some(dir) = &config.working_dir {
            findings.push(stat_finding(
                &resolve(&service, dir),
                true,
                "Working directory",
            ));
        }
        findings
    }

    fn start(service: ServiceInfo, settings: Settings) -> Result<Started, String> {
        let config = Config::read(&settings).map_err(|problems| problems_text(&problems))?;
        Ok(Started::Launch(LaunchSpec {
            program: resolve(&service, &config.binary_path),
            args: config.args,
            env: config.env,
            working_dir: config.working_dir.map(|dir| resolve(&service, &dir)),
            stop_signal: config.stop_signal,
            stop_command: config.stop_command,
        }))
    }

    fn status(_: ServiceInfo, _: Settings, _handle: String) -> Result<WorkloadStatus, String> {
        Err(NO_HANDLES.to_string())
    }

    fn stop(_: ServiceInfo, _: Settings, _handle: String, _grace_ms: u32) -> Result<(), String> {
        Err(NO_HANDLES.to_string())
    }

    fn recover(_: ServiceInfo, _: Settings, _handle: String) -> Result<Option<String>, String> {
        Err(NO_HANDLES.to_string())
    }
}
