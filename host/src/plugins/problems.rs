//! What the plugins find wrong in a config, each problem located in the file: for
//! `keel services validate`, for a reload (the file checked whole before anything changes),
//! and for a start's pre-flight (the tables that start uses).

use keel_plugin_host::{PluginError, PluginHost, ServiceInfo};

use super::{host, locate_problem, service_info, settings};
use crate::config::{Config, Diagnostic, HookEntry, Service};
use crate::state::StateDir;

/// Every problem the plugins find in a config, located in the file: each deployment's
/// settings (and, when they are valid, its pre-flight), each check's settings, each hook's,
/// and whether a grant covers what a plugin needs.
pub async fn problems(config: &Config, state: &StateDir) -> anyhow::Result<Vec<Diagnostic>> {
    let host = host(config, state).await?;
    Ok(problems_in(&host, config, true).await)
}

/// The problems of `config` that `host` (made for it) finds; with `preflight`, also the
/// deployments' pre-flight findings (not for a reload: a running service's own container or
/// port would count against it).
pub async fn problems_in(host: &PluginHost, config: &Config, preflight: bool) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for s in &config.services {
        out.extend(tables(host, config, s, preflight).await);
    }
    let services: Vec<&Service> = config.services.iter().collect();
    out.extend(hook_problems(config, host, &services).await);
    out
}

/// The problems of the plugin tables a start of `service` uses: its deployment's, its check's,
/// its own hooks' and the platform's hooks' (the pre-flight of a start, so that a typo or a
/// missing grant refuses the start at its line instead of failing it a `start_timeout` later).
pub async fn service_problems(
    host: &PluginHost,
    config: &Config,
    service: &Service,
) -> Vec<Diagnostic> {
    let mut out = tables(host, config, service, false).await;
    out.extend(hook_problems(config, host, &[service]).await);
    out
}

/// A service's deployment and check tables: their plugins' validation, the check's grant and,
/// with `preflight`, the deployment's pre-flight.
async fn tables(
    host: &PluginHost,
    config: &Config,
    s: &Service,
    preflight: bool,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
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
        Ok(_) if !preflight => {}
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
    // A notify check's table is the host's, read with the config.
    if let Some(check) = s.health_check.as_ref().filter(|c| c.by_plugin()) {
        let settings = super::settings(&check.settings);
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
    out
}

/// The problems of the platform's hook entries and those of `services`: each plugin's
/// complaints about its settings, and a grant that does not cover what it needs. A
/// platform-wide entry belongs to no service.
async fn hook_problems(
    config: &Config,
    host: &PluginHost,
    services: &[&Service],
) -> Vec<Diagnostic> {
    // Collected first: an iterator of closures held across the awaits below would make this
    // future not `Send` for every lifetime (what a spawned reload needs).
    let mut entries: Vec<(Option<&Service>, &HookEntry)> =
        config.hooks.iter().map(|h| (None, h)).collect();
    for s in services {
        entries.extend(s.hooks.iter().map(|h| (Some(*s), h)));
    }
    let mut out = Vec::new();
    for (service, entry) in entries {
        let settings = settings(&entry.settings);
        let name = service.map_or("", |s| s.name.as_str());
        let at = |key: &str, message: &str| Diagnostic {
            service: service.map(|s| s.name.clone()),
            ..locate_problem(config, name, &entry.settings, key, message)
        };
        match host.validate_hook(&entry.plugin, &settings).await {
            Err(e) => out.push(at("", &e.to_string())),
            Ok(problems) => out.extend(problems.iter().map(|p| at(&p.key, &p.message))),
        }
        let info = ServiceInfo {
            name: name.to_string(),
            config_dir: config.dir(),
        };
        if let Err(e @ PluginError::Denied { .. }) =
            host.authorize(&entry.plugin, &settings, &info).await
        {
            out.push(at("", &e.to_string()));
        }
    }
    out
}
