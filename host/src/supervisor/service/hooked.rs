//! A service's hooks as its task runs them: blocking phases inline (the task waits for their
//! verdict, within the phase's deadline), notifications on a task of their own so that the
//! state machine never waits for them, delivered to the hooks in order and at most once. Every
//! run is a line in the service's log and a `hook` event; a refusal is kept in the record and
//! shown by `services status`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_api::{HookCause, HookOutcome, HookPhase, HookRun};
use tokio::sync::{broadcast, mpsc};

use super::Machine;
use crate::config::Service;
use crate::state::now_ms;
use crate::supervisor::Event;
use crate::supervisor::hooks::{Gate, HookEvent, Hooks};
use crate::supervisor::logs::ServiceLog;

/// A service's hooks: the platform's and its own, with what they subscribe to.
#[derive(Clone)]
pub(in crate::supervisor) struct ServiceHooks {
    pub hooks: Hooks,
    /// Where notifications go (`None` when no entry wants any).
    notifier: Option<mpsc::UnboundedSender<HookEvent>>,
    /// Whether an entry wants `on-check` (every check answer): asked once, it is on the path
    /// of every check.
    wants_checks: bool,
}

impl ServiceHooks {
    /// The hooks of `service`, with the task that delivers its notifications.
    pub fn new(
        hooks: Hooks,
        service: &Arc<Service>,
        log: &ServiceLog,
        events: &broadcast::Sender<Event>,
    ) -> Self {
        let notifies = HookPhase::ALL
            .iter()
            .any(|p| !p.blocks() && hooks.any(service, *p));
        let notifier = notifies.then(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(deliver(
                hooks.clone(),
                service.clone(),
                log.clone(),
                events.clone(),
                rx,
            ));
            tx
        });
        Self {
            wants_checks: hooks.any(service, HookPhase::OnCheck),
            hooks,
            notifier,
        }
    }
}

/// Delivers a service's notifications one after the other, in the order they happened.
async fn deliver(
    hooks: Hooks,
    service: Arc<Service>,
    log: ServiceLog,
    events: broadcast::Sender<Event>,
    mut rx: mpsc::UnboundedReceiver<HookEvent>,
) {
    while let Some(event) = rx.recv().await {
        let runs = hooks.notify(&service, &event).await;
        report(&log, &events, &service.name, &runs);
    }
}

/// Writes each run into the service's log (`[hook NAME] before-start: veto "…" in 3 ms`) and
/// onto the event stream.
pub(in crate::supervisor) fn report(
    log: &ServiceLog,
    events: &broadcast::Sender<Event>,
    service: &str,
    runs: &[HookRun],
) {
    for run in runs {
        let why = run
            .reason
            .as_deref()
            .map(|r| format!(" {r:?}"))
            .unwrap_or_default();
        log.hook_note(
            &run.hook,
            format!(
                "{}: {}{why} in {} ms",
                run.phase, run.outcome, run.duration_ms
            ),
        );
        let _ = events.send(Event::Hook {
            service: service.to_string(),
            run: run.clone(),
        });
    }
}

impl Machine {
    /// An event in this service's life, as hooks are told it.
    pub(super) fn hook_event(
        &self,
        phase: HookPhase,
        cause: HookCause,
        reason: impl Into<String>,
    ) -> HookEvent {
        let health = self.health.as_ref();
        // `after-stop` is about the process that ended; every phase may learn how long the
        // current or last one ran.
        let last = self.last_run.filter(|_| self.running.is_none());
        HookEvent {
            phase,
            cause,
            time_ms: now_ms(),
            pid: match &self.running {
                Some(r) => Some(r.id.pid),
                None if phase == HookPhase::AfterStop => last.map(|(pid, _)| pid),
                None => None,
            },
            attempt: self.tracker.attempt(),
            restarts: self.record.restarts,
            last_exit: self.record.last_exit.clone(),
            uptime_ms: match &self.running {
                Some(r) => Some(r.since.elapsed().as_millis() as u64),
                None => last.map(|(_, ran)| ran.as_millis() as u64),
            },
            health_message: health
                .and_then(|h| h.last.as_ref())
                .map(|r| r.message.clone()),
            consecutive_failures: health.map_or(0, |h| h.failures),
            reason: reason.into(),
        }
    }

    /// Runs a blocking phase until `deadline`; a refusal is remembered in the record.
    pub(super) async fn gate(
        &mut self,
        phase: HookPhase,
        cause: HookCause,
        reason: impl Into<String>,
        deadline: Instant,
    ) -> Gate {
        let hooks = self.t.hooks.hooks.clone();
        if !hooks.any(&self.t.service, phase) {
            return Gate::Proceed { env: Vec::new() };
        }
        let event = self.hook_event(phase, cause, reason);
        let (gate, runs) = hooks.gate(&self.t.service, &event, deadline).await;
        report(&self.t.log, &self.t.events, self.name(), &runs);
        if matches!(gate, Gate::Refused { .. }) {
            self.record.last_hook = runs.last().cloned();
        }
        gate
    }

    /// Hands a notification to the service's notifier (nothing when no hook wants it).
    pub(super) fn notify(&self, phase: HookPhase, cause: HookCause, reason: impl Into<String>) {
        let Some(tx) = &self.t.hooks.notifier else {
            return;
        };
        if phase == HookPhase::OnCheck && !self.t.hooks.wants_checks {
            return;
        }
        if phase != HookPhase::OnCheck && !self.t.hooks.hooks.any(&self.t.service, phase) {
            return;
        }
        let _ = tx.send(self.hook_event(phase, cause, reason));
    }

    /// The deadline of a phase that a start's time limit bounds.
    pub(super) fn start_deadline(&self) -> Instant {
        Instant::now() + self.t.service.startup.start_timeout
    }

    /// The grace time of a stop: the service's `stop_timeout`, less what its hooks took.
    pub(super) fn stop_deadline(&self) -> Instant {
        Instant::now() + self.t.service.startup.stop_timeout
    }
}

/// How a refusal reads in messages: "vetoed by hook `gate`: maintenance window".
pub(in crate::supervisor) fn refusal_text(
    outcome: HookOutcome,
    hook: &str,
    reason: &str,
) -> String {
    let what = match outcome {
        HookOutcome::Veto => "vetoed",
        HookOutcome::Skip => "skipped",
        HookOutcome::Suppress => "suppressed",
        HookOutcome::Failed => "refused (the hook failed)",
        _ => "refused",
    };
    format!("{what} by hook `{hook}`: {reason}")
}

/// What is left of a stop's grace time once its hooks ran, never less than a moment for the
/// stop signal to act.
pub(super) fn grace_left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(100))
}
