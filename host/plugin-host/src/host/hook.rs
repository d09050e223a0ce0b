//! Hook calls: validating a hook's settings, the phases it subscribes to, and running it for
//! one event. A hook built for 0.1.0's `hook` interface is adapted: it is subscribed to the
//! phases that interface has, is told the event's reason as its `detail`, and an error it
//! returns in a blocking phase is its veto.

use std::time::Duration;

use super::PluginHost;
use super::calls::reported;
use crate::convert::{decision_from_wit, event_to_wit, legacy_event, phase_from_wit};
use crate::error::PluginError;
use crate::lifecycle::{Decision, HookEvent, HookPhase, Verdict};
use crate::plugin::HookPreOf;
use crate::types::{PluginKind, Problem, Reply, ServiceInfo, Settings};

impl PluginHost {
    /// Validates the settings of a hook; an empty list means valid.
    pub async fn validate_hook(
        &self,
        name: &str,
        settings: &Settings,
    ) -> Result<Vec<Problem>, PluginError> {
        let plugin = self.of_kind(name, PluginKind::Hook)?;
        match plugin.hook()? {
            HookPreOf::Lifecycle(linked) => self.validate(&plugin, linked, settings).await,
            HookPreOf::Legacy(linked) => self.validate(&plugin, linked, settings).await,
        }
    }

    /// The phases a hook wants for these settings (a 0.1.0 hook: every phase it knows).
    pub async fn hook_phases(
        &self,
        name: &str,
        settings: &Settings,
    ) -> Result<Vec<HookPhase>, PluginError> {
        let plugin = self.of_kind(name, PluginKind::Hook)?;
        let HookPreOf::Lifecycle(linked) = plugin.hook()? else {
            return Ok(HookPhase::LEGACY.to_vec());
        };
        let setup = self.pure(&plugin, "phases");
        let wit_settings = settings.to_wit();
        let done = self
            .run(&plugin, linked, setup, async |store, instance| {
                let phases = instance
                    .keel_plugin_lifecycle()
                    .call_phases(store, &wit_settings)
                    .await?;
                Ok(phases.into_iter().map(phase_from_wit).collect::<Vec<_>>())
            })
            .await?;
        Ok(done.value)
    }

    /// Runs a hook for one event, within `timeout` (and the plugin's grant's). An error the
    /// hook itself reports is [`PluginError::Failed`]; what it means is the caller's rule.
    pub async fn run_hook(
        &self,
        name: &str,
        service: &ServiceInfo,
        event: &HookEvent,
        settings: &Settings,
        timeout: Duration,
    ) -> Result<Reply<Decision>, PluginError> {
        let plugin = self.of_kind(name, PluginKind::Hook)?;
        let limit = timeout.min(plugin.call_timeout());
        let setup = self
            .prepare(&plugin, "run", service, settings, limit)
            .await?;
        let (wit_service, wit_settings) = (service.to_wit(), settings.to_wit());
        match plugin.hook()? {
            HookPreOf::Lifecycle(linked) => {
                let wit_event = event_to_wit(event);
                let done = self
                    .run(&plugin, linked, setup, async |store, instance| {
                        let answer = instance
                            .keel_plugin_lifecycle()
                            .call_run(store, &wit_service, &wit_event, &wit_settings)
                            .await?;
                        Ok(answer.map(decision_from_wit))
                    })
                    .await?;
                reported(&plugin, "run", done)
            }
            HookPreOf::Legacy(linked) => {
                let proceed = Decision {
                    verdict: Verdict::Proceed,
                    env: Vec::new(),
                };
                let Some(legacy) = legacy_event(event.phase) else {
                    return Ok(Reply {
                        value: proceed,
                        duration: Duration::ZERO,
                        logs: Vec::new(),
                        stderr: String::new(),
                    });
                };
                let blocks = matches!(
                    event.phase,
                    HookPhase::BeforeStart | HookPhase::BeforeStop | HookPhase::OnUnhealthy
                );
                let detail = event.reason.as_str();
                let done = self
                    .run(&plugin, linked, setup, async |store, instance| {
                        instance
                            .keel_plugin_hook()
                            .call_run(store, &wit_service, legacy, detail, &wit_settings)
                            .await
                    })
                    .await?;
                match done.value {
                    Err(reason) if blocks => Ok(Reply {
                        value: Decision {
                            verdict: Verdict::Veto(reason),
                            env: Vec::new(),
                        },
                        duration: done.duration,
                        logs: done.diagnostics.logs,
                        stderr: done.diagnostics.stderr,
                    }),
                    value => reported(
                        &plugin,
                        "run",
                        crate::call::Done {
                            value: value.map(|()| proceed),
                            duration: done.duration,
                            diagnostics: done.diagnostics,
                        },
                    ),
                }
            }
        }
    }
}
