//! The boundary between Keel and its plugins: turns config tables into plugin settings, the
//! operator's `[plugins]` section into grants, plugin problems back into file locations, and
//! deployment plugins' answers into what the supervisor runs. Nothing else in the `keel` crate
//! talks to `keel_plugin_host`.
//!
//! `supervised` holds what the supervisor calls (deployment and health checks, `Plugins`),
//! `hooks` the hook runner (entries' subscriptions, events, the services view).

mod hooks;
mod install;
mod kit;
mod problems;
pub mod scaffold;
mod supervised;

pub use install::{Installed, Removed, install, remove};
pub use kit::{Answer, Call, KitError, Loaded, Places, add_grant, call, load, settings_from_json};

pub use problems::{problems, problems_in};
pub use supervised::Plugins;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use keel_plugin_host::{
    Allowlist, Bundled, Facilities, Grant, HostConfig, PluginHost, Scalar, ServiceInfo, Settings,
    Value as PValue,
};

use crate::config::{Config, Diagnostic, GrantSettings, Node, PluginTable, Service, Value};
use crate::state::StateDir;
use crate::supervisor::Plugged;

pub use keel_plugin_host::{
    CALL_DURATION_BUCKETS, CacheStatus, CallOutcome, CheckOutcome, PluginDescription, PluginError,
    PluginKind, PluginSource, PluginStats, PluginSummary, WASMTIME_VERSION, WIT_VERSION,
};

/// What the host's calls have come to, read at each scrape of the daemon's metrics.
pub fn stats_source(host: &PluginHost) -> crate::metrics::StatsSource {
    let host = host.clone();
    Arc::new(move || host.stats())
}

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
    let hooks = config.hooks.iter().map(|h| h.plugin.clone());
    config
        .services
        .iter()
        .flat_map(|s| {
            std::iter::once(s.deployment.mode.clone())
                .chain(
                    s.health_check
                        .as_ref()
                        .filter(|h| h.by_plugin())
                        .map(|h| h.check_type.clone()),
                )
                .chain(s.hooks.iter().map(|h| h.plugin.clone()))
        })
        .chain(hooks)
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
            // A bundled plugin keeps "what its settings need" unless the entry names
            // capabilities: an entry that only sets limits or host facilities adds to it.
            let as_needed = keel_plugin_host::is_bundled(name) && !g.lists_capabilities();
            (name.clone(), grant(g, as_needed))
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
        data_dir: Some(state.plugin_data()),
    })
    .await?;
    for e in host.load_errors() {
        tracing::warn!("plugin not loaded: {e}");
    }
    Ok(host)
}

/// A grant entry as the plugin host's grant: exactly the capabilities it lists or, with
/// `as_needed`, whatever the plugin's settings need; its limits and facilities either way.
fn grant(g: &GrantSettings, as_needed: bool) -> Grant {
    let mut grant = if as_needed {
        Grant::as_needed()
    } else {
        Grant::explicit(Allowlist {
            network: g.network.clone(),
            commands: g.commands.clone(),
            paths: g.paths.clone(),
            unix_sockets: g.unix_sockets.clone(),
            env: g.env.clone(),
        })
    };
    grant.memory_mb = g.memory_mb.map(u64::from);
    grant.timeout = g.timeout_ms.map(Duration::from_millis);
    grant.facilities = Facilities {
        store: g.store,
        services: g.services,
        write_paths: g.write_paths.clone(),
    };
    grant
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

/// What the supervisor of `config` calls, through the plugins of `host`: deployment, checks,
/// and hooks (whose subscriptions are asked of their plugins now, once).
pub async fn plugged(host: PluginHost, config: Arc<Config>) -> Plugged {
    let plugins = Arc::new(Plugins::new(host.clone(), config.clone()));
    let hooks = Arc::new(hooks::HookPlugins::new(host, &config).await);
    Plugged {
        deployer: plugins.clone(),
        checker: plugins,
        hooks,
    }
}
