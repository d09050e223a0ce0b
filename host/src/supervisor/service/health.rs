//! What a service's task does with its health monitor's verdicts: the events and log lines of
//! a change of health, the hooks told about it, and the restart of an unhealthy service.

use std::time::Instant;

use keel_api::{HookCause, HookPhase};

use super::{Machine, Status, hooked};
use crate::config::RestartPolicy;
use crate::health::{Health, HealthState};
use crate::supervisor::Event;
use crate::supervisor::hooks::Gate;

impl Machine {
    /// The health monitor's verdict on process `pid`. A turn to unhealthy restarts the service
    /// (unless its policy is `never`), through the same backoff and limits as a crash.
    pub(super) async fn on_health(&mut self, pid: i32, health: Health) {
        if self.running.as_ref().map(|r| r.id.pid) != Some(pid) {
            return; // about a process that is gone
        }
        let before = self.health.as_ref().map(|h| h.state);
        let state = health.state;
        if let Some(report) = health
            .last
            .as_ref()
            .filter(|_| self.t.events.receiver_count() > 0)
        {
            let _ = self.t.events.send(Event::Health {
                service: self.name().to_string(),
                state,
                report: report.clone(),
            });
        }
        // The start period's answers (failures that do not count, polled every few ms) are not
        // told: `on-check` is for checks once the service's health is known.
        let answered = health.last.is_some() && state != HealthState::Starting;
        let message = health
            .last
            .as_ref()
            .map(|r| r.message.clone())
            .unwrap_or_default();
        self.health = Some(health);
        if before == Some(state) {
            if answered {
                self.notify(HookPhase::OnCheck, HookCause::Health, message);
            }
            // Same state, newer answer: readers see it, but nobody is woken for it (waiters
            // care about changes of state; the event above carries every answer).
            let health = self.health.clone();
            self.t.watch.send_if_modified(|s| {
                s.health = health;
                false
            });
            return;
        }
        self.t
            .log
            .note(format!("health: {} ({message})", state.as_str()));
        tracing::info!(
            service = self.name(),
            "health: {} ({message})",
            state.as_str()
        );
        if state == HealthState::Healthy && self.t.notify.is_some() {
            self.record.ready = true;
        }
        self.set(self.status).await;
        if state == HealthState::Healthy {
            self.notify(HookPhase::OnHealthy, HookCause::Health, message.clone());
        }
        // After the phase the answer brought about: a hook that keeps a registration alive on
        // passing checks must not see one before it was told the service is healthy.
        if answered {
            self.notify(HookPhase::OnCheck, HookCause::Health, message.clone());
        }
        if state == HealthState::Unhealthy {
            let gate = self
                .gate(
                    HookPhase::OnUnhealthy,
                    HookCause::Health,
                    format!("unhealthy ({message})"),
                    self.start_deadline(),
                )
                .await;
            if self.t.service.startup.restart == RestartPolicy::Never {
                return;
            }
            if let Gate::Refused {
                outcome,
                hook,
                reason,
            } = gate
            {
                let text = hooked::refusal_text(outcome, &hook, &reason);
                self.t
                    .log
                    .note(format!("unhealthy; kept running, not restarted: {text}"));
                return self.set(self.status).await;
            }
            let Some(mut running) = self.running.take() else {
                return;
            };
            let ran = running.since.elapsed();
            self.t
                .log
                .note("unhealthy: stopping it to restart".to_string());
            self.set(Status::Restarting).await;
            let grace = self.t.service.startup.stop_timeout;
            let exit = self.terminate(&mut running, false, grace).await;
            self.last_run = Some((running.id.pid, ran));
            self.health = None;
            self.record.last_exit = Some(exit.clone());
            self.notify(HookPhase::AfterStop, HookCause::Health, exit.to_string());
            let decision = self.tracker.on_unhealthy(ran, Instant::now());
            self.apply(
                decision,
                format!("unhealthy ({message})"),
                HookCause::Health,
            )
            .await;
        }
    }
}
