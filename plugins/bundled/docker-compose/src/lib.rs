//! The bundled `docker-compose` deployment mode: one service of a compose file, run in the
//! foreground under the host's own supervisor.
//!
//! ```toml
//! [services.orchestrator.deployment]
//! mode = "docker-compose"
//!
//! [services.orchestrator.deployment.docker_compose]
//! compose_file = "${HOME}/.provisioning/platform/docker-compose.yaml"  # or relative to this file
//! service_name = "orchestrator"
//! project_name = "provisioning"   # optional (compose's default: the file's directory name)
//! stop_timeout = 10               # optional, seconds for `stop -t`
//! ```
//!
//! Which compose: `docker compose` (the v2 plugin) when `docker compose version` works, else the
//! standalone `docker-compose` (v1). `start` answers with a launch spec for
//! `COMPOSE -f FILE [-p PROJECT] up --no-deps --no-color --no-log-prefix --exit-code-from SERVICE
//! SERVICE`: the supervisor runs it like any process, the service's output goes to its log, and
//! when the container ends `up` exits with the container's exit code, which Keel's restart policy
//! judges. `--no-deps` leaves ordering to Keel: give each compose service that Keel should manage
//! its own Keel service and write the order as Keel `dependencies`. The stop command is
//! `COMPOSE -f FILE [-p PROJECT] stop -t stop_timeout SERVICE` (the container is kept, as compose
//! does; the next start reuses or recreates it). After a daemon restart the `up` process is
//! re-adopted by PID like any process.
//!
//! Pre-flight: a compose tool is there, the engine answers, the file exists, and
//! `config --services` names the service.

use keel_plugin_sdk::deployment::{Finding, LaunchSpec, Started, resolve};
use keel_plugin_sdk::host::{self, HostError, PathInfo};
use keel_plugin_sdk::types::{Capability, ServiceInfo};
use keel_plugin_sdk::{Deployment, Settings};
use keel_plugin_sdk::{Reader, host_error_text, run};

const QUICK_MS: u32 = 4_000;
/// `docker-compose` (v1) is a Python program and takes a while to start.
const COMPOSE_MS: u32 = 8_000;

struct Config {
    compose_file: String,
    service_name: String,
    project_name: Option<String>,
    stop_timeout: i64,
}

fn valid_project(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
}

impl Settings for Config {
    fn read(r: &mut Reader) -> Config {
        let compose_file = r.required_string("compose_file").unwrap_or_default();
        let service_name = r.required_string("service_name").unwrap_or_default();
        let project_name = r.string("project_name");
        let stop_timeout = r.integer("stop_timeout", 0, 3600).unwrap_or(10);
        if service_name.contains(char::is_whitespace) || service_name.starts_with('-') {
            r.problem(
                "service_name",
                format!(
                    "expected the name of a service of the compose file, found {service_name:?}"
                ),
            );
        }
        if let Some(p) = &project_name
            && !valid_project(p)
        {
            r.problem(
                "project_name",
                format!(
                    "expected a compose project name (lower-case letters, digits, '-' and '_', \
                     starting with a letter or digit), found {p:?}"
                ),
            );
        }
        Config {
            compose_file,
            service_name,
            project_name,
            stop_timeout,
        }
    }

    fn needs(&self) -> Vec<Capability> {
        vec![
            Capability::Command("docker".into()),
            Capability::Command("docker-compose".into()),
            Capability::Path(self.compose_file.clone()),
        ]
    }
}

/// The compose tool found on this machine.
struct Tool {
    program: &'static str,
    /// Arguments before the compose options: `compose` for the v2 plugin.
    prefix: &'static [&'static str],
    version: String,
}

impl Tool {
    fn shown(&self) -> String {
        match self.prefix {
            [] => format!("{} {} (standalone)", self.program, self.version),
            _ => format!("docker compose {} (plugin)", self.version),
        }
    }
}

/// `docker compose` (v2) if it works, else `docker-compose` (v1).
fn probe() -> Result<Tool, String> {
    if let Ok(ran) = run("docker", &["compose", "version", "--short"], QUICK_MS)
        && ran.success()
    {
        return Ok(Tool {
            program: "docker",
            prefix: &["compose"],
            version: ran.stdout.trim().to_string(),
        });
    }
    match run("docker-compose", &["version", "--short"], COMPOSE_MS) {
        Ok(ran) if ran.success() => Ok(Tool {
            program: "docker-compose",
            prefix: &[],
            version: ran.stdout.trim().to_string(),
        }),
        Ok(ran) => Err(format!(
            "Docker Compose does not work: `docker-compose version` failed: {}",
            ran.first_line()
        )),
        Err(HostError::Failed(why)) if why.contains("No such file") => Err(
            "Docker Compose not found: neither `docker compose` (the v2 plugin) nor \
             `docker-compose` (standalone) is available on the Keel daemon's PATH"
                .to_string(),
        ),
        Err(e) => Err(format!(
            "Cannot run `docker-compose`: {}",
            host_error_text(&e)
        )),
    }
}

/// `[prefix…] -f FILE [-p PROJECT]`, the arguments every compose command starts with.
fn base_args(tool: &Tool, file: &str, config: &Config) -> Vec<String> {
    let mut args: Vec<String> = tool.prefix.iter().map(|s| s.to_string()).collect();
    args.extend(["--file".to_string(), file.to_string()]);
    if let Some(p) = &config.project_name {
        args.extend(["--project-name".to_string(), p.clone()]);
    }
    args
}

impl Deployment for Config {
    const NAME: &'static str = "docker-compose";
    const PROCESS: &'static str = "`up` process";
    const DESCRIPTION: &'static str =
        "Runs one Docker Compose service in the foreground under the host's supervisor";

    fn preflight(&self, service: &ServiceInfo) -> Vec<Finding> {
        let config = self;
        let mut findings = Vec::new();
        let mut found = |ok: bool, message: String| findings.push(Finding { ok, message });
        let file = resolve(&service, &config.compose_file);
        let file_ok = match host::stat_path(&file) {
            Ok(Some(PathInfo { is_file: true, .. })) => {
                found(true, format!("Compose file found: {file}"));
                true
            }
            Ok(Some(_)) => {
                found(false, format!("Compose file is not a file: {file}"));
                false
            }
            Ok(None) => {
                found(false, format!("Compose file not found: {file}"));
                false
            }
            Err(e) => {
                found(
                    false,
                    format!("Cannot check compose file {file}: {}", host_error_text(&e)),
                );
                false
            }
        };
        let tool = match probe() {
            Ok(tool) => {
                found(true, format!("Compose found: {}", tool.shown()));
                tool
            }
            Err(why) => {
                found(false, why);
                return findings;
            }
        };
        match run(
            "docker",
            &["version", "--format", "{{.Server.Version}}"],
            QUICK_MS,
        ) {
            Ok(ran) if ran.success() => found(
                true,
                format!("Docker engine answers: version {}", ran.stdout.trim()),
            ),
            Ok(ran) => found(
                false,
                format!(
                    "Docker engine is not running or not reachable: {}",
                    ran.first_line()
                ),
            ),
            // Standalone compose without the docker CLI: compose's own call below tells.
            Err(_) => {}
        }
        if !file_ok {
            return findings;
        }
        let mut args = base_args(&tool, &file, &config);
        args.extend(["config".to_string(), "--services".to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match run(tool.program, &args, COMPOSE_MS) {
            Ok(ran) if ran.success() => {
                let services: Vec<&str> = ran.stdout.split_whitespace().collect();
                if services.contains(&config.service_name.as_str()) {
                    found(
                        true,
                        format!("Compose service found: {} in {file}", config.service_name),
                    );
                } else {
                    found(
                        false,
                        format!(
                            "Compose file {file} has no service {:?}; it defines: {}",
                            config.service_name,
                            services.join(", ")
                        ),
                    );
                }
            }
            Ok(ran) => found(
                false,
                format!("Compose file {file} is not valid: {}", ran.first_line()),
            ),
            Err(e) => found(
                false,
                format!("Cannot read compose file {file}: {}", host_error_text(&e)),
            ),
        }
        findings
    }

    fn start(&self, service: &ServiceInfo) -> Result<Started, String> {
        let config = self;
        let tool = probe()?;
        let file = resolve(&service, &config.compose_file);
        let base = base_args(&tool, &file, &config);
        let mut args = base.clone();
        args.extend(
            [
                "up",
                "--no-deps",
                "--no-color",
                "--no-log-prefix",
                "--exit-code-from",
                &config.service_name,
                &config.service_name,
            ]
            .map(String::from),
        );
        let mut stop = vec![tool.program.to_string()];
        stop.extend(base);
        stop.extend([
            "stop".to_string(),
            "--timeout".to_string(),
            config.stop_timeout.to_string(),
            config.service_name.clone(),
        ]);
        Ok(Started::Launch(LaunchSpec {
            program: tool.program.to_string(),
            args,
            env: Vec::new(),
            working_dir: Some(service.config_dir.clone()),
            stop_signal: None,
            stop_command: Some(stop),
        }))
    }
}

keel_plugin_sdk::deployment!(Config);
