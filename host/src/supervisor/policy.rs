//! Restart decisions: the policy (always / on-failure / never), success exit codes, exponential
//! backoff between repeated crashes, and `max_restarts` within a window. Pure, so that every rule
//! is unit-tested without processes.
//!
//! The backoff's timing is the service's own (`[startup]` `restart_delay`, `max_restart_delay`,
//! `stable_run`): a crash after a stable run restarts at once; each further crash without a
//! stable run in between waits `restart_delay`, then twice as long each time, up to
//! `max_restart_delay`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{RestartPolicy, Startup};
use crate::state::ExitInfo;

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
    /// The first wait of the backoff; doubles with each further quick crash.
    delay: Duration,
    /// The backoff never waits longer than this.
    max_delay: Duration,
    /// A run at least this long is stable: the next crash restarts at once, with no backoff.
    stable_run: Duration,
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
            delay: startup.restart_delay,
            max_delay: startup.max_restart_delay,
            stable_run: startup.stable_run,
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
        if ran >= self.stable_run {
            self.quick_crashes = 0;
        }
        let delay = match self.quick_crashes {
            0 => Duration::ZERO,
            n => self
                .delay
                .saturating_mul(2u32.saturating_pow(n - 1))
                .min(self.max_delay),
        };
        self.quick_crashes += 1;
        self.restarts.push_back(now);
        Decision::Restart(delay)
    }

    /// Which start in a row without a stable run the next (or current) one is: 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.quick_crashes + 1
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
            t.on_exit(&fail, Startup::default().stable_run, later),
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
        assert_eq!(
            last,
            Decision::Restart(Startup::default().max_restart_delay)
        );
    }

    #[test]
    fn the_default_timing_is_what_it_always_was() {
        let d = Startup::default();
        assert_eq!(
            (d.restart_delay, d.max_restart_delay, d.stable_run),
            (
                Duration::from_millis(100),
                Duration::from_secs(10),
                Duration::from_secs(5)
            )
        );
        // Quick crashes: 0, then 100 ms doubling up to 10 s.
        let mut t = tracker(RestartPolicy::Always, 1000);
        let t0 = Instant::now();
        let delays: Vec<Decision> = (0..10)
            .map(|_| t.on_exit(&ExitInfo::Code(1), QUICK, t0))
            .collect();
        assert_eq!(
            delays,
            [0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]
                .map(|ms| Decision::Restart(Duration::from_millis(ms)))
        );
    }

    fn timed(restart_delay: f64, max_restart_delay: f64, stable_run: f64) -> RestartTracker {
        RestartTracker::new(&Startup {
            restart: RestartPolicy::Always,
            max_restarts: 1000,
            restart_delay: Duration::from_secs_f64(restart_delay),
            max_restart_delay: Duration::from_secs_f64(max_restart_delay),
            stable_run: Duration::from_secs_f64(stable_run),
            ..Startup::default()
        })
    }

    #[test]
    fn custom_delays_start_double_and_stop_where_configured() {
        let mut t = timed(0.25, 1.5, 5.0);
        let t0 = Instant::now();
        let delays: Vec<Decision> = (0..6)
            .map(|_| t.on_exit(&ExitInfo::Code(1), QUICK, t0))
            .collect();
        assert_eq!(
            delays,
            [0, 250, 500, 1000, 1500, 1500].map(|ms| Decision::Restart(Duration::from_millis(ms)))
        );
        // No wait at all when the delay is zero.
        let mut t = timed(0.0, 0.0, 5.0);
        for _ in 0..5 {
            assert_eq!(
                t.on_exit(&ExitInfo::Code(1), QUICK, t0),
                Decision::Restart(Duration::ZERO)
            );
        }
    }

    #[test]
    fn a_large_maximum_is_reached_however_small_the_first_delay() {
        let mut t = timed(0.001, 3600.0, 5.0);
        let t0 = Instant::now();
        let mut last = Decision::Restart(Duration::ZERO);
        for _ in 0..40 {
            last = t.on_exit(&ExitInfo::Code(1), QUICK, t0);
        }
        assert_eq!(last, Decision::Restart(Duration::from_secs(3600)));
    }

    #[test]
    fn a_service_killed_every_two_seconds_restarts_at_once_when_one_second_is_stable() {
        let every = Duration::from_secs(2);
        let t0 = Instant::now();
        let mut t = timed(0.1, 10.0, 1.0);
        for i in 0..20 {
            assert_eq!(
                t.on_exit(&ExitInfo::Signal("SIGKILL".into()), every, t0 + every * i),
                Decision::Restart(Duration::ZERO),
                "kill {i}"
            );
        }
        // With the default stable run (5 s) the same kills back off, up to 10 s.
        let mut t = tracker(RestartPolicy::Always, 1000);
        let mut last = Decision::Restart(Duration::ZERO);
        for i in 0..20 {
            last = t.on_exit(&ExitInfo::Signal("SIGKILL".into()), every, t0 + every * i);
        }
        assert_eq!(last, Decision::Restart(Duration::from_secs(10)));
    }
}
