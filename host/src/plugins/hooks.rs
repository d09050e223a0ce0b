//! The supervisor's hooks through their plugins: each entry's settings and subscription (its
//! `phases`, else what its plugin asks for, asked once when the daemon starts), the event as
//! the plugin host takes it (with the endpoints of the service's check), and the view of the
//! services that hooks granted `services` read.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use keel_api::{HookCause, HookPhase};
use keel_plugin_host as ph;
use keel_plugin_host::{Capability, PluginHost, ServiceInfo, Settings};

use super::{service_info, settings};
use crate::config::{Config, HookEntry, Service};
use crate::state::ExitInfo;
use crate::supervisor::ServicesWatch;
use crate::supervisor::hooks::{Decision, HookEvent, HookRunner, Verdict};

/// The hook runner of one config.
pub struct HookPlugins {
    host: PluginHost,
    /// By entry (its key path): its plugin's settings and the phases it runs in.
    entries: HashMap<String, Entry>,
    /// By service: what it is told about itself, and the endpoints of its check.
    services: HashMap<String, (ServiceInfo, Vec<String>)>,
}

struct Entry {
    settings: Settings,
    phases: BTreeSet<HookPhase>,
}

impl HookPlugins {
    /// Reads every hook entry of `config`. An entry without `phases` runs in the phases its
    /// plugin answers for its settings; a plugin that cannot answer (not loaded, failing) is
    /// subscribed to nothing, which its start's pre-flight and `services validate` report.
    pub async fn new(host: PluginHost, config: &Config) -> Self {
        let mut entries = HashMap::new();
        let all = config
            .hooks
            .iter()
            .chain(config.services.iter().flat_map(|s| &s.hooks));
        for entry in all {
            let settings = settings(&entry.settings);
            let phases = match &entry.phases {
                Some(listed) => listed.iter().copied().collect(),
                None => match host.hook_phases(&entry.plugin, &settings).await {
                    Ok(asked) => asked.into_iter().map(from_plugin_phase).collect(),
                    Err(e) => {
                        tracing::warn!("hook {} ({}): {e}", entry.plugin, entry.key_path);
                        BTreeSet::new()
                    }
                },
            };
            entries.insert(entry.key_path.clone(), Entry { settings, phases });
        }
        let mut services = HashMap::new();
        if !entries.is_empty() {
            for s in &config.services {
                let info = service_info(config, s);
                let endpoints = match s.health_check.as_ref().filter(|c| c.by_plugin()) {
                    Some(check) => host
                        .authorize(&check.check_type, &settings(&check.settings), &info)
                        .await
                        .map(|needs| {
                            needs
                                .into_iter()
                                .filter_map(|n| match n {
                                    Capability::Network(target) => Some(target),
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    None => Vec::new(),
                };
                services.insert(s.name.clone(), (info, endpoints));
            }
        }
        Self {
            host,
            entries,
            services,
        }
    }
}

impl HookRunner for HookPlugins {
    fn wants(&self, entry: &HookEntry, phase: HookPhase) -> bool {
        self.entries
            .get(&entry.key_path)
            .is_some_and(|e| e.phases.contains(&phase))
    }

    fn run<'a>(
        &'a self,
        service: &'a Service,
        entry: &'a HookEntry,
        event: &'a HookEvent,
        limit: Duration,
    ) -> BoxFuture<'a, Result<Decision, String>> {
        async move {
            let Some(hook) = self.entries.get(&entry.key_path) else {
                return Err(format!("no hook entry {}", entry.key_path));
            };
            let Some((info, endpoints)) = self.services.get(&service.name) else {
                return Err(format!(
                    "service `{}` is not in the daemon's config",
                    service.name
                ));
            };
            let event = to_plugin_event(event, endpoints.clone());
            let reply = self
                .host
                .run_hook(&entry.plugin, info, &event, &hook.settings, limit)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Decision {
                verdict: match reply.value.verdict {
                    ph::Verdict::Proceed => Verdict::Proceed,
                    ph::Verdict::Veto(r) => Verdict::Veto(r),
                    ph::Verdict::Skip(r) => Verdict::Skip(r),
                    ph::Verdict::Delay(d) => Verdict::Delay(d),
                    ph::Verdict::Suppress(r) => Verdict::Suppress(r),
                },
                env: reply.value.env,
            })
        }
        .boxed()
    }

    fn watch_services(&self, services: ServicesWatch) {
        self.host.set_services_view(Arc::new(View(services)));
    }
}

/// The supervisor's snapshots as the `services` interface shows them.
struct View(ServicesWatch);

impl ph::ServicesView for View {
    fn status(&self, name: &str) -> Option<ph::ServiceState> {
        self.0.get(name).map(state)
    }

    fn all(&self) -> Vec<ph::ServiceState> {
        self.0.all().into_iter().map(state).collect()
    }
}

fn state(s: keel_api::Snapshot) -> ph::ServiceState {
    ph::ServiceState {
        status: s.status.as_str().to_string(),
        pid: s.pid,
        health: s.health.map(|h| h.state.as_str().to_string()),
        started_at_ms: s.started_at_ms,
        restarts: s.restarts,
        name: s.name,
    }
}

fn to_plugin_event(e: &HookEvent, endpoints: Vec<String>) -> ph::HookEvent {
    ph::HookEvent {
        phase: to_plugin_phase(e.phase),
        cause: match e.cause {
            HookCause::Operator => ph::HookCause::Operator,
            HookCause::Dependency => ph::HookCause::Dependency,
            HookCause::AutoStart => ph::HookCause::AutoStart,
            HookCause::RestartPolicy => ph::HookCause::RestartPolicy,
            HookCause::Health => ph::HookCause::Health,
            HookCause::Shutdown => ph::HookCause::Shutdown,
            HookCause::Timeout => ph::HookCause::Timeout,
            HookCause::Recovery => ph::HookCause::Recovery,
        },
        time_ms: e.time_ms,
        pid: e.pid,
        handle: None,
        attempt: e.attempt,
        restarts: e.restarts,
        last_exit: e.last_exit.as_ref().map(|x| match x {
            ExitInfo::Code(c) => ph::ExitStatus::Code(*c),
            ExitInfo::Signal(s) => ph::ExitStatus::Signal(s.clone()),
            ExitInfo::Unknown => ph::ExitStatus::Unknown,
        }),
        uptime_ms: e.uptime_ms,
        health_message: e.health_message.clone(),
        consecutive_failures: e.consecutive_failures,
        endpoints,
        reason: e.reason.clone(),
    }
}

/// The two crates name the same nine phases; the plugin host's are the WIT's.
pub(super) fn to_plugin_phase(p: HookPhase) -> ph::HookPhase {
    match p {
        HookPhase::BeforeStart => ph::HookPhase::BeforeStart,
        HookPhase::AfterStart => ph::HookPhase::AfterStart,
        HookPhase::OnHealthy => ph::HookPhase::OnHealthy,
        HookPhase::OnCheck => ph::HookPhase::OnCheck,
        HookPhase::BeforeStop => ph::HookPhase::BeforeStop,
        HookPhase::AfterStop => ph::HookPhase::AfterStop,
        HookPhase::BeforeRestart => ph::HookPhase::BeforeRestart,
        HookPhase::OnUnhealthy => ph::HookPhase::OnUnhealthy,
        HookPhase::OnFailed => ph::HookPhase::OnFailed,
    }
}

fn from_plugin_phase(p: ph::HookPhase) -> HookPhase {
    match p {
        ph::HookPhase::BeforeStart => HookPhase::BeforeStart,
        ph::HookPhase::AfterStart => HookPhase::AfterStart,
        ph::HookPhase::OnHealthy => HookPhase::OnHealthy,
        ph::HookPhase::OnCheck => HookPhase::OnCheck,
        ph::HookPhase::BeforeStop => HookPhase::BeforeStop,
        ph::HookPhase::AfterStop => HookPhase::AfterStop,
        ph::HookPhase::BeforeRestart => HookPhase::BeforeRestart,
        ph::HookPhase::OnUnhealthy => HookPhase::OnUnhealthy,
        ph::HookPhase::OnFailed => HookPhase::OnFailed,
    }
}
