//! Lifecycle hooks as the supervisor runs them: which entries a phase calls and in what order
//! (the platform's `[[hooks]]`, then the service's own, in file order), within what time, and
//! what their answers come to. The calls go through [`HookRunner`], the boundary to the hook
//! plugins; [`judge`], the rule for one answer, is pure.
//!
//! A blocking phase (`before-start`, `before-stop`, `before-restart`, `on-unhealthy`) stops at
//! the first refusal. A `delay` asks the same hook again later, within the phase's deadline.
//! A failed run (trap, time limit, error, denied capability, an answer the phase does not
//! take) counts as a veto when its entry says `on_error = "fail"` and as proceed with
//! `"ignore"`. Notifications run every subscribed entry and only report.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use keel_api::{HookCause, HookOutcome, HookPhase, HookRun};

use crate::config::{HookEntry, OnError, Service};
use crate::state::{ExitInfo, now_ms};

/// What a hook is told about one event in a service's life (the host fills in what only it
/// knows, such as the check's endpoints).
#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    pub phase: HookPhase,
    pub cause: HookCause,
    pub time_ms: u64,
    pub pid: Option<i32>,
    pub attempt: u32,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    pub uptime_ms: Option<u64>,
    pub health_message: Option<String>,
    pub consecutive_failures: u32,
    /// The daemon's reason, in words.
    pub reason: String,
}

/// A hook's answer to a blocking phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    Veto(String),
    Skip(String),
    Delay(Duration),
    Suppress(String),
}

/// A verdict with, for `before-start`, variables for the launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub env: Vec<(String, String)>,
}

/// Runs hook plugins: the boundary to them.
pub trait HookRunner: Send + Sync {
    /// Whether `entry` runs in `phase`: the phases it lists, else those its plugin asks for.
    fn wants(&self, entry: &HookEntry, phase: HookPhase) -> bool;

    /// One run of `entry` for `event` about `service`, within `limit`. `Err` is the hook's own
    /// failure, in words.
    fn run<'a>(
        &'a self,
        service: &'a Service,
        entry: &'a HookEntry,
        event: &'a HookEvent,
        limit: Duration,
    ) -> BoxFuture<'a, Result<Decision, String>>;

    /// Gives the runner the services' snapshots, for hooks granted a view of them (called once
    /// the supervisor exists).
    fn watch_services(&self, _services: super::ServicesWatch) {}
}

/// What a blocking phase came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Go on, with these variables for the launch (`before-start`).
    Proceed { env: Vec<(String, String)> },
    /// Refused by `hook`: a veto, skip, suppress, or a failure that counts as a veto.
    Refused {
        outcome: HookOutcome,
        hook: String,
        reason: String,
    },
}

/// The hooks of a platform, with the runner that calls them.
#[derive(Clone)]
pub struct Hooks {
    runner: Arc<dyn HookRunner>,
    platform: Arc<Vec<HookEntry>>,
}

/// A little beyond a run's limit for the runner's own bookkeeping, before the supervisor
/// stops waiting for it.
const RUN_MARGIN: Duration = Duration::from_millis(500);

impl Hooks {
    pub fn new(runner: Arc<dyn HookRunner>, platform: Vec<HookEntry>) -> Self {
        Self {
            runner,
            platform: Arc::new(platform),
        }
    }

    /// The entries that run in `phase` for `service`, in order.
    pub fn entries<'a>(&'a self, service: &'a Service, phase: HookPhase) -> Vec<&'a HookEntry> {
        self.platform
            .iter()
            .chain(&service.hooks)
            .filter(|e| self.runner.wants(e, phase))
            .collect()
    }

    /// Whether any entry runs in `phase` for `service`.
    pub fn any(&self, service: &Service, phase: HookPhase) -> bool {
        !self.entries(service, phase).is_empty()
    }

    /// Runs a blocking phase until `deadline`: each subscribed entry in order, the first
    /// refusal ending it. Returns the verdict and a record of every run.
    pub async fn gate(
        &self,
        service: &Service,
        event: &HookEvent,
        deadline: Instant,
    ) -> (Gate, Vec<HookRun>) {
        let mut runs = Vec::new();
        let mut env = Vec::new();
        for entry in self.entries(service, event.phase) {
            loop {
                let began = Instant::now();
                let answer = self.run_once(service, entry, event, deadline).await;
                let step = judge(event.phase, answer, entry.on_error);
                let step = match step {
                    Step::Again(wait) if Instant::now() + wait >= deadline => judge(
                        event.phase,
                        Err(format!(
                            "asked to wait {} ms, past the phase's time limit",
                            wait.as_millis()
                        )),
                        entry.on_error,
                    ),
                    other => other,
                };
                let (outcome, reason) = step.outcome();
                runs.push(run_record(entry, event.phase, outcome, reason, began));
                match step {
                    Step::Next(vars) => {
                        env.extend(vars);
                        break;
                    }
                    Step::Ignored(_) => break,
                    Step::Again(wait) => tokio::time::sleep(wait).await,
                    Step::Stop(outcome, reason) => {
                        let gate = Gate::Refused {
                            outcome,
                            hook: entry.plugin.clone(),
                            reason,
                        };
                        return (gate, runs);
                    }
                }
            }
        }
        (Gate::Proceed { env }, runs)
    }

    /// Runs a notification: every subscribed entry, in order, once each.
    pub async fn notify(&self, service: &Service, event: &HookEvent) -> Vec<HookRun> {
        let mut runs = Vec::new();
        for entry in self.entries(service, event.phase) {
            let began = Instant::now();
            let deadline = began + entry.timeout;
            let answer = self.run_once(service, entry, event, deadline).await;
            let (outcome, reason) = judge(event.phase, answer, entry.on_error).outcome();
            runs.push(run_record(entry, event.phase, outcome, reason, began));
        }
        runs
    }

    /// One run, within the entry's timeout and what is left before `deadline`.
    async fn run_once(
        &self,
        service: &Service,
        entry: &HookEntry,
        event: &HookEvent,
        deadline: Instant,
    ) -> Result<Decision, String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("the phase's time limit ran out before it ran".into());
        }
        let limit = entry.timeout.min(left);
        let run = self.runner.run(service, entry, event, limit);
        match tokio::time::timeout(limit + RUN_MARGIN, run).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
        }
    }
}

fn run_record(
    entry: &HookEntry,
    phase: HookPhase,
    outcome: HookOutcome,
    reason: Option<String>,
    began: Instant,
) -> HookRun {
    HookRun {
        hook: entry.plugin.clone(),
        phase,
        outcome,
        reason,
        duration_ms: began.elapsed().as_millis() as u64,
        at_ms: now_ms(),
    }
}

/// What one answer means for the phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Go on to the next entry (with these launch variables).
    Next(Vec<(String, String)>),
    /// Ask the same entry again after this long.
    Again(Duration),
    /// The phase ends here, refused.
    Stop(HookOutcome, String),
    /// The run failed and its entry ignores failures.
    Ignored(String),
}

impl Step {
    /// The outcome and reason a run with this step is recorded with.
    fn outcome(&self) -> (HookOutcome, Option<String>) {
        match self {
            Step::Next(_) => (HookOutcome::Proceed, None),
            Step::Again(wait) => (
                HookOutcome::Delay,
                Some(format!("asked to wait {} ms", wait.as_millis())),
            ),
            Step::Stop(outcome, reason) => (*outcome, Some(reason.clone())),
            Step::Ignored(reason) => (HookOutcome::Ignored, Some(reason.clone())),
        }
    }
}

/// The rule for one answer of a hook in `phase`.
pub fn judge(phase: HookPhase, answer: Result<Decision, String>, on_error: OnError) -> Step {
    let failed = |why: String| match on_error {
        OnError::Fail => Step::Stop(HookOutcome::Failed, why),
        OnError::Ignore => Step::Ignored(why),
    };
    let decision = match answer {
        Ok(d) => d,
        Err(why) => return failed(why),
    };
    if !phase.blocks() {
        // A notification's verdict means nothing: it is told, not asked.
        return Step::Next(Vec::new());
    }
    if let Some((name, _)) = decision.env.iter().find(|(k, _)| !valid_env_name(k)) {
        return failed(format!("answered an invalid variable name {name:?}"));
    }
    use HookPhase::*;
    match (decision.verdict, phase) {
        (Verdict::Proceed, BeforeStart) => Step::Next(decision.env),
        (Verdict::Proceed, _) => Step::Next(Vec::new()),
        (Verdict::Delay(wait), _) => Step::Again(wait),
        (Verdict::Veto(r), OnUnhealthy) | (Verdict::Suppress(r), OnUnhealthy) => {
            Step::Stop(HookOutcome::Suppress, r)
        }
        (Verdict::Veto(r), _) => Step::Stop(HookOutcome::Veto, r),
        (Verdict::Skip(r), BeforeStart | BeforeRestart) => Step::Stop(HookOutcome::Skip, r),
        (Verdict::Skip(_), other) => failed(format!("answered skip, which {other} does not take")),
        (Verdict::Suppress(_), other) => {
            failed(format!("answered suppress, which {other} does not take"))
        }
    }
}

fn valid_env_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['=', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use HookPhase::*;

    fn answer(verdict: Verdict) -> Result<Decision, String> {
        Ok(Decision {
            verdict,
            env: vec![("REGION".into(), "eu".into())],
        })
    }

    #[test]
    fn a_veto_refuses_a_blocking_phase_and_means_suppress_for_on_unhealthy() {
        for phase in [BeforeStart, BeforeStop, BeforeRestart] {
            assert_eq!(
                judge(phase, answer(Verdict::Veto("no".into())), OnError::Fail),
                Step::Stop(HookOutcome::Veto, "no".into())
            );
        }
        assert_eq!(
            judge(
                OnUnhealthy,
                answer(Verdict::Veto("busy".into())),
                OnError::Fail
            ),
            Step::Stop(HookOutcome::Suppress, "busy".into())
        );
        assert_eq!(
            judge(
                OnUnhealthy,
                answer(Verdict::Suppress("busy".into())),
                OnError::Ignore
            ),
            Step::Stop(HookOutcome::Suppress, "busy".into())
        );
    }

    #[test]
    fn only_before_start_passes_variables_on() {
        assert_eq!(
            judge(BeforeStart, answer(Verdict::Proceed), OnError::Fail),
            Step::Next(vec![("REGION".into(), "eu".into())])
        );
        assert_eq!(
            judge(BeforeRestart, answer(Verdict::Proceed), OnError::Fail),
            Step::Next(Vec::new())
        );
        let bad = Ok(Decision {
            verdict: Verdict::Proceed,
            env: vec![("A=B".into(), "x".into())],
        });
        assert!(matches!(
            judge(BeforeStart, bad, OnError::Fail),
            Step::Stop(HookOutcome::Failed, _)
        ));
    }

    #[test]
    fn skip_and_suppress_only_where_the_phase_takes_them() {
        assert_eq!(
            judge(
                BeforeRestart,
                answer(Verdict::Skip("maint".into())),
                OnError::Fail
            ),
            Step::Stop(HookOutcome::Skip, "maint".into())
        );
        assert_eq!(
            judge(BeforeStop, answer(Verdict::Skip("x".into())), OnError::Fail),
            Step::Stop(
                HookOutcome::Failed,
                "answered skip, which before-stop does not take".into()
            )
        );
        assert_eq!(
            judge(
                BeforeStart,
                answer(Verdict::Suppress("x".into())),
                OnError::Ignore
            ),
            Step::Ignored("answered suppress, which before-start does not take".into())
        );
    }

    #[test]
    fn failures_follow_on_error_and_notifications_ignore_verdicts() {
        assert_eq!(
            judge(BeforeStart, Err("trap".into()), OnError::Fail),
            Step::Stop(HookOutcome::Failed, "trap".into())
        );
        assert_eq!(
            judge(BeforeStart, Err("trap".into()), OnError::Ignore),
            Step::Ignored("trap".into())
        );
        assert_eq!(
            judge(
                AfterStart,
                answer(Verdict::Veto("no".into())),
                OnError::Fail
            ),
            Step::Next(Vec::new())
        );
        assert_eq!(
            judge(OnFailed, Err("refused".into()), OnError::Fail),
            Step::Stop(HookOutcome::Failed, "refused".into())
        );
        assert_eq!(
            judge(
                BeforeStop,
                answer(Verdict::Delay(Duration::from_millis(20))),
                OnError::Fail
            ),
            Step::Again(Duration::from_millis(20))
        );
    }
}
