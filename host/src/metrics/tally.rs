//! The counters metrics derive from the supervisor's event stream: restarts by cause, exits
//! by result, check answers and their durations, the time from a start to its first healthy
//! check, and hook runs. Each service's state machine announces every change as a snapshot;
//! this module compares each snapshot with the one before, so no counter has to be threaded
//! through the state machine. Pure: fed events, unit-tested with the sequences a service's
//! task announces.

use std::collections::{BTreeMap, HashMap};

use keel_api::{Event, ExitInfo, HealthState, Snapshot, Status};

/// Why the restart policy started a service again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartCause {
    /// Its process exited (a crash, or any exit under `restart = "always"`).
    Exit,
    /// It turned unhealthy.
    Health,
    /// Its process had ended while no daemon ran.
    Recovery,
}

impl RestartCause {
    pub const ALL: [RestartCause; 3] = [
        RestartCause::Exit,
        RestartCause::Health,
        RestartCause::Recovery,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RestartCause::Exit => "exit",
            RestartCause::Health => "health",
            RestartCause::Recovery => "recovery",
        }
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitResult {
    /// An exit code among the service's `success_exit_codes`.
    Success,
    /// Another exit code.
    Failure,
    /// Killed by a signal (a stop by SIGTERM included).
    Signal,
    /// A re-adopted process, whose status went to its own parent.
    Unknown,
}

impl ExitResult {
    pub const ALL: [ExitResult; 4] = [
        ExitResult::Success,
        ExitResult::Failure,
        ExitResult::Signal,
        ExitResult::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExitResult::Success => "success",
            ExitResult::Failure => "failure",
            ExitResult::Signal => "signal",
            ExitResult::Unknown => "unknown",
        }
    }

    fn of(exit: &ExitInfo, success_codes: &[i32]) -> Self {
        match exit {
            ExitInfo::Code(c) if success_codes.contains(c) => ExitResult::Success,
            ExitInfo::Code(_) => ExitResult::Failure,
            ExitInfo::Signal(_) => ExitResult::Signal,
            ExitInfo::Unknown => ExitResult::Unknown,
        }
    }
}

/// Upper bounds (seconds) of the check-duration histogram's buckets: a decade each, few of
/// them, since a platform has a histogram per service. Checks report whole milliseconds, so a
/// local check usually lands in the first.
pub const CHECK_BUCKETS: [f64; 5] = [0.001, 0.01, 0.1, 1.0, 10.0];

/// What the event stream has shown of one service since the daemon started.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// By [`RestartCause::ALL`]'s order.
    pub restarts: [u64; 3],
    /// By [`ExitResult::ALL`]'s order.
    pub exits: [u64; 4],
    /// Check answers: healthy, unhealthy.
    pub checks: [u64; 2],
    /// Check answers by duration: the first bucket of [`CHECK_BUCKETS`] each fits in (not
    /// cumulative; longer ones are in none).
    pub check_buckets: [u64; 5],
    pub check_seconds: f64,
    /// Seconds from the start of the latest process that became healthy to its first healthy
    /// check.
    pub start_to_healthy: Option<f64>,
    /// Hook runs by (hook, phase, verdict).
    pub hooks: BTreeMap<(String, &'static str, &'static str), u64>,
}

/// One service's counts, and what comparing its next snapshot needs.
#[derive(Debug, Default)]
struct ServiceTally {
    counts: Counts,
    /// The service's last snapshot.
    seen: Option<Snapshot>,
    /// A process ended; its exit is counted once the snapshot that records it arrives.
    pending_exit: Option<Pending>,
    /// The current process's health turned unhealthy (so a restart now is for health).
    unhealthy: bool,
    /// The current process has been healthy once (its start-to-healthy time is taken).
    healthy_once: bool,
}

#[derive(Debug, Clone)]
struct Pending {
    last_exit: Option<ExitInfo>,
    restarts: u32,
}

/// Every service's tally.
#[derive(Debug, Default)]
pub struct Tally {
    services: HashMap<String, ServiceTally>,
    /// Success exit codes per service (default `[0]`).
    success_codes: HashMap<String, Vec<i32>>,
    /// Events this tally never saw because it fell behind the stream.
    pub lost: u64,
}

impl Tally {
    /// A tally that takes `snapshots` as what was before it, and each service's success exit
    /// codes from `success_codes`.
    pub fn new(
        snapshots: Vec<Snapshot>,
        success_codes: impl IntoIterator<Item = (String, Vec<i32>)>,
    ) -> Self {
        let mut t = Tally {
            success_codes: success_codes.into_iter().collect(),
            ..Tally::default()
        };
        t.resync(snapshots);
        t
    }

    pub fn get(&self, service: &str) -> Option<&Counts> {
        self.services.get(service).map(|t| &t.counts)
    }

    /// After a reload: the services now served, with their success exit codes; those that
    /// left are forgotten, those that came are taken as they are.
    pub fn reconfigure(
        &mut self,
        snapshots: Vec<Snapshot>,
        success_codes: impl IntoIterator<Item = (String, Vec<i32>)>,
    ) {
        self.success_codes = success_codes.into_iter().collect();
        self.services
            .retain(|name, _| snapshots.iter().any(|s| &s.name == name));
        let new: Vec<Snapshot> = snapshots
            .into_iter()
            .filter(|s| !self.services.contains_key(&s.name))
            .collect();
        self.resync(new);
    }

    /// After events were lost: takes the current snapshots as the new starting point
    /// (counters keep what they counted; an exit in the gap is not counted).
    pub fn resync(&mut self, snapshots: Vec<Snapshot>) {
        for snap in snapshots {
            let t = self.services.entry(snap.name.clone()).or_default();
            t.pending_exit = None;
            t.unhealthy = health_of(&snap) == Some(HealthState::Unhealthy);
            t.healthy_once = health_of(&snap) == Some(HealthState::Healthy);
            t.seen = Some(snap);
        }
    }

    /// Counts what one event shows.
    pub fn observe(&mut self, event: &Event) {
        match event {
            Event::Changed(snap) => self.changed(snap),
            Event::Health {
                service, report, ..
            } => {
                let t = self.services.entry(service.clone()).or_default();
                t.counts.checks[usize::from(!report.healthy)] += 1;
                let secs = report.duration_ms as f64 / 1000.0;
                t.counts.check_seconds += secs;
                if let Some(i) = CHECK_BUCKETS.iter().position(|b| secs <= *b) {
                    t.counts.check_buckets[i] += 1;
                }
            }
            Event::Hook { service, run } => {
                let t = self.services.entry(service.clone()).or_default();
                *t.counts
                    .hooks
                    .entry((run.hook.clone(), run.phase.as_str(), run.outcome.as_str()))
                    .or_default() += 1;
            }
            Event::Snapshot { services } => self.resync(services.clone()),
            Event::Lagged { missed } => self.lost += missed,
        }
    }

    fn changed(&mut self, snap: &Snapshot) {
        let codes = self.success_codes.get(&snap.name);
        let t = self.services.entry(snap.name.clone()).or_default();
        let Some(prev) = t.seen.replace(snap.clone()) else {
            return; // the first word of this service: nothing to compare with
        };
        // A process ended: its exit is in the first snapshot that settles what comes next
        // (one stopped for being unhealthy is announced before its exit is known).
        if prev.pid.is_some() && snap.pid != prev.pid && t.pending_exit.is_none() {
            t.pending_exit = Some(Pending {
                last_exit: prev.last_exit.clone(),
                restarts: prev.restarts,
            });
        }
        if let Some(p) = &t.pending_exit {
            let settled = matches!(
                snap.status,
                Status::Starting | Status::Running | Status::Stopped | Status::Failed
            ) || snap.restarts != p.restarts
                || snap.last_exit != p.last_exit;
            if settled {
                let result = match &snap.last_exit {
                    Some(exit) => ExitResult::of(exit, codes.map_or(&[0][..], |c| c.as_slice())),
                    None => ExitResult::Unknown,
                };
                t.counts.exits[result as usize] += 1;
                t.pending_exit = None;
            }
        }
        if snap.restarts > prev.restarts {
            let cause = if t.unhealthy {
                RestartCause::Health
            } else if prev.pid.is_some() {
                RestartCause::Exit
            } else {
                RestartCause::Recovery
            };
            t.counts.restarts[cause as usize] += u64::from(snap.restarts - prev.restarts);
        }
        if snap.pid.is_some() && snap.pid != prev.pid {
            // A new process: its health starts afresh.
            t.unhealthy = false;
            t.healthy_once = false;
        }
        match health_of(snap) {
            Some(HealthState::Unhealthy) => t.unhealthy = true,
            Some(HealthState::Healthy) if !t.healthy_once => {
                t.healthy_once = true;
                let at = snap.health.as_ref().and_then(|h| h.last.as_ref());
                if let (Some(report), Some(started)) = (at, snap.started_at_ms) {
                    let ms = report.at_ms.saturating_sub(started);
                    t.counts.start_to_healthy = Some(ms as f64 / 1000.0);
                }
            }
            _ => {}
        }
    }
}

fn health_of(snap: &Snapshot) -> Option<HealthState> {
    snap.pid?;
    snap.health.as_ref().map(|h| h.state)
}

#[cfg(test)]
mod tests {
    use keel_api::{CheckReport, Health, HookOutcome, HookPhase};

    use super::*;

    fn snap(status: Status, pid: Option<i32>, restarts: u32, exit: Option<ExitInfo>) -> Snapshot {
        Snapshot {
            status,
            pid,
            restarts,
            last_exit: exit,
            started_at_ms: pid.map(|_| 1_000),
            ..Snapshot::stopped("api")
        }
    }

    fn with_health(mut s: Snapshot, state: HealthState, at_ms: u64) -> Snapshot {
        s.health = Some(Health {
            state,
            failures: 0,
            last: Some(CheckReport {
                healthy: state == HealthState::Healthy,
                message: String::new(),
                duration_ms: 2,
                at_ms,
            }),
        });
        s
    }

    fn run(events: Vec<Snapshot>) -> Counts {
        let mut t = Tally::new(
            vec![Snapshot::stopped("api")],
            [("api".to_string(), vec![0, 3])],
        );
        for s in events {
            t.observe(&Event::Changed(s));
        }
        t.get("api").expect("tallied").clone()
    }

    use ExitInfo::{Code, Signal};
    use Status::*;

    #[test]
    fn a_crash_restarted_at_once_is_one_exit_and_one_restart_for_exit() {
        let t = run(vec![
            snap(Starting, None, 0, None),
            snap(Running, Some(10), 0, None),
            // Killed: the policy relaunches at once.
            snap(Starting, None, 1, Some(Signal("SIGKILL".into()))),
            snap(Running, Some(11), 1, Some(Signal("SIGKILL".into()))),
            // The same again: an equal last exit is still a new exit.
            snap(Restarting, None, 2, Some(Signal("SIGKILL".into()))),
            snap(Starting, None, 2, Some(Signal("SIGKILL".into()))),
            snap(Running, Some(12), 2, Some(Signal("SIGKILL".into()))),
        ]);
        assert_eq!(t.restarts, [2, 0, 0]);
        assert_eq!(t.exits, [0, 0, 2, 0]);
    }

    #[test]
    fn an_unhealthy_restart_counts_for_health_with_the_exit_known_later() {
        let running = snap(Running, Some(10), 0, Some(Code(1)));
        let t = run(vec![
            with_health(running.clone(), HealthState::Healthy, 3_500),
            with_health(running, HealthState::Unhealthy, 9_000),
            // Stopped to restart: announced before its exit is known.
            snap(Restarting, None, 0, Some(Code(1))),
            snap(Restarting, None, 1, Some(Signal("SIGTERM".into()))),
            snap(Starting, None, 1, Some(Signal("SIGTERM".into()))),
            snap(Running, Some(11), 1, Some(Signal("SIGTERM".into()))),
        ]);
        assert_eq!(t.restarts, [0, 1, 0]);
        assert_eq!(t.exits, [0, 0, 1, 0]);
        assert_eq!(t.start_to_healthy, Some(2.5));
    }

    #[test]
    fn exits_are_judged_by_the_success_codes_and_a_stop_restarts_nothing() {
        let t = run(vec![
            snap(Running, Some(10), 0, None),
            snap(Stopped, None, 0, Some(Code(3))),
            snap(Running, Some(11), 0, Some(Code(3))),
            snap(Failed, None, 0, Some(Code(1))),
            snap(Running, Some(12), 0, Some(Code(1))),
            snap(Stopping, None, 0, Some(Code(1))),
            snap(Stopped, None, 0, Some(Signal("SIGTERM".into()))),
        ]);
        assert_eq!(t.restarts, [0, 0, 0]);
        assert_eq!(t.exits, [1, 1, 1, 0]);
    }

    #[test]
    fn a_restart_of_a_process_that_died_while_no_daemon_ran_is_for_recovery() {
        let t = run(vec![
            snap(Starting, None, 1, Some(ExitInfo::Unknown)),
            snap(Running, Some(10), 1, Some(ExitInfo::Unknown)),
        ]);
        assert_eq!(t.restarts, [0, 0, 1]);
        assert_eq!(t.exits, [0; 4], "no process of this daemon ended");
    }

    #[test]
    fn checks_and_hooks_are_counted_from_their_events() {
        let mut t = Tally::new(vec![Snapshot::stopped("api")], []);
        for (healthy, ms) in [(true, 1), (true, 40), (false, 7_000)] {
            t.observe(&Event::Health {
                service: "api".into(),
                state: HealthState::Healthy,
                report: CheckReport {
                    healthy,
                    message: String::new(),
                    duration_ms: ms,
                    at_ms: 0,
                },
            });
        }
        t.observe(&Event::Hook {
            service: "api".into(),
            run: keel_api::HookRun {
                hook: "gate".into(),
                phase: HookPhase::BeforeStart,
                outcome: HookOutcome::Veto,
                reason: None,
                duration_ms: 1,
                at_ms: 0,
            },
        });
        t.observe(&Event::Lagged { missed: 5 });
        let s = t.get("api").expect("tallied");
        assert_eq!(s.checks, [2, 1]);
        assert_eq!(s.check_buckets, [1, 0, 1, 0, 1]);
        assert!((s.check_seconds - 7.041).abs() < 1e-9);
        assert_eq!(s.hooks[&("gate".into(), "before-start", "veto")], 1);
        assert_eq!(t.lost, 5);
    }
}
