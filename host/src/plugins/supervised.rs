//! What the supervisor asks of the deployment and check plugins: `Plugins` implements its
//! `Deployer` (a launch spec and the prerequisites from the mode's plugin) and
//! `health::Checker` (one check through the check type's plugin).

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use keel_plugin_host::{PluginHost, ServiceInfo, Settings, Started};

use super::{service_info, settings};
use crate::config::{Config, Service};
use crate::health::{CheckReport, Checker};
use crate::state::now_ms;
use crate::supervisor::{CheckKind, Deployer, LaunchSpec, PreflightCheck, process::parse_signal};

/// What the supervisor needs of plugins: deployment through the mode's plugin (`start`
/// answers with a launch spec that the supervisor spawns and watches, `preflight` with the
/// prerequisites) and health checks through the check type's plugin.
pub struct Plugins {
    host: PluginHost,
    config: Arc<Config>,
    /// Each service's plugin inputs, made once from the config (a check runs every second).
    inputs: HashMap<String, Inputs>,
}

/// What the plugins of one service are given.
struct Inputs {
    info: ServiceInfo,
    deployment: Settings,
    check: Option<Settings>,
    /// The problems of the plugin tables a start uses, located in the file: found at the
    /// first pre-flight (the tables do not change while this host serves them).
    problems: tokio::sync::OnceCell<Vec<String>>,
}

impl Plugins {
    pub fn new(host: PluginHost, config: Arc<Config>) -> Self {
        let inputs = config
            .services
            .iter()
            .map(|s| {
                let inputs = Inputs {
                    info: service_info(&config, s),
                    deployment: settings(&s.deployment.settings),
                    check: s.health_check.as_ref().map(|hc| settings(&hc.settings)),
                    problems: tokio::sync::OnceCell::new(),
                };
                (s.name.clone(), inputs)
            })
            .collect();
        Self {
            host,
            config,
            inputs,
        }
    }

    fn inputs(&self, service: &Service) -> Result<&Inputs, String> {
        self.inputs
            .get(&service.name)
            .ok_or_else(|| format!("service `{}` is not in the daemon's config", service.name))
    }
}

impl Checker for Plugins {
    fn check<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Option<CheckReport>> {
        async move {
            let hc = service.health_check.as_ref()?;
            let began = std::time::Instant::now();
            let outcome = match self.inputs(service) {
                Ok(Inputs {
                    info,
                    check: Some(settings),
                    ..
                }) => self
                    .host
                    .check(&hc.check_type, info, settings, hc.timeout)
                    .await
                    .map_err(|e| e.to_string()),
                Ok(_) => Err("the service has no check settings".to_string()),
                Err(e) => Err(e),
            };
            Some(match outcome {
                Ok(o) => CheckReport {
                    healthy: o.healthy,
                    message: o.message,
                    duration_ms: o.duration.as_millis() as u64,
                    at_ms: now_ms(),
                },
                Err(e) => CheckReport {
                    healthy: false,
                    message: format!("{} check: {e}", hc.check_type),
                    duration_ms: began.elapsed().as_millis() as u64,
                    at_ms: now_ms(),
                },
            })
        }
        .boxed()
    }
}

/// The environment a launched process gets on top of the daemon's: the service's env files,
/// under what its deployment plugin set from the service's settings. Added here, to the launch
/// spec every mode answers with, so it holds for every mode that launches a process and no
/// plugin needs to know about env files.
fn with_env_files(
    files: &[(String, String)],
    spec: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = files
        .iter()
        .filter(|(k, _)| !spec.iter().any(|(s, _)| s == k))
        .cloned()
        .collect();
    env.extend(spec);
    env
}

impl Deployer for Plugins {
    fn launch<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Result<LaunchSpec, String>> {
        async move {
            let mode = &service.deployment.mode;
            let inputs = self.inputs(service)?;
            let reply = self
                .host
                .start(mode, &inputs.info, &inputs.deployment)
                .await
                .map_err(|e| format!("deployment plugin `{mode}`: {e}"))?;
            match reply.value {
                Started::Launch(spec) => {
                    let stop_signal = match &spec.stop_signal {
                        None => nix::sys::signal::Signal::SIGTERM,
                        Some(s) => parse_signal(s)
                            .ok_or_else(|| format!("deployment plugin `{mode}` named an unknown stop signal {s:?}"))?,
                    };
                    Ok(LaunchSpec {
                        program: spec.program,
                        args: spec.args,
                        env: with_env_files(&service.env_from_files, spec.env),
                        working_dir: spec.working_dir.map(Into::into),
                        stop_signal,
                        stop_command: spec.stop_command,
                    })
                }
                Started::Handle(_) => Err(format!(
                    "deployment plugin `{mode}` runs the workload itself; this version of Keel supervises only processes it launches"
                )),
            }
        }
        .boxed()
    }

    fn prerequisites<'a>(&'a self, service: &'a Service) -> BoxFuture<'a, Vec<PreflightCheck>> {
        async move {
            // A typo in a plugin table or a grant missing for it refuses the start here, at
            // its line, instead of failing it a `start_timeout` later.
            if let Ok(inputs) = self.inputs(service) {
                let problems = inputs
                    .problems
                    .get_or_init(|| async {
                        super::problems::service_problems(&self.host, &self.config, service)
                            .await
                            .iter()
                            .map(|d| d.to_string())
                            .collect()
                    })
                    .await;
                if !problems.is_empty() {
                    return problems
                        .iter()
                        .map(|p| PreflightCheck {
                            kind: CheckKind::Prerequisites,
                            ok: false,
                            message: p.clone(),
                        })
                        .collect();
                }
            }
            let mode = &service.deployment.mode;
            let found = match self.inputs(service) {
                Ok(inputs) => self
                    .host
                    .preflight(mode, &inputs.info, &inputs.deployment)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match found {
                Ok(reply) => reply
                    .value
                    .into_iter()
                    .map(|f| PreflightCheck {
                        kind: CheckKind::Prerequisites,
                        ok: f.ok,
                        message: f.message,
                    })
                    .collect(),
                Err(e) => vec![PreflightCheck {
                    kind: CheckKind::Prerequisites,
                    ok: false,
                    message: format!("deployment plugin `{mode}`: {e}"),
                }],
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::with_env_files;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn settings_win_over_env_files() {
        let files = pairs(&[("A", "file"), ("B", "file"), ("C", "file")]);
        let spec = pairs(&[("B", "settings"), ("D", "settings")]);
        assert_eq!(
            with_env_files(&files, spec),
            pairs(&[
                ("A", "file"),
                ("C", "file"),
                ("B", "settings"),
                ("D", "settings")
            ])
        );
    }
}
