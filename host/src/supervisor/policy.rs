//! Restart decisions: the policy (always / on-failure / never), success exit codes, exponential
//! backoff between repeated crashes, and `max_restarts` within a window. Pure, so that every rule
//! is unit-tested without processes.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{RestartPolicy, Startup};
use crate::state::ExitInfo;

/// A run at least this long is "stable": the next crash restarts at once, with no backoff.
pub const STABLE_RUN: Duration = Duration::from_secs(5);
/// Backoff after the second quick crash in a row; doubles each time.
pub const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Backoff never exceeds this.
pub const BACKOFF_CAP: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start again after this delay.
    Restart(Duration),
    /// The policy does not restart after this exit; `failed` when the exit was a failure.
    Exited { failed: bool },
    /// Too many restarts within the window: give up, with the reason.
    GiveUp(String),
}

/// The restart history of one service.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    success_codes: Vec<i32>,
    max_restarts: u32,
    window: Duration,
    restarts: VecDeque<Instant>,
    quick_crashes: u32,
}

impl RestartTracker {
    pub fn new(startup: &Startup) -> Self {
        Self {
            policy: startup.restart,
            success_codes: startup.success_exit_codes.clone(),
            max_restarts: startup.max_restarts,
            window: startup.restart_window,
            restarts: VecDeque::new(),
            quick_crashes: 0,
        }
    }

    /// Whether this exit counts as success.
    pub fn is_success(&self, exit: &ExitInfo) -> bool {
        matches!(exit, ExitInfo::Code(c) if self.success_codes.contains(c))
    }

    /// What to do after the process exited by itself at `now`, having run for `ran`.
    pub fn on_exit(&mut self, exit: &ExitInfo, ran: Duration, now: Instant) -> Decision {
        let failed = !self.is_success(exit);
        self.decide(failed, &exit.to_string(), ran, now)
    }

    /// What to do after the service turned unhealthy and was stopped: a failure, whatever
    /// its process answered to the stop signal.
    pub fn on_unhealthy(&mut self, ran: Duration, now: Instant) -> Decision {
        self.decide(true, "unhealthy", ran, now)
    }

    fn decide(&mut self, failed: bool, what: &str, ran: Duration, now: Instant) -> Decision {
        let restart = match self.policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => failed,
            RestartPolicy::Never => false,
        };
        if !restart {
            return Decision::Exited { failed };
        }
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() as u32 >= self.max_restarts {
            return Decision::GiveUp(format!(
                "{what}; gave up after {} restart{} within {}s",
                self.restarts.len(),
                if self.restarts.len() == 1 { "" } else { "s" },
                self.window.as_secs_f64()
            ));
        }
        if ran >= STABLE_RUN {
            self.quick_crashes = 0;
        }
        let delay = match self.quick_crashes {
            0 => Duration::ZERO,
            n => BACKOFF_BASE
                .saturating_mul(1 << (n - 1).min(16))
                .min(BACKOFF_CAP),
        };
        self.quick_crashes += 1;
        self.restarts.push_back(now);
        Decision::Restart(delay)
    }

    /// Forget the history (the user cleared `failed`, or started the service by hand).
    pub fn reset(&mut self) {
        self.restarts.clear();
        self.quick_crashes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(policy: RestartPolicy, max: u32) -> RestartTracker {
        RestartTracker::new(&Startup {
            restart: policy,
            max_restarts: max,
            ..Startup::default()
        })
    }

    const QUICK: Duration = Duration::from_millis(10);

    #[test]
    fn policies() {
        let t0 = Instant::now();
        let fail = ExitInfo::Code(1);
        let ok = ExitInfo::Code(0);
        assert_eq!(
            tracker(RestartPolicy::Never, 3).on_exit(&fail, QUICK, t0),
            Decision::Exited { failed: true }
        );
        assert_eq!(
            tracker(RestartPolicy::Never, 3).on_exit(&ok, QUICK, t0),
            Decision::Exited { failed: false }
        );
        assert_eq!(
            tracker(RestartPolicy::OnFailure, 3).on_exit(&ok, QUICK, t0),
            Decision::Exited { failed: false }
        );
        assert_eq!(
            tracker(RestartPolicy::OnFailure, 3).on_exit(&fail, QUICK, t0),
            Decision::Restart(Duration::ZERO)
        );
        assert_eq!(
            tracker(RestartPolicy::Always, 3).on_exit(&ok, QUICK, t0),
            Decision::Restart(Duration::ZERO)
        );
        let sig = ExitInfo::Signal("SIGKILL".into());
        assert_eq!(
            tracker(RestartPolicy::OnFailure, 3).on_exit(&sig, QUICK, t0),
            Decision::Restart(Duration::ZERO)
        );
    }

    #[test]
    fn custom_success_codes() {
        let mut t = RestartTracker::new(&Startup {
            success_exit_codes: vec![0, 3],
            ..Startup::default()
        });
        assert_eq!(
            t.on_exit(&ExitInfo::Code(3), QUICK, Instant::now()),
            Decision::Exited { failed: false }
        );
    }

    #[test]
    fn quick_crashes_back_off_exponentially_and_give_up_at_the_limit() {
        let mut t = tracker(RestartPolicy::Always, 5);
        let t0 = Instant::now();
        let fail = ExitInfo::Code(1);
        let delays: Vec<Decision> = (0..5)
            .map(|i| t.on_exit(&fail, QUICK, t0 + Duration::from_secs(i)))
            .collect();
        assert_eq!(
            delays,
            [0, 100, 200, 400, 800].map(|ms| Decision::Restart(Duration::from_millis(ms)))
        );
        match t.on_exit(&fail, QUICK, t0 + Duration::from_secs(6)) {
            Decision::GiveUp(reason) => {
                assert_eq!(reason, "exit code 1; gave up after 5 restarts within 60s")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stable_run_resets_the_backoff_and_the_window_forgets_old_restarts() {
        let mut t = tracker(RestartPolicy::Always, 2);
        let t0 = Instant::now();
        let fail = ExitInfo::Code(1);
        assert_eq!(
            t.on_exit(&fail, QUICK, t0),
            Decision::Restart(Duration::ZERO)
        );
        assert_eq!(
            t.on_exit(&fail, QUICK, t0),
            Decision::Restart(Duration::from_millis(100))
        );
        // Two restarts in the window: the limit.
        assert!(matches!(t.on_exit(&fail, QUICK, t0), Decision::GiveUp(_)));
        // Later, outside the window, after a stable run: immediate restart again.
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            t.on_exit(&fail, STABLE_RUN, later),
            Decision::Restart(Duration::ZERO)
        );
    }

    #[test]
    fn backoff_is_capped() {
        let mut t = tracker(RestartPolicy::Always, 1000);
        let t0 = Instant::now();
        let mut last = Decision::Restart(Duration::ZERO);
        for _ in 0..30 {
            last = t.on_exit(&ExitInfo::Code(1), QUICK, t0);
        }
        assert_eq!(last, Decision::Restart(BACKOFF_CAP));
    }
}
