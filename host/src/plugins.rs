//! The boundary between Keel and its plugins: turns config tables into plugin settings, the
//! operator's `[plugins]` section into grants, plugin problems back into file locations, and
//! deployment plugins' answers into what the supervisor runs. Nothing else in the `keel` crate
//! talks to `keel_plugin_host`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use keel_plugin_host::{
    Allowlist, Bundled, Grant, HostConfig, PluginHost, Scalar, ServiceInfo, Settings, Started,
    Value as PValue,
};

use crate::config::{Config, Diagnostic, Node, PluginTable, Service, Value};
use crate::health::{CheckReport, Checker};
use crate::state::StateDir;
use crate::state::now_ms;
use crate::supervisor::{CheckKind, Deployer, LaunchSpec, PreflightCheck, process::parse_signal};

pub use keel_plugin_host::{
    CheckOutcome, PluginDescription, PluginError, PluginKind, PluginSource, PluginSummary,
};

/// The plugin host for a config: the bundled plugins its services name (as deployment modes
/// and check types), the third-party directory (`[plugins] dir`, else `<state>/plugins`),
/// compiled code cached under the state directory, the config's grants.
pub async fn host(config: &Config, state: &StateDir) -> anyhow::Result<PluginHost> {
    host_of(config, state, Bundled::Only(named_plugins(config))).await
}

/// The same with every bundled plugin, for listing and inspecting them.
pub async fn host_with_all(config: &Config, state: &StateDir) -> anyhow::Result<PluginHost> {
    host_of(config, state, Bundled::All).await
}

/// The plugins a config's services name: their deployment modes and check types.
fn named_plugins(config: &Config) -> BTreeSet<String> {
    config
        .services
        .iter()
        .flat_map(|s| {
            std::iter::once(s.deployment.mode.clone())
                .chain(s.health_check.as_ref().map(|h| h.check_type.clone()))
        })
        .collect()
}

/// Every plugin name a user may write or ask about for a config, without loading any: the
/// bundled plugins and the modes and check types the config names (third-party ones included).
pub fn known_names(config: &Config) -> BTreeSet<String> {
    let mut names = named_plugins(config);
    names.extend(keel_plugin_host::bundled_names().map(str::to_string));
    names
}

async fn host_of(
    config: &Config,
    state: &StateDir,
    bundled: Bundled,
) -> anyhow::Result<PluginHost> {
    let grants = config
        .plugins
        .grants
        .iter()
        .map(|(name, g)| {
            let mut grant = Grant::explicit(Allowlist {
                network: g.network.clone(),
                commands: g.commands.clone(),
                paths: g.paths.clone(),
                unix_sockets: g.unix_sockets.clone(),
                env: g.env.clone(),
            });
            grant.memory_mb = g.memory_mb.map(u64::from);
            grant.timeout = g.timeout_ms.map(Duration::from_millis);
            (name.clone(), grant)
        })
        .collect::<HashMap<_, _>>();
    let host = PluginHost::new(HostConfig {
        cache_dir: Some(state.plugin_cache()),
        plugin_dir: Some(
            config
                .plugins
                .dir
                .clone()
                .unwrap_or_else(|| state.plugins_dir()),
        ),
        grants,
        bundled,
    })
    .await?;
    for e in host.load_errors() {
        tracing::warn!("plugin not loaded: {e}");
    }
    Ok(host)
}

/// What a plugin is told about the service a call is for.
pub fn service_info(config: &Config, service: &Service) -> ServiceInfo {
    ServiceInfo {
        name: service.name.clone(),
        config_dir: config.dir(),
    }
}

/// A plugin table as plugin settings: scalars, arrays of scalars and one-level tables as they
/// are; deeper tables flattened into dotted keys.
pub fn settings(table: &PluginTable) -> Settings {
    let mut out = Settings::new();
    if let Value::Table(t) = &table.node.value {
        for e in &t.entries {
            flatten(&e.key, &e.node, &mut out);
        }
    }
    out
}

fn flatten(key: &str, node: &Node, out: &mut Settings) {
    match &node.value {
        Value::Table(t) if t.entries.iter().all(|e| scalar(&e.node).is_some()) => {
            let items = t
                .entries
                .iter()
                .map(|e| (e.key.clone(), scalar(&e.node).expect("checked")))
                .collect();
            out.push(key, PValue::Table(items));
        }
        Value::Table(t) => {
            for e in &t.entries {
                flatten(&format!("{key}.{}", e.key), &e.node, out);
            }
        }
        Value::Array(items) => {
            let scalars: Vec<Scalar> = items.iter().filter_map(scalar).collect();
            if scalars.len() == items.len() {
                out.push(key, PValue::Array(scalars));
            } else {
                for (i, item) in items.iter().enumerate() {
                    flatten(&format!("{key}.{i}"), item, out);
                }
            }
        }
        _ => {
            let s = scalar(node).expect("every other value is a scalar");
            out.push(
                key,
                match s {
                    Scalar::Text(t) => PValue::Text(t),
                    Scalar::Integer(i) => PValue::Integer(i),
                    Scalar::Float(f) => PValue::Float(f),
                    Scalar::Boolean(b) => PValue::Boolean(b),
                },
            );
        }
    }
}

fn scalar(node: &Node) -> Option<Scalar> {
    Some(match &node.value {
        Value::String(s) | Value::Datetime(s) => Scalar::Text(s.clone()),
        Value::Integer(i) => Scalar::Integer(*i),
        Value::Float(f) => Scalar::Float(*f),
        Value::Boolean(b) => Scalar::Boolean(*b),
        Value::Array(_) | Value::Table(_) => return None,
    })
}

/// A plugin's complaint about `key` of `table`, located in the config file.
pub fn locate_problem(
    config: &Config,
    service: &str,
    table: &PluginTable,
    key: &str,
    message: &str,
) -> Diagnostic {
    let top = key.split(['.', '[']).next().unwrap_or(key);
    let span = match &table.node.value {
        Value::Table(t) => t.get(top).map(|e| e.key_span.clone()),
        _ => None,
    }
    .unwrap_or_else(|| table.node.span.clone());
    Diagnostic {
        location: config.locate(&span),
        key: if key.is_empty() {
            table.key_path.clone()
        } else {
            format!("{}.{key}", table.key_path)
        },
        service: Some(service.to_string()),
        message: message.to_string(),
    }
}

/// Every problem the plugins find in a config, located in the file: each deployment's
/// settings (and, when they are valid, its pre-flight), each check's settings, and whether a
/// check's grant covers what it needs.
pub async fn problems(config: &Config, state: &StateDir) -> anyhow::Result<Vec<Diagnostic>> {
    let host = host(config, state).await?;
    let mut out = Vec::new();
    for s in &config.services {
        let info = service_info(config, s);
        let table = &s.deployment.settings;
        let settings = settings(table);
        let whole = |message: String| locate_problem(config, &s.name, table, "", &message);
        match host.validate_mode(&s.deployment.mode, &settings).await {
            Err(e) => out.push(whole(e.to_string())),
            Ok(problems) if !problems.is_empty() => out.extend(
                problems
                    .iter()
                    .map(|p| locate_problem(config, &s.name, table, &p.key, &p.message)),
            ),
            Ok(_) => match host.preflight(&s.deployment.mode, &info, &settings).await {
                Err(e) => out.push(whole(e.to_string())),
                Ok(reply) => out.extend(
                    reply
                        .value
                        .iter()
                        .filter(|f| !f.ok)
                        .map(|f| whole(f.message.clone())),
                ),
            },
        }
        if let Some(check) = &s.health_check {
            let settings = self::settings(&check.settings);
            let at = |key: &str, message: &str| {
                locate_problem(config, &s.name, &check.settings, key, message)
            };
            match host.validate_check(&check.check_type, &settings).await {
                Err(e) => out.push(at("", &e.to_string())),
                Ok(problems) => out.extend(problems.iter().map(|p| at(&p.key, &p.message))),
            }
            if let Err(e @ PluginError::Denied { .. }) =
                host.authorize(&check.check_type, &settings, &info).await
            {
                out.push(at("", &e.to_string()));
            }
        }
    }
    Ok(out)
}

/// Health checks run in this process, for a CLI without a daemon (so they work for services
/// running outside Keel too); the plugin host is made at the first check.
pub struct LocalChecks<'a> {
    config: &'a Config,
    state: StateDir,
    host: Option<PluginHost>,
}

impl<'a> LocalChecks<'a> {
    pub fn new(config: &'a Config, state: StateDir) -> Self {
        Self {
            config,
            state,
            host: None,
        }
    }

    /// Runs `service`'s check once; `Err` when no plugin host can be made, `Ok(Err)` when
    /// the check itself failed to run. `None` for a service without a check.
    pub async fn check(
        &mut self,
        service: &Service,
    ) -> anyhow::Result<Option<Result<CheckOutcome, PluginError>>> {
        let Some(check) = &service.health_check else {
            return Ok(None);
        };
        if self.host.is_none() {
            self.host = Some(host(self.config, &self.state).await?);
        }
        let host = self.host.as_ref().expect("just made");
        let outcome = host
            .check(
                &check.check_type,
                &service_info(self.config, service),
                &settings(&check.settings),
                check.timeout,
            )
            .await;
        Ok(Some(outcome))
    }
}

/// What the supervisor needs of plugins: deployment through the mode's plugin (`start`
/// answers with a launch spec that the supervisor spawns and watches, `preflight` with the
/// prerequisites) and health checks through the check type's plugin.
pub struct Plugins {
    host: PluginHost,
    /// Each service's plugin inputs, made once from the config (a check runs every second).
    inputs: HashMap<String, Inputs>,
}

/// What the plugins of one service are given.
struct Inputs {
    info: ServiceInfo,
    deployment: Settings,
    check: Option<Settings>,
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
                };
                (s.name.clone(), inputs)
            })
            .collect();
        Self { host, inputs }
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
